// s2pt bench: builds a VM's stage-2 table, unmaps it with each strategy, and prints one row per
// case: host time of the unmap call (median of repeats), modelled hardware time (the hardware
// model's cost model, sim/include/s2pt/sim/cost_model.hpp, sources in docs/model.md),
// the maintenance issued, the table pages freed, and whether the result was verified (every IPA
// of the range looked up, one per leaf, and found unmapped; table pages back to the baseline).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "command.hpp"
#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/sim/cost_model.hpp"
#include "s2pt/table.hpp"

namespace s2pt::tool {
namespace {

constexpr u64 kKiB = u64{1} << 10;
constexpr u64 kMiB = u64{1} << 20;
constexpr u64 kGiB = u64{1} << 30;
constexpr u64 kTiB = u64{1} << 40;

// "destroy" is not an unmap strategy: the row times Table::destroy() on the same VM.
struct Method {
  std::string_view name;
  std::optional<UnmapStrategy> strategy;  // none: destroy
};

struct Options {
  std::vector<u64> vm_sizes;
  std::vector<u64> backings;
  std::vector<Granule> granules;
  std::vector<Method> methods;
  std::vector<std::pair<bool, bool>> features;  // (fwb, tlbi_range)
  unsigned repeat = 3;
  std::string json;
  std::string csv;
};

struct Row {
  std::string strategy;
  Granule granule;
  u64 backing;
  u64 vm_bytes;
  bool fwb;
  bool tlbi_range;
  u64 host_ns;
  u64 modeled_ns;
  MaintenanceCounters counters;
  u64 table_pages_freed;
  bool verified;
  u64 reclaim_ns = 0;  // destroy rows: time of the reclamation that followed
};

[[noreturn]] void usage_error(const char* fmt, const char* what) {
  std::fprintf(stderr, "s2pt bench: ");
  std::fprintf(stderr, fmt, what);
  std::fprintf(stderr, "\n(run 's2pt bench --help' for the options)\n");
  std::exit(2);
}

void print_help() {
  std::printf(
      "usage: s2pt bench [options]\n"
      "  --vm-size LIST      VM sizes, e.g. 1G,16G (suffix K, M, G or T)   [1G,16G]\n"
      "  --backing LIST      leaf size backing the VM: 4K,2M,1G (16K,32M; 64K,512M) [4K,2M]\n"
      "  --granule LIST      4K,16K,64K                                    [4K]\n"
      "  --strategy LIST     per_entry,deferred,fast,auto (and destroy: time of Table::destroy)\n"
      "                                                                    [all four strategies]\n"
      "  --fwb on|off|both   use FEAT_S2FWB\n"
      "  --tlbi-range on|off|both  use FEAT_TLBIRANGE\n"
      "                      [without either option: FWB+range on, and both off]\n"
      "  --repeat N          timed repeats per case, median reported       [3]\n"
      "  --json FILE         also write the rows as a JSON array\n"
      "  --csv FILE          also write the rows as CSV\n");
}

std::vector<std::string> split(std::string_view list) {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (;;) {
    const std::size_t comma = list.find(',', at);
    out.emplace_back(list.substr(at, comma == std::string_view::npos ? list.npos : comma - at));
    if (comma == std::string_view::npos) break;
    at = comma + 1;
  }
  return out;
}

std::optional<u64> parse_size(const std::string& s) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(s.c_str(), &end, 10);
  const std::string_view unit(end);
  u64 scale = 1;
  if (unit == "K" || unit == "k")
    scale = kKiB;
  else if (unit == "M" || unit == "m")
    scale = kMiB;
  else if (unit == "G" || unit == "g")
    scale = kGiB;
  else if (unit == "T" || unit == "t")
    scale = kTiB;
  else if (!unit.empty())
    return std::nullopt;
  if (n == 0 || n > (~u64{0} / scale)) return std::nullopt;
  return n * scale;
}

std::string size_name(u64 bytes) {
  const char* units[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (u < 4 && bytes % 1024 == 0 && bytes >= 1024) {
    bytes /= 1024;
    ++u;
  }
  return std::to_string(bytes) + units[u];
}

std::vector<bool> parse_switch(const char* option, std::string_view v) {
  if (v == "on") return {true};
  if (v == "off") return {false};
  if (v == "both") return {true, false};
  usage_error("%s takes on, off or both", option);
}

Options parse(std::span<char* const> args) {
  Options o;
  std::optional<std::vector<bool>> fwb;
  std::optional<std::vector<bool>> range;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      print_help();
      std::exit(0);
    }
    if (arg.substr(0, 2) != "--") usage_error("unexpected argument '%s'", args[i]);
    if (i + 1 >= args.size()) usage_error("%s needs a value", args[i]);
    const char* value = args[++i];
    if (arg == "--vm-size") {
      for (const std::string& s : split(value)) {
        const std::optional<u64> v = parse_size(s);
        if (!v) usage_error("bad VM size '%s'", s.c_str());
        o.vm_sizes.push_back(*v);
      }
    } else if (arg == "--backing") {
      for (const std::string& s : split(value)) {
        const std::optional<u64> v = parse_size(s);
        if (!v || (*v & (*v - 1)) != 0) usage_error("bad backing size '%s'", s.c_str());
        o.backings.push_back(*v);
      }
    } else if (arg == "--granule") {
      for (const std::string& s : split(value)) {
        if (s == "4K")
          o.granules.push_back(Granule::k4);
        else if (s == "16K")
          o.granules.push_back(Granule::k16);
        else if (s == "64K")
          o.granules.push_back(Granule::k64);
        else
          usage_error("bad granule '%s' (4K, 16K or 64K)", s.c_str());
      }
    } else if (arg == "--strategy") {
      for (const std::string& s : split(value)) {
        bool found = false;
        for (UnmapStrategy st : kAllUnmapStrategies) {
          if (s == name(st)) {
            o.methods.push_back(Method{name(st), st});
            found = true;
          }
        }
        if (s == "destroy") {
          o.methods.push_back(Method{"destroy", std::nullopt});
          found = true;
        }
        if (!found) usage_error("unknown strategy '%s'", s.c_str());
      }
    } else if (arg == "--fwb") {
      fwb = parse_switch("--fwb", value);
    } else if (arg == "--tlbi-range") {
      range = parse_switch("--tlbi-range", value);
    } else if (arg == "--repeat") {
      const std::optional<u64> n = parse_size(value);
      if (!n || *n > 1000) usage_error("--repeat takes a number from 1 to 1000, not '%s'", value);
      o.repeat = static_cast<unsigned>(*n);
    } else if (arg == "--json") {
      o.json = value;
    } else if (arg == "--csv") {
      o.csv = value;
    } else {
      usage_error("unknown option '%s'", args[i - 1]);
    }
  }
  if (o.vm_sizes.empty()) o.vm_sizes = {kGiB, 16 * kGiB};
  if (o.backings.empty()) o.backings = {4 * kKiB, 2 * kMiB};
  if (o.granules.empty()) o.granules = {Granule::k4};
  if (o.methods.empty()) {
    for (UnmapStrategy st : kAllUnmapStrategies)
      o.methods.push_back(Method{name(st), st});
  }
  if (!fwb && !range) {
    o.features = {{true, true}, {false, false}};
  } else {
    for (bool f : fwb.value_or(std::vector<bool>{true, false})) {
      for (bool r : range.value_or(std::vector<bool>{true, false}))
        o.features.emplace_back(f, r);
    }
  }
  return o;
}

