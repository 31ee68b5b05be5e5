// Modelled hardware time of the maintenance an operation issued: a per-operation cost table.
// The hardware model (sim/) will bring a richer one; until it lands, `s2pt bench` uses this.
// Sources are the published figures collected in /work/shared/arm-facts.md ("Published costs"):
//  - broadcast TLBI loop without range: "about 1 us fixed + 0.47 us per extra TLBI" -> each TLBI
//    (any kind) 470 ns, and the DSB ISH that waits for it the rest of the fixed 1 us: 530 ns;
//  - DC CIVAC: "about 3 ns per 64-byte line" (inferred, Pixel 6);
//  - DSB ISHST (orders stores, waits for no broadcast) and ISB: not published; assumed small.
// Cross-check: one IPAS2E1IS + VMALLE1IS sequence costs 2.07 us here against the published
// "about 1.5 us", so the model is pessimistic for single-entry sequences (per_entry), by ~40%.
// It ignores the CPU count (broadcast latency grows with it) and the cost of refilling TLBs after
// a whole-VMID invalidation.
#pragma once

#include "s2pt/maintenance.hpp"

namespace s2pt::tool {

struct CostTable {
  u64 tlbi_ns = 470;
  u64 dsb_ish_ns = 530;
  u64 dsb_ishst_ns = 20;
  u64 isb_ns = 10;
  u64 dc_civac_line_ns = 3;

  constexpr u64 modeled_ns(const MaintenanceCounters& c) const {
    return c.tlbi_total() * tlbi_ns + c.dsb_ish * dsb_ish_ns + c.dsb_ishst * dsb_ishst_ns +
           c.isb * isb_ns + c.dc_civac_lines() * dc_civac_line_ns;
  }
};

}  // namespace s2pt::tool
