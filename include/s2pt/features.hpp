// What the CPU offers that changes how stage-2 tables are written and maintained.
#pragma once

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
  // FEAT_HAFDBS with dirty state (ID_AA64MMFR1_EL1.HAFDBS >= 2): the stage-2 walker can turn a
  // writable-clean page (read-only, DBM set) writable on a write, with VTCR_EL2.HD set.
  bool hw_dirty = false;
  // 52-bit physical (and intermediate physical) addresses: FEAT_LPA2 at stage 2 for the 4K and
  // 16K granules (ID_AA64MMFR0_EL1.TGran4_2 / TGran16_2 = 0b0011, or TGran4/16 saying LPA2 when
  // the _2 fields defer to them), used with VTCR_EL2.DS = 1; FEAT_LPA for the 64K granule
  // (ID_AA64MMFR0_EL1.PARange = 0b0110).
  bool lpa2 = false;
  bool lpa = false;
  u8 bbm_level = 0;  // FEAT_BBM level; recorded, never relied on

  constexpr bool operator==(const Features&) const = default;
};

}  // namespace s2pt
