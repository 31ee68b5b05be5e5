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

// With HCR_EL2.E2H = 1, TCR_EL2 has TCR_EL1's layout: the same TTBR0 fields, then no TTBR1 walks
// (EPD1, with a valid T1SZ and TG1 = 4K) and the output size in IPS rather than PS.
constexpr u64 kTcrVhe = kT0sz | (u64{1} << 8) | (u64{1} << 10) | (u64{3} << 12)  // as kTcr
                        | (u64{kT0sz} << 16)                                     // T1SZ
                        | (u64{1} << 23)                                         // EPD1
                        | (u64{2} << 30)                                         // TG1 4K
                        | (u64{5} << 32);                                        // IPS 48 bits
constexpr u64 kHcrRw = u64{1} << 31;
constexpr u64 kHcrTge = u64{1} << 27;
constexpr u64 kHcrE2h = u64{1} << 34;
// CPTR_EL2 with E2H = 1 is CPACR-shaped: FPEN = 0b11, nothing trapped (EL2 itself never uses
// FP/SIMD, but with FPEN = 0 a stray access would trap at EL2).
constexpr u64 kCptrVhe = u64{3} << 20;

bool vhe = false;

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

bool vhe_host() {
  return __atomic_load_n(&vhe, __ATOMIC_ACQUIRE);
}
void set_vhe_host() {
  __atomic_store_n(&vhe, true, __ATOMIC_RELEASE);
}

bool cpu_has_vhe() {
  u64 mmfr1;
  asm volatile("mrs %0, id_aa64mmfr1_el1" : "=r"(mmfr1));
  return ((mmfr1 >> 8) & 0xF) != 0;
}

void enter_vhe_host() {
  // E2H changes how TCR_EL2 and SCTLR_EL2 are read, so the switch runs with the MMU off, in one
  // asm block that touches no memory (with the MMU off, data accesses would bypass the caches
  // that hold everything written so far); the instruction fetches are identity-mapped anyway.
  asm volatile(
      "msr sctlr_el2, %0\n\t"
      "isb\n\t"
      "msr hcr_el2, %1\n\t"
      "isb\n\t"
      "msr cptr_el2, %2\n\t"
      "msr tcr_el2, %3\n\t"
      "isb\n\t"
      "tlbi alle2\n\t"
      "dsb ish\n\t"
      "isb\n\t"
      "msr sctlr_el2, %4\n\t"
      "isb"
      :
      : "r"(kSctlrRes1), "r"(kHcrE2h | kHcrTge | kHcrRw), "r"(kCptrVhe), "r"(kTcrVhe), "r"(kSctlr)
      : "memory");
}

}  // namespace el2
