// s2pt dirty-log: dirty logging as a migration drives it, modelled on Linux's
// dirty_log_perf_test. A VM of --vm-size, mapped with --backing leaves, is logged (blocks split
// lazily by the first write to them, or eagerly at enable); then, for --iterations rounds,
// --vcpus threads each write every page of their slice once (a write fault each under the read
// side of the lock: the write-protection mechanism), and the migration thread harvests with one
// clear_dirty over the whole VM. Each row reports the host time of enable, of the write faults
// and of the harvest, the faults taken, and the harvest's maintenance; the counting backend
// executes no instruction, so host time is the table code's own cost, and the model's cost
// model prices what was issued.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "command.hpp"
#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/sim/cost_model.hpp"
#include "s2pt/sim/machine.hpp"
#include "s2pt/sim/sim_arch.hpp"
#include "s2pt/sim/sim_mm.hpp"
#include "s2pt/table.hpp"
#include "s2pt/table_lock.hpp"

namespace s2pt::tool {
namespace {

constexpr u64 kMiB = u64{1} << 20;
constexpr Ipa kVmBase{u64{1} << 32};
constexpr Pa kMemory{u64{1} << 40};

struct Options {
  u64 vm_bytes = u64{1} << 30;
  u64 backing = 4096;
  std::vector<BlockSplitting> splitting{BlockSplitting::lazy, BlockSplitting::eager};
  unsigned vcpus = 2;
  unsigned iterations = 3;
  std::vector<bool> fwb{true};
  std::vector<DirtyTracking> tracking{DirtyTracking::write_protect};
  bool model = false;  // the hardware model instead of the counting backend
  std::string json_path;
};

struct Round {
  u64 faults = 0;
  u64 fault_ns = 0;
  u64 clear_ns = 0;
  u64 pages_harvested = 0;
  MaintenanceCounters clear_counters;
};

struct LogRun {
  DirtyTracking tracking = DirtyTracking::write_protect;
  BlockSplitting splitting = BlockSplitting::lazy;
  bool fwb = true;
  u64 enable_ns = 0;
  MaintenanceCounters enable_counters;
  std::vector<Round> rounds;
  bool verified = true;
};

const char* name(BlockSplitting s) {
  return s == BlockSplitting::eager ? "eager" : "lazy";
}

u64 ns_since(std::chrono::steady_clock::time_point t0) {
  return static_cast<u64>(std::chrono::nanoseconds(std::chrono::steady_clock::now() - t0).count());
}

// The measured part, whatever the backend: enable, then rounds of every vCPU writing its slice
// (Backend::write: one page, counting the faults it took) and one harvest of the whole VM
// (Backend::harvest wraps the call; Backend::reported sees what it reported).
template <class Backend>
void drive(const Options& o, Table& table, Backend& backend, DirtyTracking tracking,
           BlockSplitting splitting, LogRun& result) {
  const u64 page = table.geometry().page_bytes();
  const u64 pages = o.vm_bytes / page;
  const IpaRange vm{kVmBase, o.vm_bytes};
  const MapFlags flags = o.backing == page ? MapFlags::no_blocks : MapFlags::none;
  if (!table.map(vm, kMemory, Attrs::normal(Perm::rw), flags).ok()) {
    std::fprintf(stderr, "s2pt dirty-log: cannot map the VM\n");
    std::exit(1);
  }
  std::vector<u64> dirty((pages + 63) / 64, 0);
  std::vector<u64> mask((pages + 63) / 64, ~u64{0});
  std::vector<u64> cleared((pages + 63) / 64, 0);
  MaintenanceCounters before = table.stats().maintenance;
  auto t0 = std::chrono::steady_clock::now();
  const Progress enabled =
      table.enable_dirty_log(vm, DirtyBitmap{dirty.data(), pages},
                             DirtyLogOptions{.tracking = tracking, .blocks = splitting});
  result.enable_ns = ns_since(t0);
  result.enable_counters = table.stats().maintenance - before;
  if (!enabled.ok()) {
    std::fprintf(stderr, "s2pt dirty-log: enable failed: %s\n", describe(enabled.status));
    std::exit(1);
  }
  TableLock lock;
  const u64 slice = (pages + o.vcpus - 1) / o.vcpus;
  for (unsigned it = 0; it < o.iterations; ++it) {
    Round round;
    std::atomic<u64> faults{0};
    std::atomic<bool> ok{true};
    t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> vcpus;
    for (unsigned v = 0; v < o.vcpus; ++v) {
      vcpus.emplace_back([&, v] {
        PageCache cache(page, v);
        const u64 last = std::min(pages, v * slice + slice);
        u64 mine = 0;
        for (u64 i = v * slice; i < last && ok; ++i) {
          if (!backend.write(v, i, cache, lock, mine)) ok = false;
        }
        faults += mine;
        backend.drain(cache);
      });
    }
    for (std::thread& t : vcpus)
      t.join();
    round.fault_ns = ns_since(t0);
    round.faults = faults;
    before = table.stats().maintenance;
    t0 = std::chrono::steady_clock::now();
    Progress harvested{};
    backend.harvest([&] {
      ExclusiveTableLock writer(lock);
      harvested = table.clear_dirty(vm, DirtyBitmap{mask.data(), pages},
                                    DirtyBitmap{cleared.data(), pages});
    });
    round.clear_ns = ns_since(t0);
    round.clear_counters = table.stats().maintenance - before;
    std::vector<Ipa> reported;
    for (u64 i = 0; i < pages; ++i) {
      if ((cleared[i / 64] >> (i % 64)) & 1) reported.push_back(kVmBase + i * page);
    }
    backend.reported(reported);
    round.pages_harvested = reported.size();
    // Every page was written this round: every page must be harvested, and none left dirty.
    result.verified = result.verified && ok && harvested.ok() && round.pages_harvested == pages;
    for (u64 w : dirty)
      result.verified = result.verified && w == 0;
    result.rounds.push_back(round);
  }
  table.destroy();
  table.reclaim_all();
}

// A table from `mm` and `arch`, or the command fails.
Table create_table(Mm& mm, Arch& arch) {
  s2pt::Result<Table> created =
      Table::create(TableConfig{.geometry = Geometry::make(Granule::k4, 40, 44).value(),
                                .vmid = Vmid{1},
                                .use_hw_dirty = true},
                    mm, arch);
  if (!created.ok()) {
    std::fprintf(stderr, "s2pt dirty-log: cannot create the table: %s\n",
                 describe(created.status()));
    std::exit(1);
  }
  return static_cast<s2pt::Result<Table>&&>(created).value();
}

u64 arena_bytes(const Options& o) {
  // Table pages: every page mapped alone needs one last-level table per 512 pages.
  const u64 bytes = (o.vm_bytes / 4096 / 512 * 2 + 256) * 4096 + 16 * kMiB;
  return (bytes + kMiB - 1) / kMiB * kMiB;
}

// The counting backend: a vCPU's write is its write fault, resolved by handle_fault.
struct CountingBackend {
  Mm& mm;
  Table* table = nullptr;
  bool write(unsigned vcpu, u64 i, PageCache& cache, TableLock& lock, u64& faults) {
    const u64 page = table->geometry().page_bytes();
    if (cache.size() < table->geometry().levels() - 1 && cache.topup(mm) != Status::ok) {
      return false;
    }
    const FaultRequest write{.ipa = kVmBase + i * page,
                             .pa = kMemory + i * page,
                             .leaf_bytes = page,
                             .attrs = Attrs::normal(Perm::rw)};
    s2pt::Result<FaultOutcome> r = Status::again;
    while (!r.ok() && r.status() == Status::again) {
      SharedTableLock reader(lock, vcpu);
      r = table->handle_fault(write, cache);
    }
    ++faults;
    return r.ok();
  }
  void drain(PageCache& cache) { cache.drain(mm); }
  template <class Call>
  void harvest(Call&& call) {
    call();
  }
  void reported(const std::vector<Ipa>&) {}
};

// The hardware model: a vCPU's write is a guest access, which faults (write protection) or is
// recorded by the model's walker (hardware dirty state); host time includes the model's.
struct ModelBackend {
  sim::SimMm& mm;
  sim::Machine& machine;
  Table* table = nullptr;
  bool write(unsigned vcpu, u64 i, PageCache& cache, TableLock& lock, u64& faults) {
    sim::SimArch::Binding on_cpu(vcpu);  // the fault path's maintenance runs on this CPU
    const u64 page = table->geometry().page_bytes();
    const Ipa ipa = kVmBase + i * page;
    sim::Access a = machine.access(vcpu, table->vmid(), ipa, true);
    while (a.result == sim::AccessResult::permission_fault ||
           a.result == sim::AccessResult::translation_fault) {
      ++faults;
      if (cache.size() < table->geometry().levels() - 1 && cache.topup(mm) != Status::ok) {
        return false;
      }
      {
        SharedTableLock reader(lock, vcpu);
        const s2pt::Result<FaultOutcome> r = table->handle_fault({.ipa = ipa,
                                                                  .pa = kMemory + i * page,
                                                                  .leaf_bytes = page,
                                                                  .attrs = Attrs::normal(Perm::rw)},
                                                                 cache);
        if (!r.ok() && r.status() != Status::again) return false;
      }
      a = machine.access(vcpu, table->vmid(), ipa, true);
    }
    return a.result == sim::AccessResult::ok;
  }
  void drain(PageCache& cache) { cache.drain(mm); }
  template <class Call>
  void harvest(Call&& call) {
    sim::SimArch::Binding on_cpu(0);
    call();
  }
  void reported(const std::vector<Ipa>& pages) { machine.harvested(pages); }
};

LogRun run_one(const Options& o, DirtyTracking tracking, BlockSplitting splitting, bool fwb) {
  LogRun result;
  result.tracking = tracking;
  result.splitting = splitting;
  result.fwb = fwb;
  if (!o.model) {
    hosted::PagePool pool(
        hosted::PagePoolConfig{.arena_bytes = arena_bytes(o), .huge_pages = true});
    counting::CountingArch arch(Features{.fwb = fwb, .tlbi_range = true, .ttl = true}, false);
    Table table = create_table(pool, arch);
    CountingBackend backend{.mm = pool, .table = &table};
    drive(o, table, backend, tracking, splitting, result);
    result.verified = result.verified && pool.bytes_in_use() == 0;
    return result;
  }
  sim::SimMm mm(arena_bytes(o));
  sim::MachineConfig mc;
  mc.cpus = o.vcpus;
  mc.features =
      Features{.fwb = fwb, .tlbi_range = true, .ttl = true, .dic = true, .hw_dirty = true};
  sim::Machine machine(mc, mm);
  sim::SimArch arch(machine);
  Table table = create_table(mm, arch);
  machine.attach(table);
  machine.watch_writes(table.vmid(), IpaRange{kVmBase, o.vm_bytes});
  ModelBackend backend{.mm = mm, .machine = machine, .table = &table};
  drive(o, table, backend, tracking, splitting, result);
  result.verified = result.verified && machine.lost_writes().empty();
  return result;
}

u64 modeled(const MaintenanceCounters& c) {
  return static_cast<u64>(sim::modeled_ns(c, sim::CostModel{}, sim::PageCounts{}));
}

int run(const Options& o) {
  std::printf("s2pt dirty-log: %s VM, %s backing, %u vCPU threads, %u rounds, %s (FWB+range)\n",
              cli::size_name(o.vm_bytes).c_str(), cli::size_name(o.backing).c_str(), o.vcpus,
              o.iterations,
              o.model ? "hardware model (host time includes the model's)" : "counting backend");
  std::printf("%-8s %-6s %-4s %5s %12s %10s %10s %12s %12s %8s %8s %10s %s\n", "tracking", "split",
              "fwb", "round", "enable", "faults", "ns/fault", "clear", "ns/page", "TLBIs", "DSBs",
              "model-clear", "ok");
  nlohmann::json rows = nlohmann::json::array();
  bool all_ok = true;
  for (const DirtyTracking tracking : o.tracking) {
    for (const BlockSplitting s : o.splitting) {
      // A block has one dirty state: the hardware mechanism splits eagerly.
      if (tracking == DirtyTracking::hardware && s == BlockSplitting::lazy) continue;
      for (const bool fwb : o.fwb) {
        const LogRun r = run_one(o, tracking, s, fwb);
        all_ok = all_ok && r.verified;
        for (unsigned i = 0; i < r.rounds.size(); ++i) {
          const Round& round = r.rounds[i];
          const u64 tlbis = round.clear_counters.tlbi_total();
          const u64 dsbs = round.clear_counters.dsb_total();
          std::printf(
              "%-8s %-6s %-4s %5u %9.3f ms %10llu %10.1f %9.3f ms %12.2f %8llu %8llu %7.1f us %s\n",
              tracking == DirtyTracking::hardware ? "hardware" : "wp", name(s), fwb ? "on" : "off",
              i, static_cast<double>(r.enable_ns) / 1e6,
              static_cast<unsigned long long>(round.faults),
              round.faults ? static_cast<double>(round.fault_ns) * o.vcpus /
                                 static_cast<double>(round.faults)
                           : 0.0,
              static_cast<double>(round.clear_ns) / 1e6,
              round.pages_harvested
                  ? static_cast<double>(round.clear_ns) / static_cast<double>(round.pages_harvested)
                  : 0.0,
              static_cast<unsigned long long>(tlbis), static_cast<unsigned long long>(dsbs),
              static_cast<double>(modeled(round.clear_counters)) / 1e3, r.verified ? "yes" : "NO");
          rows.push_back({{"tracking", tracking == DirtyTracking::hardware ? "hardware" : "wp"},
                          {"backend", o.model ? "model" : "counting"},
                          {"splitting", name(s)},
                          {"fwb", fwb},
                          {"round", i},
                          {"vm_bytes", o.vm_bytes},
                          {"backing", o.backing},
                          {"vcpus", o.vcpus},
                          {"enable_ns", r.enable_ns},
                          {"faults", round.faults},
                          {"fault_wall_ns", round.fault_ns},
                          {"clear_ns", round.clear_ns},
                          {"pages_harvested", round.pages_harvested},
                          {"clear_tlbis", tlbis},
                          {"clear_dsbs", dsbs},
                          {"clear_modeled_ns", modeled(round.clear_counters)},
                          {"verified", r.verified}});
        }
      }
    }
  }
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << rows.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "s2pt dirty-log: cannot write %s\n", o.json_path.c_str());
      return 1;
    }
  }
  return all_ok ? 0 : 1;
}

}  // namespace

