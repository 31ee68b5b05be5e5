// The Arch backend for real hardware (or QEMU) at EL2: TLBI, DSB, ISB, DC CIVAC and IC IVAU as
// instructions, features from the ID registers. Freestanding: only built for aarch64 targets.
//
// Addresses given to the cache maintenance hooks are PAs; the backend relies on EL2 running with
// an identity map (VA == PA), as the el2/ harness does.
#pragma once

#include "s2pt/arch.hpp"

namespace s2pt::aarch64 {

// What the CPU implements, as read from ID_AA64ISAR0_EL1, ID_AA64MMFR1/2_EL1 and CTR_EL0.
struct CpuInfo {
  Features features;
  u64 dcache_line = 64;  // smallest data cache line (CTR_EL0.DminLine)
  u64 icache_line = 64;  // smallest instruction cache line (CTR_EL0.IminLine)
  bool idc = false;      // CTR_EL0.IDC: no data cache clean needed for I/D coherence
  unsigned vmid_bits = 8;
};
// The calling CPU's.
CpuInfo read_cpu_info();

// What two CPUs (or groups of them) have in common: a feature only if both have it, the smaller
// cache lines (maintenance by lines steps by the line size: one CPU's larger line would skip lines
// of the other's cache), the fewer VMID bits, an aliasing I-cache if either has one. Fold every
// CPU's read_cpu_info() with it, as Linux sanitises CTR_EL0 and the ID registers across CPUs.
constexpr CpuInfo common(const CpuInfo& a, const CpuInfo& b) {
  const Features& x = a.features;
  const Features& y = b.features;
  return CpuInfo{
      .features = Features{.fwb = x.fwb && y.fwb,
                           .tlbi_range = x.tlbi_range && y.tlbi_range,
                           .ttl = x.ttl && y.ttl,
                           .dic = x.dic && y.dic,
                           .aliasing_icache = x.aliasing_icache || y.aliasing_icache,
                           .hw_dirty = x.hw_dirty && y.hw_dirty,
                           .lpa2 = x.lpa2 && y.lpa2,
                           .lpa = x.lpa && y.lpa,
                           .bbm_level = x.bbm_level < y.bbm_level ? x.bbm_level : y.bbm_level},
      .dcache_line = a.dcache_line < b.dcache_line ? a.dcache_line : b.dcache_line,
      .icache_line = a.icache_line < b.icache_line ? a.icache_line : b.icache_line,
      .idc = a.idc && b.idc,
      .vmid_bits = a.vmid_bits < b.vmid_bits ? a.vmid_bits : b.vmid_bits,
  };
}
namespace check {
constexpr CpuInfo cpu(u64 dline, u64 iline, unsigned vmid_bits, bool fwb, bool aliasing) {
  CpuInfo c;
  c.dcache_line = dline;
  c.icache_line = iline;
  c.vmid_bits = vmid_bits;
  c.features.fwb = fwb;
  c.features.aliasing_icache = aliasing;
  return c;
}
constexpr CpuInfo kBoth = common(cpu(64, 128, 16, true, false), cpu(128, 32, 8, false, true));
static_assert(kBoth.dcache_line == 64 && kBoth.icache_line == 32 && kBoth.vmid_bits == 8);
static_assert(!kBoth.features.fwb && kBoth.features.aliasing_icache);
}  // namespace check

// Which features the backend may report; a false field pretends the CPU lacks the feature.
struct FeatureMask {
  bool fwb = true;
  bool tlbi_range = true;
  bool ttl = true;
  bool dic = true;
  bool hw_dirty = true;
};

class Aarch64Arch final : public Arch {
 public:
  // `system`: every CPU's read_cpu_info() folded with common(). The table may run its maintenance
  // on any CPU, so the line sizes and features must hold for all of them.
  explicit Aarch64Arch(const CpuInfo& system, FeatureMask mask = {});
  // The calling CPU's alone: right only on a system whose CPUs all report the same.
  explicit Aarch64Arch(FeatureMask mask = {}) : Aarch64Arch(read_cpu_info(), mask) {}

  Features features() const override { return features_; }
  // The invalidation steps in a GuestTlbContext for the plan's context, then the cleaning steps
  // (InvalidationPlan::then_clean), which need none, outside it.
  void invalidate(const InvalidationPlan& plan) override;
  // One step of a plan as its instruction, on the calling CPU (a TLBI in a GuestTlbContext; a
  // DC CIVAC step by this CPU's line size). Backends that wrap this one issue steps through it.
  void issue(const PlanStep& step);
  void dsb_ish() override;
  void isb() override;
  void dc_civac(Pa pa, u64 bytes) override;
  void ic_ivau(Pa pa, u64 bytes) override;
  void ic_ialluis() override;

  const CpuInfo& cpu() const { return cpu_; }

 private:
  CpuInfo cpu_;
  Features features_;
};

// The calling CPU in a table's stage-2 context for a sequence of TLBIs (its VTTBR_EL2 and, on a
// VHE host, HCR_EL2.TGE cleared, with IRQ and FIQ masked), then back as it was when destroyed.
class GuestTlbContext {
 public:
  explicit GuestTlbContext(const Stage2Context& context);
  ~GuestTlbContext();
  GuestTlbContext(const GuestTlbContext&) = delete;
  GuestTlbContext& operator=(const GuestTlbContext&) = delete;

 private:
  u64 daif_;
  u64 hcr_;
  u64 vttbr_;
  bool vhe_host_;
  bool other_table_;
};

// HCR_EL2.FWB on the calling CPU: set it when a table uses the FWB MemAttr format, clear it
// otherwise (the two formats give different meanings to the same descriptor bits).
void set_hcr_fwb(bool enabled);

}  // namespace s2pt::aarch64
