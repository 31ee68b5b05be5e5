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
CpuInfo read_cpu_info();

// Which features the backend may report; a false field pretends the CPU lacks the feature.
struct FeatureMask {
  bool fwb = true;
  bool tlbi_range = true;
  bool ttl = true;
  bool dic = true;
};

class Aarch64Arch final : public Arch {
 public:
  explicit Aarch64Arch(FeatureMask mask = {});

  Features features() const override { return features_; }
  void tlbi(Vmid vmid, TlbiOp op, u64 operand) override;
  void dsb_ishst() override;
  void dsb_ish() override;
  void dsb_nshst() override;
  void dsb_nsh() override;
  void isb() override;
  void dc_civac(Pa pa, u64 bytes) override;
  void ic_ivau(Pa pa, u64 bytes) override;
  void ic_ialluis() override;

  const CpuInfo& cpu() const { return cpu_; }

 private:
  CpuInfo cpu_;
  Features features_;
};

// HCR_EL2.FWB on the calling CPU: set it when a table uses the FWB MemAttr format, clear it
// otherwise (the two formats give different meanings to the same descriptor bits).
void set_hcr_fwb(bool enabled);

}  // namespace s2pt::aarch64
