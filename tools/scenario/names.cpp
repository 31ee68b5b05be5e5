#include "scenario/names.hpp"

#include <array>

namespace s2pt::scenario {
namespace {

struct StatusName {
  Status status;
  std::string_view name;
};
// The enumerator names of s2pt::Status; tests check that every code the core describes is here.
constexpr StatusName kStatusNames[] = {
    {Status::ok, "ok"},
    {Status::unaligned, "unaligned"},
    {Status::empty_range, "empty_range"},
    {Status::wraps, "wraps"},
    {Status::ipa_out_of_range, "ipa_out_of_range"},
    {Status::pa_out_of_range, "pa_out_of_range"},
    {Status::bad_attributes, "bad_attributes"},
    {Status::exists, "exists"},
    {Status::no_memory, "no_memory"},
    {Status::again, "again"},
    {Status::unsupported, "unsupported"},
    {Status::bad_geometry, "bad_geometry"},
    {Status::not_mapped, "not_mapped"},
    {Status::budget_exhausted, "budget_exhausted"},
    {Status::destroyed, "destroyed"},
    {Status::mismatched_cache, "mismatched_cache"},
    {Status::bad_flags, "bad_flags"},
    {Status::exec_on_device, "exec_on_device"},
    {Status::missing_feature, "missing_feature"},
    {Status::bitmap_too_small, "bitmap_too_small"},
    {Status::not_logging, "not_logging"},
    {Status::already_logging, "already_logging"},
    {Status::too_many_logged_ranges, "too_many_logged_ranges"},
};

constexpr auto kStatuses = [] {
  std::array<Status, std::size(kStatusNames)> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = kStatusNames[i].status;
  return out;
}();

struct MemTypeName {
  MemType mem;
  std::string_view name;
};
constexpr MemTypeName kMemTypeNames[] = {
    {MemType::normal_wb, "normal_wb"},
    {MemType::normal_nc, "normal_nc"},
    {MemType::device_ngnre, "device_ngnre"},
    {MemType::device_ngnrne, "device_ngnrne"},
    {MemType::normal_wb, "wb"},
    {MemType::normal_nc, "nc"},
    {MemType::device_ngnre, "device"},
};

struct CounterName {
  Counter counter;
  std::string_view name;
};
constexpr CounterName kCounterNames[] = {
    {Counter::tlbi, "tlbi"},
    {Counter::tlbi_ipa, "tlbi_ipa"},
    {Counter::tlbi_range, "tlbi_range"},
    {Counter::tlbi_vmid, "tlbi_vmid"},
    {Counter::tlbi_s1, "tlbi_s1"},
    {Counter::tlbi_local, "tlbi_local"},
    {Counter::dsb, "dsb"},
    {Counter::dsb_ishst, "dsb_ishst"},
    {Counter::dsb_ish, "dsb_ish"},
    {Counter::dsb_nshst, "dsb_nshst"},
    {Counter::dsb_nsh, "dsb_nsh"},
    {Counter::isb, "isb"},
    {Counter::dc_civac, "dc_civac"},
    {Counter::dc_lines, "dc_lines"},
    {Counter::ic_ivau, "ic_ivau"},
    {Counter::ic_ialluis, "ic_ialluis"},
};
constexpr auto kCounters = [] {
  std::array<Counter, std::size(kCounterNames)> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = kCounterNames[i].counter;
  return out;
}();

}  // namespace

std::string_view status_name(Status s) {
  for (const StatusName& n : kStatusNames) {
    if (n.status == s) return n.name;
  }
  return "?";
}

std::optional<Status> parse_status(std::string_view word) {
  for (const StatusName& n : kStatusNames) {
    if (n.name == word) return n.status;
  }
  return std::nullopt;
}

std::span<const Status> all_statuses() {
  return kStatuses;
}

std::span<const UnmapStrategy> unmap_strategies() {
  return kAllUnmapStrategies;
}

std::optional<UnmapStrategy> parse_strategy(std::string_view word) {
  for (UnmapStrategy s : kAllUnmapStrategies) {
    if (word == name(s)) return s;
  }
  return std::nullopt;
}

std::optional<Perm> parse_perm(std::string_view word) {
  if (word == "none") return Perm::none;
  if (word.empty() || word.size() > 3) return std::nullopt;
  Perm p = Perm::none;
  for (char c : word) {
    Perm bit = Perm::none;
    switch (c) {
      case 'r':
        bit = Perm::read;
        break;
      case 'w':
        bit = Perm::write;
        break;
      case 'x':
        bit = Perm::exec;
        break;
      case '-':
        continue;
      default:
        return std::nullopt;
    }
    if (has(p, bit)) return std::nullopt;
    p = p | bit;
  }
  return p;
}

std::string perm_string(Perm p) {
  std::string s = "---";
  if (has(p, Perm::read)) s[0] = 'r';
  if (has(p, Perm::write)) s[1] = 'w';
  if (has(p, Perm::exec)) s[2] = 'x';
  return s;
}

std::string_view memtype_name(MemType m) {
  for (const MemTypeName& n : kMemTypeNames) {
    if (n.mem == m) return n.name;
  }
  return "?";
}

std::optional<MemType> parse_memtype(std::string_view word) {
  for (const MemTypeName& n : kMemTypeNames) {
    if (n.name == word) return n.mem;
  }
  return std::nullopt;
}

std::string_view shareability_name(Shareability sh) {
  switch (sh) {
    case Shareability::non:
      return "non";
    case Shareability::outer:
      return "outer";
    case Shareability::inner:
      return "inner";
  }
  return "?";
}

std::string_view counter_name(Counter c) {
  for (const CounterName& n : kCounterNames) {
    if (n.counter == c) return n.name;
  }
  return "?";
}

std::optional<Counter> parse_counter(std::string_view word) {
  for (const CounterName& n : kCounterNames) {
    if (n.name == word) return n.counter;
  }
  return std::nullopt;
}

std::span<const Counter> all_counters() {
  return kCounters;
}

u64 counter_value(const MaintenanceCounters& m, Counter c) {
  switch (c) {
    case Counter::tlbi:
      return m.tlbi_total();
    case Counter::tlbi_ipa:
      return m.tlbi_ipa;
    case Counter::tlbi_range:
      return m.tlbi_range;
    case Counter::tlbi_vmid:
      return m.tlbi_vmid;
    case Counter::tlbi_s1:
      return m.tlbi_s1;
    case Counter::tlbi_local:
      return m.tlbi_local;
    case Counter::dsb_nshst:
      return m.dsb_nshst;
    case Counter::dsb_nsh:
      return m.dsb_nsh;
    case Counter::dsb:
      return m.dsb_total();
    case Counter::dsb_ishst:
      return m.dsb_ishst;
    case Counter::dsb_ish:
      return m.dsb_ish;
    case Counter::isb:
      return m.isb;
    case Counter::dc_civac:
      return m.dc_civac_calls;
    case Counter::dc_lines:
      return m.dc_civac_lines();
    case Counter::ic_ivau:
      return m.ic_ivau_calls;
    case Counter::ic_ialluis:
      return m.ic_ialluis;
  }
  return 0;
}

}  // namespace s2pt::scenario
