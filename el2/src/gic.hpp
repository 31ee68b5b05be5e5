// Waking idle CPUs: a CPU waiting for work halts in WFI and another CPU kicks it with a GICv2
// software-generated interrupt. QEMU runs WFE as a no-op, so waiting CPUs that spin would take
// host time from the ones that work; halted ones take none. Without a GICv2 (another GIC
// version), waiting falls back to spinning.
#pragma once

#include "platform.hpp"

namespace el2 {

// Boot CPU: detects and enables the distributor. Every CPU: enables its CPU interface.
void gic_init_distributor();
void gic_init_cpu();
bool gic_v2_present();
// Sleeps until `ready()` holds; returns at once if it already does.
template <class Ready>
void wait_until(Ready&& ready);
// Wakes `cpu` if it is sleeping in wait_until().
void kick(unsigned cpu);

void gic_sleep();  // WFI, then acknowledge whatever kick arrived

template <class Ready>
void wait_until(Ready&& ready) {
  while (!ready())
    gic_sleep();
}

}  // namespace el2
