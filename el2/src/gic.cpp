#include "gic.hpp"

namespace el2 {
namespace {

// QEMU virt: GICv2 distributor and CPU interface.
constexpr u64 kGicd = 0x0800'0000;
constexpr u64 kGicc = 0x0801'0000;
namespace gicd {
constexpr u64 kCtlr = 0x000;
constexpr u64 kIsEnabler0 = 0x100;
constexpr u64 kSgir = 0xF00;
constexpr u64 kPidr2 = 0xFE8;
}  // namespace gicd
namespace gicc {
constexpr u64 kCtlr = 0x000;
constexpr u64 kPmr = 0x004;
constexpr u64 kIar = 0x00C;
constexpr u64 kEoir = 0x010;
}  // namespace gicc
constexpr u32 kWakeSgi = 0;
constexpr u32 kSpurious = 1023;

volatile u32& reg(u64 base, u64 offset) {
  return *reinterpret_cast<volatile u32*>(base + offset);
}

bool gic_v2 = false;

}  // namespace

void gic_init_distributor() {
  gic_v2 = ((reg(kGicd, gicd::kPidr2) >> 4) & 0xF) == 2;
  if (gic_v2) reg(kGicd, gicd::kCtlr) = 1;
}

bool gic_v2_present() {
  return gic_v2;
}

void gic_init_cpu() {
  if (!gic_v2) return;
  reg(kGicd, gicd::kIsEnabler0) = 1u << kWakeSgi;  // banked per CPU
  reg(kGicc, gicc::kPmr) = 0xF0;
  reg(kGicc, gicc::kCtlr) = 1;
}

void kick(unsigned cpu) {
  asm volatile("dsb ish" : : : "memory");  // the state the kicked CPU will look at is visible
  if (gic_v2) reg(kGicd, gicd::kSgir) = (1u << (16 + cpu)) | kWakeSgi;
}

void gic_sleep() {
  if (!gic_v2) {
    asm volatile("yield");
    return;
  }
  // Interrupts stay masked at EL2: a pending one ends WFI without being taken. It stays pending
  // until acknowledged, so a kick that arrives before the WFI is not lost.
  asm volatile("dsb sy\n\twfi" : : : "memory");
  for (;;) {
    const u32 iar = reg(kGicc, gicc::kIar);
    if ((iar & 0x3FF) == kSpurious) break;
    reg(kGicc, gicc::kEoir) = iar;
  }
}

}  // namespace el2
