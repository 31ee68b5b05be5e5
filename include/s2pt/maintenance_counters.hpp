// How many maintenance instructions of each kind a table issued (Table::stats()).
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

struct MaintenanceCounters {
  u64 tlbi_ipa = 0;    // IPAS2E1IS, IPAS2LE1IS
  u64 tlbi_range = 0;  // RIPAS2E1IS, RIPAS2LE1IS
  u64 tlbi_vmid = 0;   // VMALLS12E1IS
  u64 tlbi_s1 = 0;     // VMALLE1IS
  u64 tlbi_local = 0;  // IPAS2E1, VMALLE1: this CPU only
  u64 dsb_ishst = 0;
  u64 dsb_ish = 0;
  u64 dsb_nshst = 0;
  u64 dsb_nsh = 0;
  u64 isb = 0;
  u64 dc_civac_calls = 0;
  u64 dc_civac_bytes = 0;
  u64 ic_ivau_calls = 0;
  u64 ic_ivau_bytes = 0;
  u64 ic_ialluis = 0;

  static constexpr u64 kCacheLine = 64;
  // Broadcast TLBIs (what costs every CPU), and all of them.
  constexpr u64 tlbi_broadcast() const { return tlbi_ipa + tlbi_range + tlbi_vmid + tlbi_s1; }
  constexpr u64 tlbi_total() const { return tlbi_broadcast() + tlbi_local; }
  constexpr u64 dsb_total() const { return dsb_ishst + dsb_ish + dsb_nshst + dsb_nsh; }
  constexpr u64 dc_civac_lines() const { return dc_civac_bytes / kCacheLine; }
  constexpr bool operator==(const MaintenanceCounters&) const = default;
};
// What was issued between two readings of the counters (`after - before`).
constexpr MaintenanceCounters operator-(const MaintenanceCounters& a,
                                        const MaintenanceCounters& b) {
  MaintenanceCounters d;
  d.tlbi_ipa = a.tlbi_ipa - b.tlbi_ipa;
  d.tlbi_range = a.tlbi_range - b.tlbi_range;
  d.tlbi_vmid = a.tlbi_vmid - b.tlbi_vmid;
  d.tlbi_s1 = a.tlbi_s1 - b.tlbi_s1;
  d.tlbi_local = a.tlbi_local - b.tlbi_local;
  d.dsb_ishst = a.dsb_ishst - b.dsb_ishst;
  d.dsb_ish = a.dsb_ish - b.dsb_ish;
  d.dsb_nshst = a.dsb_nshst - b.dsb_nshst;
  d.dsb_nsh = a.dsb_nsh - b.dsb_nsh;
  d.isb = a.isb - b.isb;
  d.dc_civac_calls = a.dc_civac_calls - b.dc_civac_calls;
  d.dc_civac_bytes = a.dc_civac_bytes - b.dc_civac_bytes;
  d.ic_ivau_calls = a.ic_ivau_calls - b.ic_ivau_calls;
  d.ic_ivau_bytes = a.ic_ivau_bytes - b.ic_ivau_bytes;
  d.ic_ialluis = a.ic_ialluis - b.ic_ialluis;
  return d;
}

// Maintenance reads the counters as an array of u64.
static_assert(sizeof(MaintenanceCounters) == 15 * sizeof(u64));

}  // namespace s2pt
