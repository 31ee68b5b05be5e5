#include "s2pt/arch/aarch64.hpp"

namespace s2pt::aarch64 {
namespace {

#define S2PT_READ_SYSREG(name)                    \
  [] {                                            \
    u64 value;                                    \
    asm volatile("mrs %0, " #name : "=r"(value)); \
    return value;                                 \
  }()

constexpr u64 field(u64 reg, unsigned shift, unsigned width = 4) {
  return (reg >> shift) & ((u64{1} << width) - 1);
}

// ID register fields (Arm ARM D19.2).
constexpr unsigned kIsar0Tlb = 56;      // 2: TLBI outer-shareable and range instructions
constexpr unsigned kMmfr1Hafdbs = 0;    // 2: hardware access flag and dirty state
constexpr unsigned kMmfr1VmidBits = 4;  // 2: 16-bit VMID
constexpr unsigned kMmfr2Fwb = 40;
constexpr unsigned kMmfr2Ttl = 48;
constexpr unsigned kMmfr2Bbm = 52;
constexpr unsigned kMmfr0PaRange = 0;         // 6: 52-bit physical addresses
constexpr unsigned kMmfr0TGran16 = 20;        // 2: 16K granule with 52-bit addresses (LPA2)
constexpr unsigned kMmfr0TGran64 = 24;        // 0: 64K granule supported
constexpr unsigned kMmfr0TGran4 = 28;         // 1: 4K granule with 52-bit addresses (LPA2)
constexpr unsigned kMmfr0TGran16Stage2 = 32;  // 0: as TGran16; 3: with 52-bit addresses
constexpr unsigned kMmfr0TGran4Stage2 = 40;   // 0: as TGran4; 3: with 52-bit addresses

// Whether stage 2 supports 52-bit addresses with a granule, from its TGran*_2 field (0 defers
// to the stage-1 field, whose LPA2 value is `lpa2_value`).
constexpr bool stage2_lpa2(u64 mmfr0, unsigned stage2_shift, unsigned shift, u64 lpa2_value) {
  const u64 stage2 = field(mmfr0, stage2_shift);
  return stage2 == 3 || (stage2 == 0 && field(mmfr0, shift) == lpa2_value);
}
constexpr unsigned kCtrIminLine = 0;
constexpr unsigned kCtrL1Ip = 14;  // 2 bits: 0b10 VIPT, 0b11 PIPT
constexpr u64 kL1IpVipt = 2;
constexpr unsigned kCtrDminLine = 16;
constexpr unsigned kCtrIdc = 28;
constexpr unsigned kCtrDic = 29;

constexpr u64 kHcrFwb = u64{1} << 46;
constexpr u64 kHcrE2h = u64{1} << 34;
constexpr u64 kHcrTge = u64{1} << 27;

}  // namespace

CpuInfo read_cpu_info() {
  const u64 isar0 = S2PT_READ_SYSREG(id_aa64isar0_el1);
  const u64 mmfr0 = S2PT_READ_SYSREG(id_aa64mmfr0_el1);
  const u64 mmfr1 = S2PT_READ_SYSREG(id_aa64mmfr1_el1);
  const u64 mmfr2 = S2PT_READ_SYSREG(id_aa64mmfr2_el1);
  const u64 ctr = S2PT_READ_SYSREG(ctr_el0);
  CpuInfo info;
  info.features.tlbi_range = field(isar0, kIsar0Tlb) >= 2;
  info.features.fwb = field(mmfr2, kMmfr2Fwb) >= 1;
  info.features.ttl = field(mmfr2, kMmfr2Ttl) >= 1;
  info.features.bbm_level = static_cast<u8>(field(mmfr2, kMmfr2Bbm));
  info.features.dic = field(ctr, kCtrDic, 1) != 0;
  info.features.aliasing_icache = field(ctr, kCtrL1Ip, 2) == kL1IpVipt;
  info.features.hw_dirty = field(mmfr1, kMmfr1Hafdbs) >= 2;
  // 52-bit addresses need the 52-bit PARange; LPA2 with the 4K and 16K granules (FEAT_LPA2 covers
  // both where both are implemented), LPA with 64K.
  const bool pa52 = field(mmfr0, kMmfr0PaRange) == 6;
  info.features.lpa2 = pa52 && (stage2_lpa2(mmfr0, kMmfr0TGran4Stage2, kMmfr0TGran4, 1) ||
                                stage2_lpa2(mmfr0, kMmfr0TGran16Stage2, kMmfr0TGran16, 2));
  info.features.lpa = pa52 && field(mmfr0, kMmfr0TGran64) == 0;
  info.idc = field(ctr, kCtrIdc, 1) != 0;
  // Line sizes are log2 of the number of 4-byte words.
  info.dcache_line = u64{4} << field(ctr, kCtrDminLine);
  info.icache_line = u64{4} << field(ctr, kCtrIminLine);
  info.vmid_bits = field(mmfr1, kMmfr1VmidBits) == 2 ? 16 : 8;
  return info;
}

Aarch64Arch::Aarch64Arch(const CpuInfo& system, FeatureMask mask)
    : cpu_(system), features_(cpu_.features) {
  features_.fwb = features_.fwb && mask.fwb;
  features_.tlbi_range = features_.tlbi_range && mask.tlbi_range;
  features_.ttl = features_.ttl && mask.ttl;
  features_.dic = features_.dic && mask.dic;
  features_.hw_dirty = features_.hw_dirty && mask.hw_dirty;
}

namespace {

void write_hcr(u64 value) {
  asm volatile("msr hcr_el2, %0" : : "r"(value) : "memory");
}
void write_vttbr(u64 value) {
  asm volatile("msr vttbr_el2, %0" : : "r"(value) : "memory");
}

}  // namespace

// The guest's context for a TLBI sequence:
// - VTTBR_EL2 as the guest runs it: stage-2 TLBIs act on its VMID, and a walk started
//   speculatively meanwhile must find this table's root under that VMID, not another's.
// - On a VHE host (HCR_EL2.E2H = 1, TGE = 1) the EL1 TLBIs (VMALLE1IS, VMALLE1) act on the
//   EL2&0 regime, the host's own (Arm ARM, "TLBI VMALLE1IS": with HCR_EL2.{E2H, TGE} = {1, 1},
//   the entries that would be used with the EL2&0 translation regime), so TGE is cleared.
// - IRQ and FIQ stay masked meanwhile: a handler must not run with the host's TGE cleared.
GuestTlbContext::GuestTlbContext(const Stage2Context& context)
    : daif_(S2PT_READ_SYSREG(daif)),
      hcr_(S2PT_READ_SYSREG(hcr_el2)),
      vttbr_(S2PT_READ_SYSREG(vttbr_el2)),
      vhe_host_((hcr_ & (kHcrE2h | kHcrTge)) == (kHcrE2h | kHcrTge)),
      other_table_(vttbr_ != context.vttbr) {
  asm volatile("msr daifset, #3" : : : "memory");
  if (vhe_host_) write_hcr(hcr_ & ~kHcrTge);
  if (other_table_) write_vttbr(context.vttbr);
  if (vhe_host_ || other_table_) asm volatile("isb" : : : "memory");
}

GuestTlbContext::~GuestTlbContext() {
  if (other_table_) write_vttbr(vttbr_);
  if (vhe_host_) write_hcr(hcr_);
  if (vhe_host_ || other_table_) asm volatile("isb" : : : "memory");
  asm volatile("msr daif, %0" : : "r"(daif_) : "memory");
}

void Aarch64Arch::issue(const PlanStep& step) {
  const u64 operand = step.tlbi.operand;
  switch (step.kind) {
    case StepKind::dsb_ishst:
      asm volatile("dsb ishst" : : : "memory");
      return;
    case StepKind::dsb_ish:
      asm volatile("dsb ish" : : : "memory");
      return;
    case StepKind::dsb_nshst:
      asm volatile("dsb nshst" : : : "memory");
      return;
    case StepKind::dsb_nsh:
      asm volatile("dsb nsh" : : : "memory");
      return;
    case StepKind::isb:
      asm volatile("isb" : : : "memory");
      return;
    case StepKind::dc_civac:
      dc_civac(step.pa, step.bytes);
      return;
    case StepKind::tlbi:
      break;
  }
  switch (step.tlbi.op) {
    case TlbiOp::ipas2e1is:
      asm volatile("tlbi ipas2e1is, %0" : : "r"(operand) : "memory");
      return;
    case TlbiOp::ipas2le1is:
      asm volatile("tlbi ipas2le1is, %0" : : "r"(operand) : "memory");
      return;
    case TlbiOp::ripas2e1is:
      asm volatile("tlbi ripas2e1is, %0" : : "r"(operand) : "memory");
      return;
    case TlbiOp::ripas2le1is:
      asm volatile("tlbi ripas2le1is, %0" : : "r"(operand) : "memory");
      return;
    case TlbiOp::vmalle1is:
      asm volatile("tlbi vmalle1is" : : : "memory");
      return;
    case TlbiOp::vmalls12e1is:
      asm volatile("tlbi vmalls12e1is" : : : "memory");
      return;
    case TlbiOp::ipas2e1:
      asm volatile("tlbi ipas2e1, %0" : : "r"(operand) : "memory");
      return;
    case TlbiOp::vmalle1:
      asm volatile("tlbi vmalle1" : : : "memory");
      return;
  }
}

void Aarch64Arch::invalidate(const InvalidationPlan& plan) {
  const auto issue_step = [this](const PlanStep& step) { issue(step); };
  {
    const GuestTlbContext guest(plan.context());
    plan.for_each_invalidation_step(issue_step);
  }
  plan.for_each_cleaning_step(issue_step);
}

void Aarch64Arch::dsb_ish() {
  asm volatile("dsb ish" : : : "memory");
}
void Aarch64Arch::isb() {
  asm volatile("isb" : : : "memory");
}

void Aarch64Arch::dc_civac(Pa pa, u64 bytes) {
  const u64 line = cpu_.dcache_line;
  const u64 end = pa.raw + bytes;
  for (u64 va = pa.raw & ~(line - 1); va < end; va += line) {
    asm volatile("dc civac, %0" : : "r"(va) : "memory");
  }
}

void Aarch64Arch::ic_ivau(Pa pa, u64 bytes) {
  if (features_.dic) return;  // CTR_EL0.DIC: instruction fetches are coherent with data
  const u64 line = cpu_.icache_line;
  const u64 end = pa.raw + bytes;
  for (u64 va = pa.raw & ~(line - 1); va < end; va += line) {
    asm volatile("ic ivau, %0" : : "r"(va) : "memory");
  }
}

void Aarch64Arch::ic_ialluis() {
  if (features_.dic) return;
  asm volatile("ic ialluis" : : : "memory");
}

void set_hcr_fwb(bool enabled) {
  u64 hcr = S2PT_READ_SYSREG(hcr_el2);
  hcr = enabled ? hcr | kHcrFwb : hcr & ~kHcrFwb;
  asm volatile("msr hcr_el2, %0\n\tisb" : : "r"(hcr) : "memory");
}

}  // namespace s2pt::aarch64
