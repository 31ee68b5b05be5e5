// s2pt bench: builds a VM's stage-2 table, unmaps it with each strategy, and prints one row per
// case: host time of the unmap call (median of repeats), modelled hardware time (the hardware
// model's cost model, sim/include/s2pt/sim/cost_model.hpp, sources in docs/model.md),
// the maintenance issued, the table pages freed, and whether the result was verified (every IPA
// of the range looked up, one per leaf, and found unmapped; table pages back to the baseline).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cli.hpp"
#include "command.hpp"
#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/sim/cost_model.hpp"
#include "s2pt/table.hpp"
#include "scenario/names.hpp"

namespace s2pt::tool {
namespace {

using cli::size_name;

constexpr u64 kKiB = u64{1} << 10;
constexpr u64 kMiB = u64{1} << 20;
constexpr u64 kGiB = u64{1} << 30;

// What a row times: an unmap strategy or Table::destroy() on a populated VM, or populating it:
// one map call per leaf ("populate_map", as a VMM mapping page by page), or one handle_fault per
// leaf ("populate_fault", the stage-2 fault path under the read lock, --threads at once).
enum class MethodKind : u8 { unmap, destroy, populate_map, populate_fault };
struct Method {
  std::string_view name;
  MethodKind kind = MethodKind::unmap;
  UnmapStrategy strategy = UnmapStrategy::automatic;  // kind == unmap

