#include "s2pt/sim/dirty_workload.hpp"

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "s2pt/page_cache.hpp"
#include "s2pt/sim/machine.hpp"
#include "s2pt/sim/rng.hpp"
#include "s2pt/sim/sim_arch.hpp"

namespace s2pt::sim {
namespace {

constexpr Vmid kVmid{9};
constexpr Ipa kStart{u64{1} << 30};
constexpr u64 kBlock = u64{2} << 20;
constexpr u64 kPage = 4096;
constexpr u64 kBlocks = 2;        // mapped as blocks
constexpr u64 kLoosePages = 256;  // mapped as pages
constexpr u64 kPages = kBlocks * kBlock / kPage + kLoosePages;
constexpr Pa kGuest{u64{1} << 38};

}  // namespace

DirtyWorkloadResult run_dirty_workload(const DirtyWorkloadConfig& config) {
  DirtyWorkloadResult result;
  const Geometry geometry = Geometry::make(Granule::k4, 40, 40).value();
  SimMm mm;
  MachineConfig mc;
  mc.cpus = config.cpus < 2 ? 2 : config.cpus;
  mc.seed = config.seed;
  mc.features.hw_dirty = true;
  Machine machine(mc, mm);
  SimArch arch(machine);
  SimArch::Binding writer_cpu(0);
  Result<Table> created =
      Table::create(TableConfig{.geometry = geometry, .vmid = kVmid, .use_hw_dirty = true}, mm,
                    config.arch ? config.arch(arch) : arch);
  if (!created.ok()) {
    result.violations.push_back(Violation{.kind = ViolationKind::leak, .detail = "create failed"});
    return result;
  }
  Table& table = created.value();
  machine.attach(table);
  const IpaRange range{kStart, kPages * kPage};
  const Attrs rw = Attrs::normal(Perm::rw);
  machine.begin_op("map");
  bool setup = table.map(IpaRange{kStart, kBlocks * kBlock}, kGuest, rw).ok() &&
               table
                   .map(IpaRange{kStart + kBlocks * kBlock, kLoosePages * kPage},
                        kGuest + kBlocks * kBlock, rw, MapFlags::no_blocks)
                   .ok();
  machine.end_op();
  std::vector<u64> dirty((kPages + 63) / 64, 0);
  machine.begin_op("enable_dirty_log");
  setup = setup && table
                       .enable_dirty_log(
                           range, DirtyBitmap{dirty.data(), kPages},
                           DirtyLogOptions{.tracking = config.tracking, .blocks = config.blocks})
                       .ok();
  machine.end_op();
  if (!setup) {
    result.violations.push_back(Violation{.kind = ViolationKind::leak, .detail = "setup failed"});
    return result;
  }
  machine.watch_writes(kVmid, range);

  std::shared_mutex table_lock;
  std::atomic<bool> stop{false};
  std::atomic<u64> writes{0};
  std::atomic<u64> faults{0};
  std::vector<std::thread> guests;
  for (unsigned c = 1; c < machine.cpus(); ++c) {
    guests.emplace_back([&, c] {
      Rng rng(config.seed ^ (0x9E37ull * c));
      SimArch::Binding on_cpu(c);
      PageCache cache(kPage, c);
      while (!stop.load(std::memory_order_relaxed)) {
        // A few hot pages, the rest now and then.
        const u64 page = rng.chance(30) ? rng.below(8) : rng.below(kPages);
        const Ipa ipa = kStart + page * kPage + (rng.below(kPage) & ~u64{7});
        Access a = machine.access(c, kVmid, ipa, true);
        for (int tries = 0; tries < 8 && a.result != AccessResult::ok; ++tries) {
          if (a.result != AccessResult::permission_fault &&
              a.result != AccessResult::translation_fault) {
            break;
          }
          if (a.result == AccessResult::permission_fault) faults.fetch_add(1);
          if (cache.topup(mm) != Status::ok) break;
          {
            std::shared_lock lock(table_lock);
            table.handle_fault(FaultRequest{.ipa = ipa,
                                            .pa = kGuest + (ipa.align_down(kPage) - kStart),
                                            .leaf_bytes = kPage,
                                            .attrs = rw},
                               cache);
          }
          a = machine.access(c, kVmid, ipa, true);
        }
        if (a.result == AccessResult::ok) writes.fetch_add(1);
        std::this_thread::yield();
      }
      cache.drain(mm);
    });
  }

  std::vector<u64> mask((kPages + 63) / 64, ~u64{0});
  std::vector<u64> cleared((kPages + 63) / 64, 0);
  auto harvest = [&](const char* label) {
    std::unique_lock lock(table_lock);
    machine.begin_op(label);
    table.clear_dirty(range, DirtyBitmap{mask.data(), kPages}, DirtyBitmap{cleared.data(), kPages});
    machine.end_op();
    std::vector<Ipa> reported;
    for (u64 i = 0; i < kPages; ++i) {
      if ((cleared[i / 64] >> (i % 64)) & 1) reported.push_back(kStart + i * kPage);
    }
    machine.harvested(reported);
    result.reported += reported.size();
  };
  Rng mover(config.seed * 31 + 5);
  constexpr UnmapStrategy kStrategies[] = {UnmapStrategy::fast, UnmapStrategy::per_entry,
                                           UnmapStrategy::deferred};
  auto move = [&](unsigned n) {
    std::unique_lock lock(table_lock);
    const u64 page = mover.below(kPages);
    const IpaRange one{kStart + page * kPage, kPage};
    machine.begin_op("unmap (memory moves)");
    table.unmap(one, kStrategies[n % 3]);
    machine.end_op();
    ++result.moved;
    if (n % 2 == 0) {
      machine.begin_op("map (memory moved)");
      table.map(one, kGuest + page * kPage, rw);
      machine.end_op();
    }
  };
  unsigned moves = 0;
  for (unsigned h = 0; h < config.harvests; ++h) {
    // Let the guests write, and make sure they did, however the host schedules the threads.
    const u64 before = writes.load();
    for (int k = 0; k < 200 || (writes.load() < before + 4 && k < 1'000'000); ++k)
      std::this_thread::yield();
    for (unsigned m = 0; m < config.moves_per_harvest; ++m)
      move(moves++);
    harvest("clear_dirty");
  }
  stop.store(true);
  for (std::thread& t : guests)
    t.join();
  harvest("clear_dirty (final)");

  result.lost = machine.lost_writes();
  result.writes = writes.load();
  result.write_faults = faults.load();
  machine.begin_op("destroy");
  table.destroy();
  table.reclaim_all();
  machine.detach(kVmid);
  machine.end_op();
  machine.check_no_leak();
  result.violations = machine.violations();
  return result;
}

}  // namespace s2pt::sim
