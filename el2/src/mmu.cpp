#include "mmu.hpp"

#include "platform.hpp"

namespace el2 {
namespace {

// MAIR_EL2 slots.
constexpr u64 kAttrDevice = 0;  // Device-nGnRnE
constexpr u64 kAttrNormal = 1;  // Normal, inner/outer write-back, read/write-allocate
constexpr u64 kMair = (u64{0x00} << (8 * kAttrDevice)) | (u64{0xFF} << (8 * kAttrNormal));

// 4K granule, T0SZ 25: a 39-bit VA space whose translation starts at level 1 with 1 GiB blocks.
constexpr unsigned kT0sz = 25;
constexpr u64 kGiB = u64{1} << 30;
constexpr u64 kTcr = kT0sz | (u64{1} << 8)               // IRGN0 write-back
                     | (u64{1} << 10)                    // ORGN0 write-back
                     | (u64{3} << 12)                    // SH0 inner shareable
                     | (u64{5} << 16)                    // PS 48 bits
                     | (u64{1} << 23) | (u64{1} << 31);  // RES1

constexpr u64 kBlockValid = 0b01;
constexpr u64 kAf = u64{1} << 10;
constexpr u64 kInnerShareable = u64{3} << 8;
constexpr u64 kXn = u64{1} << 54;

// SCTLR_EL2 (E2H = 0): RES1 bits plus M (MMU), C (data cache), SA (SP alignment), I (I-cache).
constexpr u64 kSctlrRes1 = 0x30C50830;
constexpr u64 kSctlr = kSctlrRes1 | (u64{1} << 0) | (u64{1} << 2) | (u64{1} << 3) | (u64{1} << 12);

alignas(4096) u64 level1[512];

}  // namespace

void build_identity_map() {
  // 0-1 GiB: flash, GIC, UART and other devices; 1-4 GiB: RAM (QEMU virt, at most 3 GiB here).
  level1[0] = 0 | kBlockValid | kAf | (kAttrDevice << 2) | kXn;
  for (u64 i = 1; i < 4; ++i) {
    level1[i] = (i * kGiB) | kBlockValid | kAf | kInnerShareable | (kAttrNormal << 2);
  }
}

void enable_mmu() {
  asm volatile(
      "msr mair_el2, %0\n\t"
      "msr tcr_el2, %1\n\t"
      "msr ttbr0_el2, %2\n\t"
      "isb\n\t"
      "tlbi alle2\n\t"
      "dsb ish\n\t"
      "isb\n\t"
      "msr sctlr_el2, %3\n\t"
      "isb"
      :
      : "r"(kMair), "r"(kTcr), "r"(reinterpret_cast<u64>(level1)), "r"(kSctlr)
      : "memory");
}

}  // namespace el2