Command add_dirty_log(CLI::App& tool) {
  auto options = std::make_shared<Options>();
  auto split_word = std::make_shared<std::string>("both");
  auto fwb_word = std::make_shared<std::string>("on");
  auto tracking_word = std::make_shared<std::string>("wp");
  auto backend_word = std::make_shared<std::string>("counting");
  CLI::App* app = tool.add_subcommand(
      "dirty-log", "dirty logging as a migration drives it (after Linux's dirty_log_perf_test)");
  app->add_option("--vm-size", options->vm_bytes, "VM size, e.g. 1G (suffix K, M, G or T)")
      ->transform(cli::byte_size())
      ->check(cli::power_of_two())
      ->capture_default_str();
  app->add_option("--backing", options->backing, "leaves mapping the VM before logging: 4K or 2M")
      ->transform(cli::byte_size())
      ->check(CLI::IsMember({u64{4096}, u64{2} * kMiB}))
      ->capture_default_str();
  app->add_option("--split", *split_word, "block splitting: lazy, eager or both")
      ->check(CLI::IsMember({"lazy", "eager", "both"}))
      ->capture_default_str();
  app->add_option("--vcpus", options->vcpus, "threads writing their slices of the VM")
      ->check(CLI::Range(1u, 32u))
      ->capture_default_str();
  app->add_option("--iterations", options->iterations, "write-then-harvest rounds")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  app->add_option("--fwb", *fwb_word, "use FEAT_S2FWB: on, off or both")
      ->check(CLI::IsMember(cli::kSwitchWords))
      ->capture_default_str();
  app->add_option("--tracking", *tracking_word,
                  "dirty tracking: wp (write protection), hardware (FEAT_HAFDBS, needs --backend "
                  "model) or both")
      ->check(CLI::IsMember({"wp", "hardware", "both"}))
      ->capture_default_str();
  app->add_option("--backend", *backend_word,
                  "counting (no instruction executed) or model (the hardware model: guest writes "
                  "are accesses)")
      ->check(CLI::IsMember({"counting", "model"}))
      ->capture_default_str();
  app->add_option("--json", options->json_path, "also write the rows to FILE as a JSON array");
  return Command{app, [options, split_word, fwb_word, tracking_word, backend_word] {
                   if (options->vm_bytes < options->backing) {
                     std::fprintf(stderr, "s2pt dirty-log: --vm-size is smaller than --backing\n");
                     return cli::kUsage;
                   }
                   options->splitting.clear();
                   if (*split_word != "eager") options->splitting.push_back(BlockSplitting::lazy);
                   if (*split_word != "lazy") options->splitting.push_back(BlockSplitting::eager);
                   options->fwb = cli::switch_values(*fwb_word);
                   options->model = *backend_word == "model";
                   options->tracking.clear();
                   if (*tracking_word != "hardware") {
                     options->tracking.push_back(DirtyTracking::write_protect);
                   }
                   if (*tracking_word != "wp") options->tracking.push_back(DirtyTracking::hardware);
                   if (!options->model && *tracking_word != "wp") {
                     std::fprintf(stderr,
                                  "s2pt dirty-log: --tracking hardware needs --backend model (the "
                                  "counting backend has no walker to record writes)\n");
                     return cli::kUsage;
                   }
                   return run(*options);
                 }};
}

}  // namespace s2pt::tool
