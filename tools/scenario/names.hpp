// The words of the scenario format and of the tool's output: status codes, unmap strategies,
// permissions, memory types and maintenance counters, each parsed through one table so that a
// value the core adds shows up here by adding one row (strategies come from the core's own
// kAllUnmapStrategies and name()).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "s2pt/maintenance_counters.hpp"
#include "s2pt/pte.hpp"
#include "s2pt/table.hpp"

namespace s2pt::scenario {

// The identifier of a status code as a scenario writes it: "exists", "no_memory", ...
std::string_view status_name(Status s);
std::optional<Status> parse_status(std::string_view word);
std::span<const Status> all_statuses();

// Every unmap strategy the core lists (kAllUnmapStrategies), by s2pt::name(UnmapStrategy).
std::span<const UnmapStrategy> unmap_strategies();
std::optional<UnmapStrategy> parse_strategy(std::string_view word);

// "rw", "r-x", "rwx", "none", "---": each of r, w, x at most once, '-' as a placeholder.
std::optional<Perm> parse_perm(std::string_view word);
// Always three characters: "rw-", "r-x", "---".
std::string perm_string(Perm p);

std::string_view memtype_name(MemType m);  // "normal_wb", "device_ngnre", ...
// The full names and the short ones: wb, nc, device (nGnRE), device_ngnrne.
std::optional<MemType> parse_memtype(std::string_view word);

std::string_view shareability_name(Shareability sh);  // "inner", "outer", "non"

// The counters an `expect-ops` line may check.
enum class Counter : u8 {
  tlbi,        // every TLBI
  tlbi_ipa,    // IPAS2(L)E1IS
  tlbi_range,  // RIPAS2(L)E1IS
  tlbi_vmid,   // VMALLS12E1IS
  tlbi_s1,     // VMALLE1IS
  tlbi_local,  // IPAS2E1, VMALLE1: this CPU only
  dsb,         // every DSB
  dsb_ishst,
  dsb_ish,
  dsb_nshst,
  dsb_nsh,
  isb,
  dc_civac,  // DC CIVAC calls
  dc_lines,  // 64-byte lines cleaned
  ic_ivau,   // IC IVAU calls
  ic_ialluis,
};
std::string_view counter_name(Counter c);
std::optional<Counter> parse_counter(std::string_view word);
std::span<const Counter> all_counters();
u64 counter_value(const MaintenanceCounters& counts, Counter c);

}  // namespace s2pt::scenario