  bool populates() const {
    return kind == MethodKind::populate_map || kind == MethodKind::populate_fault;
  }
  bool leaves_pages_to_reclaim() const {
    return kind == MethodKind::destroy ||
           (kind == MethodKind::unmap &&
            (strategy == UnmapStrategy::fast || strategy == UnmapStrategy::automatic));
  }
};

// The command line as CLI11 fills it.
struct Arguments {
  std::vector<u64> vm_sizes{kGiB, 16 * kGiB};
  std::vector<u64> backings{4 * kKiB, 2 * kMiB};
  std::vector<std::string> granules{"4K"};
  std::vector<std::string> strategies;
  std::string fwb;
  std::string tlbi_range;
  unsigned repeat = 3;
  unsigned threads = 1;
  unsigned ipa_bits = 0;  // 0: 40, or 48 where the VM needs it
  std::string json;
  std::string csv;
};

// What to run, resolved from the arguments.
struct Options {
  std::vector<u64> vm_sizes;
  std::vector<u64> backings;
  std::vector<Granule> granules;
  std::vector<Method> methods;
  std::vector<std::pair<bool, bool>> features;  // (fwb, tlbi_range)
  unsigned repeat = 3;
  unsigned threads = 1;
  unsigned ipa_bits = 0;
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
  u64 reclaim_ns = 0;    // the reclamation that followed (what destroy and fast leave to it)
  unsigned threads = 1;  // populate_fault: vCPU threads faulting at once
  u64 leaves = 0;        // populate rows: the leaves installed
  u64 table_pages = 0;   // populate rows: the table pages they needed
};

std::vector<std::string> method_words() {
  std::vector<std::string> words;
  for (UnmapStrategy st : kAllUnmapStrategies)
    words.emplace_back(name(st));
  words.emplace_back("destroy");
  words.emplace_back("populate_map");
  words.emplace_back("populate_fault");
  return words;
}

void add_options(CLI::App& app, Arguments& a) {
  app.add_option("--vm-size", a.vm_sizes, "VM sizes, e.g. 1G,16G (suffix K, M, G or T)")
      ->delimiter(',')
      ->transform(cli::byte_size())
      ->type_name("LIST")
      ->default_str("1G,16G");
  app.add_option("--backing", a.backings,
                 "leaf size backing the VM: 4K,2M,1G (16K: 16K,32M; 64K: 64K,512M)")
      ->delimiter(',')
      ->transform(cli::byte_size())
      ->check(cli::power_of_two())
      ->type_name("LIST")
      ->default_str("4K,2M");
  app.add_option("--granule", a.granules, "translation granules: 4K,16K,64K")
      ->delimiter(',')
      ->check(cli::granule_word())
      ->type_name("LIST")
      ->default_str("4K");
  app.add_option("--strategy", a.strategies,
                 "per_entry,deferred,fast,auto; destroy (time of Table::destroy); populate_map "
                 "(one map call per leaf) and populate_fault (one handle_fault per leaf) "
                 "[default: the four strategies]")
      ->delimiter(',')
      ->check(CLI::IsMember(method_words()))
      ->type_name("LIST");
  app.add_option("--fwb", a.fwb, "use FEAT_S2FWB: on, off or both")
      ->check(CLI::IsMember(cli::kSwitchWords));
  app.add_option("--tlbi-range", a.tlbi_range,
                 "use FEAT_TLBIRANGE: on, off or both [without --fwb and --tlbi-range: FWB and "
                 "range both on, then both off]")
      ->check(CLI::IsMember(cli::kSwitchWords));
  app.add_option("--repeat", a.repeat, "timed repeats per case, the median is reported")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  app.add_option("--threads", a.threads, "populate_fault: vCPU threads faulting at once")
      ->check(CLI::Range(1u, Reclaimer::kWalkerSlots))
      ->capture_default_str();
  app.add_option("--ipa-bits", a.ipa_bits,
                 "IPA size of the tables, 32 to 52 (default 40, or 48 where the VM needs it); "
                 "above 48 bits the PA size is 52 (FEAT_LPA2 with 4K and 16K, FEAT_LPA with 64K)")
      ->check(CLI::Range(32u, 52u));
  app.add_option("--json", a.json, "also write the rows to FILE as a JSON array")
      ->type_name("FILE");
  app.add_option("--csv", a.csv, "also write the rows to FILE as CSV")->type_name("FILE");
}

Options resolve(const Arguments& a) {
  Options o{.vm_sizes = a.vm_sizes,
            .backings = a.backings,
            .granules = {},
            .methods = {},
            .features = {},
            .repeat = a.repeat,
            .threads = a.threads,
            .ipa_bits = a.ipa_bits,
            .json = a.json,
            .csv = a.csv};
  for (const std::string& g : a.granules)
    o.granules.push_back(cli::granule_named(g));
  for (const std::string& s : a.strategies) {
    const std::optional<UnmapStrategy> st = scenario::parse_strategy(s);
    if (st) {
      o.methods.push_back(Method{name(*st), MethodKind::unmap, *st});
    } else if (s == "destroy") {
      o.methods.push_back(Method{"destroy", MethodKind::destroy});
    } else {
      o.methods.push_back(
          Method{s == "populate_map" ? "populate_map" : "populate_fault",
                 s == "populate_map" ? MethodKind::populate_map : MethodKind::populate_fault});
    }
  }
  if (o.methods.empty()) {
    for (UnmapStrategy st : kAllUnmapStrategies)
      o.methods.push_back(Method{name(st), MethodKind::unmap, st});
  }
  if (a.fwb.empty() && a.tlbi_range.empty()) {
    o.features = {{true, true}, {false, false}};
  } else {
    const std::vector<bool> fwb = cli::switch_values(a.fwb.empty() ? "both" : a.fwb);
    const std::vector<bool> range =
        cli::switch_values(a.tlbi_range.empty() ? "both" : a.tlbi_range);
    for (bool f : fwb) {
      for (bool r : range)
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
  Case(Granule granule, u64 backing, u64 vm_bytes, bool fwb, bool range, unsigned ipa_bits)
      : granule_(granule),
        backing_(backing),
        vm_{Ipa{kGiB}, vm_bytes},
        fwb_(fwb),
        range_(range),
        ipa_bits_(ipa_bits) {}

  // Returns false (and, if asked, says why) when the combination cannot be built.
  bool prepare(bool explain) {
    const unsigned ipa_bits = ipa_bits_ != 0                               ? ipa_bits_
                              : vm_.base.raw + vm_.bytes <= (u64{1} << 40) ? 40
                                                                           : 48;
    Result<Geometry> g = Geometry::make(granule_, ipa_bits, ipa_bits > 48 ? 52 : 48);
    if (!g.ok()) {
      if (explain) {
        std::fprintf(stderr, "s2pt bench: skipping %u-bit IPA with the %s granule: %s\n", ipa_bits,
                     size_name(granule_bytes(granule_)).c_str(), describe(g.status()));
      }
      return false;
    }
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

  Row run(const Method& method, unsigned repeat, unsigned threads) {
    std::vector<u64> times;
    std::vector<u64> reclaim_times;
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
            .verified = true,
            .threads = method.kind == MethodKind::populate_fault ? threads : 1};
    for (unsigned r = 0; r < repeat; ++r) {
      const bool last = r + 1 == repeat;
      const Times t =
          method.populates() ? populate_once(method, row, last) : run_once(method, row, last);
      times.push_back(t.call_ns);
      reclaim_times.push_back(t.reclaim_ns);
    }
    std::sort(times.begin(), times.end());
    std::sort(reclaim_times.begin(), reclaim_times.end());
    row.host_ns = times[times.size() / 2];
    row.reclaim_ns = reclaim_times[reclaim_times.size() / 2];
    // The hardware model's cost of what was issued, and of freeing the detached table pages.
    row.modeled_ns = static_cast<u64>(sim::modeled_ns(
        row.counters, sim::CostModel{},
        sim::PageCounts{.allocs = row.table_pages, .frees = row.table_pages_freed}));
    return row;
  }

 private:
  hosted::PagePoolConfig pool_config() const {
    // Table pages for the VM: one per last-level table and the levels above, with room to spare.
    const u64 leaf_tables =
        vm_.bytes / geometry_->level_bytes(*level_) / geometry_->entries_per_table() + 64;
    const u64 bytes = (leaf_tables * 2 + 64) * geometry_->page_bytes() + 16 * kMiB;
    return hosted::PagePoolConfig{.arena_bytes = (bytes + kMiB - 1) / kMiB * kMiB,
                                  .huge_pages = true};
  }

  struct Times {
    u64 call_ns;
    u64 reclaim_ns;
  };

  // Faults [first, first + leaves) in, one handle_fault per leaf, as one vCPU would.
  static bool fault_in(Table& table, Mm& pool, const Vm& vm, Pa pa, u64 backing, u64 first,
                       u64 leaves, unsigned slot) {
    PageCache cache(table.geometry().page_bytes(), slot);
    const unsigned needed = table.geometry().levels() - 1;
    bool ok = true;
    for (u64 i = first; i < first + leaves && ok; ++i) {
      if (cache.size() < needed && cache.topup(pool) != Status::ok) ok = false;
      const FaultRequest fault{.ipa = vm.base + i * backing,
                               .pa = pa + i * backing,
                               .leaf_bytes = backing,
                               .attrs = Attrs::normal(Perm::rw)};
      Result<FaultOutcome> r = table.handle_fault(fault, cache);
      while (!r.ok() && r.status() == Status::again)
        r = table.handle_fault(fault, cache);
      ok = ok && r.ok() && r.value() == FaultOutcome::mapped;
    }
    cache.drain(pool);
    return ok;
  }

  // The row's features on the counting backend, which records nothing: the benchmark times the
  // table code, and the core counts the maintenance itself.
  Features features() const {
    return Features{.fwb = fwb_, .tlbi_range = range_, .ttl = true, .lpa2 = true, .lpa = true};
  }
  Table create_table(Mm& pool, Arch& arch) const {
    Result<Table> created =
        Table::create(TableConfig{.geometry = *geometry_, .vmid = Vmid{1}}, pool, arch);
    if (!created.ok()) {
      std::fprintf(stderr, "s2pt bench: cannot create the table: %s\n", describe(created.status()));
      std::exit(1);
    }
    return std::move(created).value();
  }

  // Populates the VM from an empty table, timed; then checks every leaf and tears it down.
  Times populate_once(const Method& method, Row& row, bool verify) {
    hosted::PagePool pool(pool_config());
    counting::CountingArch arch(features(), /*record=*/false);
    Table table = create_table(pool, arch);
    const Pa pa{u64{1} << 40 | backing_};
    const u64 leaves = vm_.bytes / backing_;
    const MapFlags flags = level_->is_last() ? MapFlags::no_blocks : MapFlags::none;
    const TableStats before = table.stats();

    auto t0 = std::chrono::steady_clock::now();
    if (method.kind == MethodKind::populate_map) {
      for (u64 i = 0; i < leaves; ++i) {
        if (!table
                 .map({vm_.base + i * backing_, backing_}, pa + i * backing_,
                      Attrs::normal(Perm::rw), flags)
                 .ok()) {
          row.verified = false;
          break;
        }
      }
    } else if (row.threads == 1) {
      row.verified = fault_in(table, pool, vm_, pa, backing_, 0, leaves, 0) && row.verified;
    } else {
      // Each thread a slice of its own, as vCPUs touching their own memory; all under the read
      // side of the table lock (nothing exclusive runs meanwhile). The threads are created
      // before the clock starts and fault once all of them are ready: the row times faults, not
      // thread creation.
      std::vector<std::thread> vcpus;
      std::atomic<bool> all_ok{true};
      std::atomic<unsigned> ready{0};
      std::atomic<bool> go{false};
      const u64 slice = (leaves + row.threads - 1) / row.threads;
      for (unsigned t = 0; t < row.threads; ++t) {
        const u64 first = t * slice;
        const u64 count = first >= leaves ? 0 : std::min(slice, leaves - first);
        vcpus.emplace_back([&, t, first, count] {
          ready.fetch_add(1);
          while (!go.load(std::memory_order_acquire))
            std::this_thread::yield();
          if (!fault_in(table, pool, vm_, pa, backing_, first, count, t)) all_ok = false;
        });
      }
      while (ready.load() < row.threads)
        std::this_thread::yield();
      t0 = std::chrono::steady_clock::now();
      go.store(true, std::memory_order_release);
      for (std::thread& v : vcpus)
        v.join();
      row.verified = all_ok && row.verified;
    }
    const auto t1 = std::chrono::steady_clock::now();
    const TableStats after = table.stats();
    row.counters = after.maintenance - before.maintenance;
    row.leaves = leaves;
    row.table_pages = after.table_pages - before.table_pages;
    if (verify) {
      for (u64 i = 0; i < leaves; ++i) {
        const Result<Translation> t = table.lookup(vm_.base + i * backing_);
        if (!t.ok() || t->pa != pa + i * backing_ || t->size != backing_) {
          row.verified = false;
          break;
        }
      }
    }
    table.destroy();
    table.reclaim_all();
    if (pool.bytes_in_use() != 0) row.verified = false;
    return {static_cast<u64>(std::chrono::nanoseconds(t1 - t0).count()), 0};
  }
  Times run_once(const Method& method, Row& row, bool verify) {
    hosted::PagePool pool(pool_config());
    counting::CountingArch arch(features(), /*record=*/false);
    Table table = create_table(pool, arch);
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
    // Gives the pool one free page: the unmap takes one (its retire log), and fresh arena memory
    // would cost a host page fault zeroing 2 MiB inside the timed call, which a hypervisor's
    // allocator, handing out memory its linear map already covers, does not pay.
    if (Result<Pa> spare = pool.alloc_zeroed(geometry_->page_bytes()); spare.ok()) {
      pool.free(spare.value(), geometry_->page_bytes());
    }

    const auto t0 = std::chrono::steady_clock::now();
    if (method.kind == MethodKind::unmap) {
      const Progress p = table.unmap({vm_.base, vm_.bytes}, method.strategy);
      if (!p.ok()) row.verified = false;
    } else {
      table.destroy();
    }
    const auto t1 = std::chrono::steady_clock::now();
    const TableStats after = table.stats();
    row.counters = after.maintenance - before.maintenance;

    // Outside the exclusive section, as a hypervisor would at its next quiescent point.
    const auto r0 = std::chrono::steady_clock::now();
    table.reclaim_all();
    const auto r1 = std::chrono::steady_clock::now();
    row.table_pages_freed = before.table_pages - table.stats().table_pages;
    if (method.kind == MethodKind::destroy) {
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
    return {static_cast<u64>(std::chrono::nanoseconds(t1 - t0).count()),
            static_cast<u64>(std::chrono::nanoseconds(r1 - r0).count())};
  }

  Granule granule_;
  u64 backing_;
  Vm vm_;
  bool fwb_;
  bool range_;
  unsigned ipa_bits_;
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
  std::printf("%-14s %-4s %-7s %-6s %-3s %-5s %10s %10s %8s %6s %5s %8s %8s %8s %10s %8s %s\n",
              "strategy", "gran", "backing", "vm", "fwb", "range", "host", "modeled", "tlbi_ipa",
              "range", "vmid", "tlbi_s1", "dsb", "isb", "dc_lines", "freed", "verified");
}

void print_row(const Row& r) {
  const auto n = [](u64 v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "%-14s %-4s %-7s %-6s %-3s %-5s %10s %10s %8llu %6llu %5llu %8llu %8llu %8llu %10llu "
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

// One row's fields, in the order of the CSV columns and the JSON keys, typed as JSON values.
using Fields = std::vector<std::pair<const char*, nlohmann::ordered_json>>;

Fields fields(const Row& r) {
  return {
      {"strategy", r.strategy},
      {"granule", size_name(granule_bytes(r.granule))},
      {"backing", size_name(r.backing)},
      {"vm_bytes", r.vm_bytes},
      {"fwb", r.fwb},
      {"tlbi_range", r.tlbi_range},
      {"host_ns", r.host_ns},
      {"modeled_ns", r.modeled_ns},
      {"tlbi_ipa", r.counters.tlbi_ipa},
      {"tlbi_range_ops", r.counters.tlbi_range},
      {"tlbi_vmid", r.counters.tlbi_vmid},
      {"tlbi_s1", r.counters.tlbi_s1},
      {"dsb", r.counters.dsb_total()},
      {"isb", r.counters.isb},
      {"dc_civac_lines", r.counters.dc_civac_lines()},
      {"table_pages_freed", r.table_pages_freed},
      {"reclaim_ns", r.reclaim_ns},
      {"threads", r.threads},
      {"leaves", r.leaves},
      {"verified", r.verified},
  };
}

std::string to_json(const std::vector<Row>& rows) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Row& r : rows) {
    nlohmann::ordered_json row = nlohmann::ordered_json::object();
    for (auto& [key, value] : fields(r))
      row[key] = std::move(value);
    out.push_back(std::move(row));
  }
  return out.dump(2) + "\n";
}

std::string to_csv(const std::vector<Row>& rows) {
  std::string out;
  for (const auto& [key, value] : fields(Row{}))
    out += std::string(out.empty() ? "" : ",") + key;
  out += "\n";
  for (const Row& r : rows) {
    bool first = true;
    for (const auto& [key, value] : fields(r)) {
      out += first ? "" : ",";
      first = false;
      out += value.is_string() ? value.get<std::string>() : value.dump();
    }
    out += "\n";
  }
  return out;
}

int bench(const Options& o) {
  std::vector<Case> cases;
  for (Granule g : o.granules) {
    for (u64 backing : o.backings) {
      for (u64 vm : o.vm_sizes) {
        for (auto [fwb, range] : o.features) {
          Case c(g, backing, vm, fwb, range, o.ipa_bits);
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
      "s2pt bench: host time = median of %u calls; modeled = the hardware model's cost "
      "model (docs/model.md)\n",
      o.repeat);
  print_header();
  std::vector<Row> rows;
  for (Case& c : cases) {
    for (const Method& m : o.methods) {
      rows.push_back(c.run(m, o.repeat, o.threads));
      const Row& r = rows.back();
      print_row(r);
      if (m.leaves_pages_to_reclaim()) {
        std::printf("          (%s: reclamation afterwards took %s)\n", r.strategy.c_str(),
                    duration(r.reclaim_ns).c_str());
      }
      if (m.populates()) {
        std::printf(
            "          (%s, %u thread(s): %llu leaves, %llu table pages, %.1f ns a leaf)\n",
            r.strategy.c_str(), r.threads, static_cast<unsigned long long>(r.leaves),
            static_cast<unsigned long long>(r.table_pages),
            r.leaves ? static_cast<double>(r.host_ns) / static_cast<double>(r.leaves) : 0.0);
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

}  // namespace

Command add_bench(CLI::App& tool) {
  CLI::App* app =
      tool.add_subcommand("bench", "unmap a VM's table with each strategy, side by side");
  auto arguments = std::make_shared<Arguments>();
  add_options(*app, *arguments);
  return {app, [arguments] { return bench(resolve(*arguments)); }};
}

}  // namespace s2pt::tool
