// Secondary CPUs: started once with PSCI CPU_ON, then each waits at EL2 for jobs posted by CPU 0.
#pragma once

#include "platform.hpp"
#include "s2pt/arch/aarch64.hpp"

namespace el2 {

// Starts every CPU QEMU has (-smp N) and waits until each is ready. Returns N.
unsigned start_secondaries();
unsigned cpu_count();

using Job = void (*)(void* context);

// Runs `job` on CPU `cpu` (not 0) in the background; wait_for() returns once it finished.
void post(unsigned cpu, Job job, void* context);
void wait_for(unsigned cpu);

// Runs `fn(cpu)` on every CPU, CPU 0 included, and waits for all of them.
template <class Fn>
void on_every_cpu(Fn& fn) {
  auto trampoline = [](void* context) { (*static_cast<Fn*>(context))(cpu_index()); };
  for (unsigned cpu = 1; cpu < cpu_count(); ++cpu)
    post(cpu, trampoline, &fn);
  fn(0u);
  for (unsigned cpu = 1; cpu < cpu_count(); ++cpu)
    wait_for(cpu);
}

// What every CPU's ID and cache-type registers have in common (aarch64::common): what the Arch
// backend may assume, since a table's maintenance runs on whichever CPU calls it. Read on every
// CPU at the first call (CPU 0, secondaries idle), then kept.
const s2pt::aarch64::CpuInfo& system_cpu_info();

// The loop a secondary CPU runs at EL2 once it is ready.
[[noreturn]] void secondary_loop(unsigned cpu);

}  // namespace el2
