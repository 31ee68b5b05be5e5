// The hooks through which the core reaches the hardware: which features to rely on, and the TLB,
// barrier and cache maintenance instructions. Backends: arch/aarch64 (real instructions at EL2),
// arch/counting (records the sequence), sim (drives the hardware model).
#pragma once

#include "s2pt/tlbi.hpp"
#include "s2pt/types.hpp"

namespace s2pt {

struct Features {
  bool fwb = false;         // FEAT_S2FWB, and the hypervisor runs with HCR_EL2.FWB = 1
  bool tlbi_range = false;  // FEAT_TLBIRANGE: RIPAS2E1IS
  bool ttl = false;         // FEAT_TTL: level hints in TLBI operands
  bool dic = false;         // CTR_EL0.DIC: instruction cache coherent, no IC IVAU needed
  // CTR_EL0.L1Ip = VIPT: the I-cache is indexed by VA, and IC IVAU by the hypervisor's address
  // need not reach lines the guest filled through its own VAs: only IC IALLUIS does.
  bool aliasing_icache = false;
  u8 bbm_level = 0;  // FEAT_BBM level; recorded, never relied on

  constexpr bool operator==(const Features&) const = default;
};

// Every method acts on the calling CPU, as the instruction would. TLBIs are broadcast (inner
// shareable) and, like on hardware, only guaranteed complete at the caller's next dsb_ish(); the
// non-shareable ones (is_local) reach this CPU only and complete at its next dsb_nsh() (or
// dsb_ish()). The backend makes `vmid` the current VMID for the TLBI (VTTBR_EL2.VMID).
class Arch {
 public:
  virtual Features features() const = 0;
  virtual void tlbi(Vmid vmid, TlbiOp op, u64 operand) = 0;
  virtual void dsb_ishst() = 0;
  virtual void dsb_ish() = 0;
  // Non-shareable barriers, for local invalidation. A backend without them may use the inner
  // shareable ones, which are stronger.
  virtual void dsb_nshst() { dsb_ishst(); }
  virtual void dsb_nsh() { dsb_ish(); }
  virtual void isb() = 0;
  // Clean and invalidate data cache lines to the point of coherency, for guest memory at `pa`.
  virtual void dc_civac(Pa pa, u64 bytes) = 0;
  // Invalidate instruction cache lines to the point of unification.
  virtual void ic_ivau(Pa pa, u64 bytes) = 0;
  // Invalidate all instruction caches of the inner shareable domain to the point of unification.
  virtual void ic_ialluis() = 0;

 protected:
  Arch() = default;
  Arch(const Arch&) = default;
  Arch& operator=(const Arch&) = default;
  ~Arch() = default;
};

}  // namespace s2pt