// The level whose leaves are `backing` bytes, if the granule has such leaves.
std::optional<Level> leaf_level(const Geometry& g, u64 backing) {
  for (int l = 1; l <= Level::kLast; ++l) {
    if (g.leaf_allowed(Level{l}) && g.level_bytes(Level{l}) == backing) return Level{l};
  }
  return std::nullopt;
}

struct Vm {
  Ipa base;
  u64 bytes;
};

class Case {
 public:
  Case(Granule granule, u64 backing, u64 vm_bytes, bool fwb, bool range)
      : granule_(granule), backing_(backing), vm_{Ipa{kGiB}, vm_bytes}, fwb_(fwb), range_(range) {}

  // Returns false (and, if asked, says why) when the combination cannot be built.
  bool prepare(bool explain) {
    const unsigned ipa_bits = vm_.base.raw + vm_.bytes <= (u64{1} << 40) ? 40 : 48;
    Result<Geometry> g = Geometry::make(granule_, ipa_bits, 48);
    if (!g.ok()) return false;
    geometry_ = g.value();
    level_ = leaf_level(*geometry_, backing_);
    if (!level_) {
      if (explain) {
        std::fprintf(stderr, "s2pt bench: skipping %s backing with the %s granule (no such leaf)\n",
                     size_name(backing_).c_str(), size_name(granule_bytes(granule_)).c_str());
      }
      return false;
    }
    if (vm_.bytes % backing_ != 0 || vm_.bytes + vm_.base.raw > geometry_->ipa_limit()) {
      if (explain) {
        std::fprintf(stderr, "s2pt bench: skipping VM size %s with %s backing\n",
                     size_name(vm_.bytes).c_str(), size_name(backing_).c_str());
      }
      return false;
    }
    return true;
  }

