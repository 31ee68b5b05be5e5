// Modelled hardware cost of the maintenance operations the core issues. A pure function of the
// op counts, so the benchmark can turn MaintenanceCounters into modelled time without the
// machine. Default figures and where they come from: docs/model.md ("Cost model").
#pragma once

#include "s2pt/maintenance_counters.hpp"

namespace s2pt::sim {

struct CostModel {
  // Broadcast (inner shareable) TLBI by IPA: the marginal cost of one more TLBI in a loop.
  double tlbi_ipa_ns = 470;
  // A TLBI that only acts on the local CPU (IPAS2E1, VMALLE1: the fault path's permission relax).
  double tlbi_local_ns = 50;
  // One RIPAS2E1IS, whatever its page count (the point of FEAT_TLBIRANGE).
  double tlbi_range_ns = 500;
  double tlbi_vmalle1is_ns = 470;
  double tlbi_vmalls12e1is_ns = 2000;
  double dsb_ish_ns = 250;
  double dsb_ishst_ns = 20;
  // Non-shareable barriers wait for this CPU only.
  double dsb_nsh_ns = 30;
  double dsb_nshst_ns = 20;
  double isb_ns = 10;
  double dc_civac_line_ns = 3;  // per 64-byte line
  double ic_ivau_line_ns = 3;   // per 64-byte line
  double ic_ialluis_ns = 2000;  // every I-cache of the domain, broadcast
  double table_alloc_ns = 100;
  double table_free_ns = 50;
};

// Table pages allocated and freed by the operations being costed.
struct PageCounts {
  u64 allocs = 0;
  u64 frees = 0;
};

constexpr double modeled_ns(const MaintenanceCounters& c, const CostModel& m,
                            const PageCounts& pages = {}) {
  const u64 whole_lines = c.dc_civac_lines();
  const u64 whole_ic_lines = c.ic_ivau_bytes / MaintenanceCounters::kCacheLine;
  const auto lines = static_cast<double>(whole_lines);
  const auto ic_lines = static_cast<double>(whole_ic_lines);
  return static_cast<double>(c.tlbi_ipa) * m.tlbi_ipa_ns +
         static_cast<double>(c.tlbi_range) * m.tlbi_range_ns +
         static_cast<double>(c.tlbi_vmid) * m.tlbi_vmalls12e1is_ns +
         static_cast<double>(c.tlbi_s1) * m.tlbi_vmalle1is_ns +
         static_cast<double>(c.tlbi_local) * m.tlbi_local_ns +
         static_cast<double>(c.dsb_nsh) * m.dsb_nsh_ns +
         static_cast<double>(c.dsb_nshst) * m.dsb_nshst_ns +
         static_cast<double>(c.dsb_ish) * m.dsb_ish_ns +
         static_cast<double>(c.dsb_ishst) * m.dsb_ishst_ns + static_cast<double>(c.isb) * m.isb_ns +
         lines * m.dc_civac_line_ns + ic_lines * m.ic_ivau_line_ns +
         static_cast<double>(c.ic_ialluis) * m.ic_ialluis_ns +
         static_cast<double>(pages.allocs) * m.table_alloc_ns +
         static_cast<double>(pages.frees) * m.table_free_ns;
}

// The published anchor: one IPAS2E1IS + DSB ISH + VMALLE1IS + DSB ISH + ISB is about 1.5 us.
static_assert(modeled_ns(MaintenanceCounters{.tlbi_ipa = 1, .tlbi_s1 = 1, .dsb_ish = 2, .isb = 1},
                         CostModel{}) > 1400 &&
              modeled_ns(MaintenanceCounters{.tlbi_ipa = 1, .tlbi_s1 = 1, .dsb_ish = 2, .isb = 1},
                         CostModel{}) < 1600);

}  // namespace s2pt::sim
