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
// Every counter, for field-by-field arithmetic.
inline constexpr u64 MaintenanceCounters::*kMaintenanceCounterFields[] = {
    &MaintenanceCounters::tlbi_ipa,       &MaintenanceCounters::tlbi_range,
    &MaintenanceCounters::tlbi_vmid,      &MaintenanceCounters::tlbi_s1,
    &MaintenanceCounters::tlbi_local,     &MaintenanceCounters::dsb_ishst,
    &MaintenanceCounters::dsb_ish,        &MaintenanceCounters::dsb_nshst,
    &MaintenanceCounters::dsb_nsh,        &MaintenanceCounters::isb,
    &MaintenanceCounters::dc_civac_calls, &MaintenanceCounters::dc_civac_bytes,
    &MaintenanceCounters::ic_ivau_calls,  &MaintenanceCounters::ic_ivau_bytes,
    &MaintenanceCounters::ic_ialluis,
};

// What was issued between two readings of the counters (`after - before`).
constexpr MaintenanceCounters operator-(const MaintenanceCounters& a,
                                        const MaintenanceCounters& b) {
  MaintenanceCounters d;
  for (u64 MaintenanceCounters::*field : kMaintenanceCounterFields)
    d.*field = a.*field - b.*field;
  return d;
}
// Two sets of counters together.
constexpr MaintenanceCounters operator+(const MaintenanceCounters& a,
                                        const MaintenanceCounters& b) {
  MaintenanceCounters d;
  for (u64 MaintenanceCounters::*field : kMaintenanceCounterFields)
    d.*field = a.*field + b.*field;
  return d;
}

// Maintenance reads the counters as an array of u64.
static_assert(sizeof(MaintenanceCounters) ==
              sizeof kMaintenanceCounterFields / sizeof kMaintenanceCounterFields[0] * sizeof(u64));

}  // namespace s2pt