  Row run(const Method& method, unsigned repeat) {
    std::vector<u64> times;
    Row row{.strategy = std::string(method.name),
            .granule = granule_,
            .backing = backing_,
            .vm_bytes = vm_.bytes,
            .fwb = fwb_,
            .tlbi_range = range_,
            .host_ns = 0,
            .modeled_ns = 0,
            .counters = {},
            .table_pages_freed = 0,
            .verified = true};
    for (unsigned r = 0; r < repeat; ++r) {
      const bool last = r + 1 == repeat;
      times.push_back(run_once(method, row, last));
    }
    std::sort(times.begin(), times.end());
    row.host_ns = times[times.size() / 2];
    // The hardware model's cost of what was issued, and of freeing the detached table pages.
    row.modeled_ns = static_cast<u64>(sim::modeled_ns(
        row.counters, sim::CostModel{}, sim::PageCounts{.frees = row.table_pages_freed}));
    return row;
  }

 private:
  hosted::PagePoolConfig pool_config() const {
    // Table pages for the VM: one per last-level table and the levels above, with room to spare.
    const u64 leaf_tables =
        vm_.bytes / geometry_->level_bytes(*level_) / geometry_->entries_per_table() + 64;
    const u64 bytes = (leaf_tables * 2 + 64) * geometry_->page_bytes() + 16 * kMiB;
    return hosted::PagePoolConfig{.arena_bytes = (bytes + kMiB - 1) / kMiB * kMiB};
  }

  u64 run_once(const Method& method, Row& row, bool verify) {
    hosted::PagePool pool(pool_config());
    counting::CountingArch arch(Features{.fwb = fwb_, .tlbi_range = range_, .ttl = true},
                                /*record=*/false);
    Result<Table> created =
        Table::create(TableConfig{.geometry = *geometry_, .vmid = Vmid{1}}, pool, arch);
    if (!created.ok()) {
      std::fprintf(stderr, "s2pt bench: cannot create the table: %s\n", describe(created.status()));
      std::exit(1);
    }
    Table& table = created.value();
    const u64 baseline = table.stats().table_pages;
    // Backing memory at a PA aligned to the backing size but not to the next larger block, so
    // that the map builds leaves of exactly that size. Mapped in one call: the map operation
    // creates the table pages.
    const Pa pa{u64{1} << 40 | backing_};
    const MapFlags flags = level_->is_last() ? MapFlags::no_blocks : MapFlags::none;
    const Progress mapped = table.map({vm_.base, vm_.bytes}, pa, Attrs::normal(Perm::rw), flags);
    if (!mapped.ok()) {
      std::fprintf(stderr, "s2pt bench: mapping the VM failed: %s\n", describe(mapped.status));
      std::exit(1);
    }
    const TableStats before = table.stats();

    const auto t0 = std::chrono::steady_clock::now();
    if (method.strategy) {
      const Progress p = table.unmap({vm_.base, vm_.bytes}, *method.strategy);
      if (!p.ok()) row.verified = false;
    } else {
      table.destroy();
    }
    const auto t1 = std::chrono::steady_clock::now();
    const TableStats after = table.stats();
    row.counters = after.maintenance - before.maintenance;
    row.table_pages_freed = before.table_pages - after.table_pages;

    if (!method.strategy) {
      const auto r0 = std::chrono::steady_clock::now();
      table.reclaim_all();
      const auto r1 = std::chrono::steady_clock::now();
      row.reclaim_ns = static_cast<u64>(std::chrono::nanoseconds(r1 - r0).count());
      row.table_pages_freed = before.table_pages - table.stats().table_pages;
      if (pool.bytes_in_use() != 0) row.verified = false;
    } else if (table.stats().table_pages != baseline) {
      row.verified = false;
    }
    if (verify) {
      for (u64 off = 0; off < vm_.bytes; off += backing_) {
        if (table.lookup(vm_.base + off).ok()) {
          row.verified = false;
          break;
        }
      }
    }
    return static_cast<u64>(std::chrono::nanoseconds(t1 - t0).count());
  }

  Granule granule_;
  u64 backing_;
  Vm vm_;
  bool fwb_;
  bool range_;
  std::optional<Geometry> geometry_;
  std::optional<Level> level_;
};

std::string duration(u64 ns) {
  char buf[32];
  if (ns < 10'000)
    std::snprintf(buf, sizeof buf, "%llu ns", static_cast<unsigned long long>(ns));
  else if (ns < 10'000'000)
    std::snprintf(buf, sizeof buf, "%.1f us", static_cast<double>(ns) / 1e3);
  else if (ns < 10'000'000'000)
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}

void print_header() {
  std::printf("%-9s %-4s %-7s %-6s %-3s %-5s %10s %10s %8s %6s %5s %8s %8s %8s %10s %8s %s\n",
              "strategy", "gran", "backing", "vm", "fwb", "range", "host", "modeled", "tlbi_ipa",
              "range", "vmid", "tlbi_s1", "dsb", "isb", "dc_lines", "freed", "verified");
}

void print_row(const Row& r) {
  const auto n = [](u64 v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "%-9s %-4s %-7s %-6s %-3s %-5s %10s %10s %8llu %6llu %5llu %8llu %8llu %8llu %10llu "
      "%8llu %s\n",
      r.strategy.c_str(), size_name(granule_bytes(r.granule)).c_str(), size_name(r.backing).c_str(),
      size_name(r.vm_bytes).c_str(), r.fwb ? "on" : "off", r.tlbi_range ? "on" : "off",
      duration(r.host_ns).c_str(), duration(r.modeled_ns).c_str(), n(r.counters.tlbi_ipa),
      n(r.counters.tlbi_range), n(r.counters.tlbi_vmid), n(r.counters.tlbi_s1),
      n(r.counters.dsb_total()), n(r.counters.isb), n(r.counters.dc_civac_lines()),
      n(r.table_pages_freed), r.verified ? "yes" : "NO");
  std::fflush(stdout);
}

bool write_file(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "s2pt bench: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  std::fputs(text.c_str(), f);
  return std::fclose(f) == 0;
}

struct Field {
  const char* key;
  std::string value;
  bool quoted;
};

std::vector<Field> fields(const Row& r) {
  const auto num = [](u64 v) { return std::to_string(v); };
  const auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
  return {
      {"strategy", r.strategy, true},
      {"granule", size_name(granule_bytes(r.granule)), true},
      {"backing", size_name(r.backing), true},
      {"vm_bytes", num(r.vm_bytes), false},
      {"fwb", flag(r.fwb), false},
      {"tlbi_range", flag(r.tlbi_range), false},
      {"host_ns", num(r.host_ns), false},
      {"modeled_ns", num(r.modeled_ns), false},
      {"tlbi_ipa", num(r.counters.tlbi_ipa), false},
      {"tlbi_range_ops", num(r.counters.tlbi_range), false},
      {"tlbi_vmid", num(r.counters.tlbi_vmid), false},
      {"tlbi_s1", num(r.counters.tlbi_s1), false},
      {"dsb", num(r.counters.dsb_total()), false},
      {"isb", num(r.counters.isb), false},
      {"dc_civac_lines", num(r.counters.dc_civac_lines()), false},
      {"table_pages_freed", num(r.table_pages_freed), false},
      {"verified", flag(r.verified), false},
  };
}

std::string to_json(const std::vector<Row>& rows) {
  std::string out = "[\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out += "  {";
    bool first = true;
    for (const Field& f : fields(rows[i])) {
      out += first ? "" : ", ";
      first = false;
      out += "\"" + std::string(f.key) + "\": ";
      out += f.quoted ? "\"" + f.value + "\"" : f.value;
    }
    out += i + 1 < rows.size() ? "},\n" : "}\n";
  }
  return out + "]\n";
}

std::string to_csv(const std::vector<Row>& rows) {
  std::string out;
  bool first = true;
  for (const Field& f : fields(Row{})) {
    out += first ? "" : ",";
    first = false;
    out += f.key;
  }
  out += "\n";
  for (const Row& r : rows) {
    first = true;
    for (const Field& f : fields(r)) {
      out += first ? "" : ",";
      first = false;
      out += f.value;
    }
    out += "\n";
  }
  return out;
}

}  // namespace

int bench_main(std::span<char* const> args) {
  const Options o = parse(args);
  std::vector<Case> cases;
  for (Granule g : o.granules) {
    for (u64 backing : o.backings) {
      for (u64 vm : o.vm_sizes) {
        for (auto [fwb, range] : o.features) {
          Case c(g, backing, vm, fwb, range);
          if (c.prepare(/*explain=*/fwb == o.features[0].first && range == o.features[0].second)) {
            cases.push_back(c);
          }
        }
      }
    }
  }
  if (cases.empty()) {
    std::fprintf(stderr, "s2pt bench: no case can be built from these options\n");
    return 2;
  }
  std::printf(
      "s2pt bench: host time = median of %u unmap calls; modeled = the hardware model's cost "
      "model (docs/model.md)\n",
      o.repeat);
  print_header();
  std::vector<Row> rows;
  for (Case& c : cases) {
    for (const Method& m : o.methods) {
      rows.push_back(c.run(m, o.repeat));
      print_row(rows.back());
      if (!m.strategy) {
        std::printf("          (destroy: reclamation afterwards took %s)\n",
                    duration(rows.back().reclaim_ns).c_str());
      }
    }
  }
  bool ok = true;
  if (!o.json.empty()) ok &= write_file(o.json, to_json(rows));
  if (!o.csv.empty()) ok &= write_file(o.csv, to_csv(rows));
  for (const Row& r : rows)
    ok &= r.verified;
  return ok ? 0 : 1;
}

}  // namespace s2pt::tool
