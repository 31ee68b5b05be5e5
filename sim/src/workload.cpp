#include "s2pt/sim/workload.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "s2pt/page_cache.hpp"
#include "s2pt/sim/machine.hpp"
#include "s2pt/sim/sim_arch.hpp"

namespace s2pt::sim {
namespace {

constexpr Vmid kVmid{7};
constexpr u64 kWindowBytes = u64{1} << 30;
// Guest memory lives far from the table pages; each "variant" is another copy of the window, so
// a remap changes the output address and no two IPAs ever share a PA.
constexpr Pa kGuestBase{u64{1} << 38};
// Guest memory of a table: in a 52-bit PA space above 2^48, where the descriptors need the
// 52-bit layout's extra address bits.
Pa guest_base(const Geometry& g) {
  return g.pa_bits() == 52 ? Pa{u64{0xF} << 48} : kGuestBase;
}
constexpr u64 kQuarantineLimit = u64{64} << 20;

struct Op {
  enum Kind : u8 { map, unmap, write_protect, relax, split, age, eager_split, collapse } kind;
  IpaRange range;
  u64 variant = 0;
  Attrs attrs;
  MapFlags flags = MapFlags::none;
};

class OpGenerator {
 public:
  OpGenerator(const Geometry& g, u64 seed, Ipa window) : g_(g), window_(window), rng_(seed) {}

  Op next() {
    Op op{};
    const u64 roll = rng_.below(100);
    op.kind = roll < 33   ? Op::map
              : roll < 56 ? Op::unmap
              : roll < 66 ? Op::write_protect
              : roll < 72 ? Op::relax
              : roll < 86 ? Op::split
              : roll < 90 ? Op::age
              : roll < 95 ? Op::eager_split
                          : Op::collapse;
    op.range = op.kind == Op::split ? small_range(4) : range();
    op.variant = rng_.below(3);
    const u64 mem = rng_.below(10);
    const u64 perm = rng_.below(100);
    op.attrs = Attrs::normal(perm < 75 ? Perm::rw : perm < 85 ? Perm::read : Perm::rx);
    if (mem == 8) op.attrs.mem = MemType::normal_nc;
    if (mem == 9) op.attrs.mem = MemType::device_ngnre;
    if (op.kind == Op::split || rng_.chance(40)) op.flags = op.flags | MapFlags::replace;
    if (op.kind == Op::map && rng_.chance(20)) op.flags = op.flags | MapFlags::no_blocks;
    return op;
  }

 private:
  IpaRange small_range(u64 max_pages) {
    const u64 page = g_.page_bytes();
    const u64 pages = 1 + rng_.below(max_pages);
    const u64 start = rng_.below(kWindowBytes / page - pages) * page;
    return IpaRange{window_ + start, pages * page};
  }
  IpaRange range() {
    const u64 roll = rng_.below(100);
    if (roll < 45) return small_range(16);
    if (roll < 70) return small_range(512);
    if (roll < 95) {
      // One or two blocks of the largest block level below 1 GiB, aligned.
      const Level block{2};
      const u64 bytes = g_.level_bytes(block);
      const u64 slots = kWindowBytes / bytes;
      const u64 n = slots > 1 ? 1 + rng_.below(2) : 1;
      const u64 first = rng_.below(slots - n + 1);
      return IpaRange{window_ + first * bytes, n * bytes};
    }
    return IpaRange{window_, kWindowBytes};
  }

  const Geometry& g_;
  Ipa window_;
  Rng rng_;
};

const char* name(Op::Kind k) {
  switch (k) {
    case Op::map:
      return "map";
    case Op::unmap:
      return "unmap";
    case Op::write_protect:
      return "write_protect";
    case Op::relax:
      return "relax";
    case Op::split:
      return "split";
    case Op::age:
      return "age";
    case Op::eager_split:
      return "eager_split";
    case Op::collapse:
      return "collapse";
  }
  return "?";
}

Progress run(Table& table, const Op& op, UnmapStrategy strategy, Ipa window) {
  const Pa pa =
      guest_base(table.geometry()) + op.variant * kWindowBytes + (op.range.start - window);
  switch (op.kind) {
    case Op::map:
    case Op::split:
      return table.map(op.range, pa, op.attrs, op.flags);
    case Op::unmap:
      return table.unmap(op.range, strategy);
    case Op::write_protect:
      return table.write_protect(op.range);
    case Op::relax:
      return table.relax(op.range, has(op.attrs.perm, Perm::exec) ? Perm::exec : Perm::write);
    case Op::age: {
      const Result<bool> young = table.test_and_clear_young(op.range);
      if (!young.ok()) return Progress{young.status(), 0};
      return table.mkyoung(op.range);
    }
    case Op::eager_split:
      return table.split(op.range, kLastLevel, 2048);
    case Op::collapse:
      return table.collapse(op.range);
  }
  return Progress{Status::unsupported, 0};
}

// A core that defers freeing (and, without FWB, cleaning) of retired tables to a reclaimer
// completes a destroy only once everything retired is reclaimed; the template lets this build
// against cores with and without one.
template <class T>
void reclaim_everything(T& table) {
  if constexpr (requires { table.reclaim_all(); }) table.reclaim_all();
}

std::string label(const Op& op) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s [0x%llx, +0x%llx) v%llu", name(op.kind),
                static_cast<unsigned long long>(op.range.start.raw),
                static_cast<unsigned long long>(op.range.size),
                static_cast<unsigned long long>(op.variant));
  return buf;
}

}  // namespace

WorkloadResult run_workload(const WorkloadConfig& config) {
  WorkloadResult result;
  const Geometry geometry = Geometry::make(config.granule, config.ipa_bits, config.pa_bits).value();
  SimMm mm;
  MachineConfig mc;
  mc.cpus = config.cpus < 2 ? 2 : config.cpus;
  mc.seed = config.seed;
  mc.adversary = config.adversary;
  mc.features.dic = config.dic;
  mc.features.lpa2 = mc.features.lpa = config.pa_bits == 52;
  Machine machine(mc, mm);
  SimArch arch(machine);
  SimArch::Binding writer_cpu(0);

  Result<Table> created = Table::create(TableConfig{.geometry = geometry,
                                                    .vmid = kVmid,
                                                    .use_fwb = config.fwb,
                                                    .use_tlbi_range = config.tlbi_range,
                                                    .use_ttl = config.ttl},
                                        mm, config.arch ? config.arch(arch) : arch);
  if (!created.ok()) {
    result.violations.push_back(Violation{.kind = ViolationKind::leak, .detail = "create failed"});
    return result;
  }
  Table& table = created.value();
  machine.attach(table);

  const IpaRange window{config.window_start, kWindowBytes};
  std::atomic<u64> focus_start{config.window_start.raw};
  std::atomic<u64> focus_size{kWindowBytes};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  // Per background thread: how many accesses/prefetches it has done.
  std::vector<std::atomic<u64>> progress(machine.cpus());
  // Before each operation the writer lets every background thread act on the new focus a few
  // times, so that caches hold what the operation is about to change.
  auto wait_for_guests = [&] {
    std::vector<u64> start(progress.size());
    for (std::size_t i = 0; i < progress.size(); ++i)
      start[i] = progress[i].load();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    for (std::size_t i = 0; i < progress.size(); ++i) {
      while (progress[i].load() < start[i] + 4 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
    }
  };
  // Exclusive operations take it for writing, the guests' stage-2 faults for reading (the
  // locking rule of table.hpp, as Linux's mmu_lock).
  std::shared_mutex table_lock;
  std::atomic<u64> faults_mapped{0};
  if (config.threaded) {
    for (unsigned c = 1; c < machine.cpus(); ++c) {
      threads.emplace_back([&, c] {
        Rng rng(config.seed ^ (0xA5A5ull * c));
        SimArch::Binding on_cpu(c);  // the fault path's maintenance runs on this CPU
        PageCache cache(geometry.page_bytes(), c);
        while (!stop.load(std::memory_order_relaxed)) {
          const bool focused = rng.chance(75);
          const u64 start =
              focused ? focus_start.load(std::memory_order_relaxed) : window.start.raw;
          const u64 size = focused ? focus_size.load(std::memory_order_relaxed) : window.size;
          const Ipa ipa{start + (rng.below(size) & ~u64{7})};
          if (rng.chance(20)) {
            machine.prefetch(c, kVmid, ipa);
          } else {
            const Access a = machine.access(c, kVmid, ipa, rng.chance(50));
            if (config.faults && a.result == AccessResult::translation_fault &&
                window.contains(ipa) && rng.chance(30)) {
              // The vCPU takes the stage-2 fault: map the faulting page (the shared path).
              if (cache.topup(mm) == Status::ok) {
                std::shared_lock lock(table_lock);
                const Ipa page = ipa.align_down(geometry.page_bytes());
                const Result<FaultOutcome> out = table.handle_fault(
                    FaultRequest{.ipa = page,
                                 .pa = guest_base(geometry) + (page - window.start),
                                 .leaf_bytes = geometry.page_bytes(),
                                 .attrs = Attrs::normal(Perm::rw)},
                    cache);
                if (out.ok() && out.value() == FaultOutcome::mapped) faults_mapped.fetch_add(1);
              }
            }
          }
          progress[c].fetch_add(1);
          // Two host cores are shared by every thread: leave the writer room to run.
          std::this_thread::yield();
        }
        cache.drain(mm);
      });
    }
    // A prefetcher: every CPU, the writer's included, fills speculatively behind the writer's
    // back, now and then caching every translation of a slice of the focus at once.
    threads.emplace_back([&] {
      Rng rng(config.seed ^ 0x5EEDull);
      while (!stop.load(std::memory_order_relaxed)) {
        const u64 start = focus_start.load(std::memory_order_relaxed);
        const u64 size = focus_size.load(std::memory_order_relaxed);
        const auto cpu = static_cast<unsigned>(rng.below(machine.cpus()));
        if (rng.chance(10)) {
          const u64 slice = std::min<u64>(size, u64{4} << 20);
          machine.prefetch_all(cpu, kVmid, IpaRange{Ipa{start}, slice});
        } else {
          machine.prefetch(cpu, kVmid, Ipa{start + (rng.below(size) & ~u64{7})});
        }
        progress[0].fetch_add(1);
        std::this_thread::yield();
      }
    });
  } else {
    machine.set_stepping(Stepping{.enabled = true,
                                  .vmid = kVmid,
                                  .window = window,
                                  .accesses_per_step = 2,
                                  .prefetches_per_step = 2});
  }

  OpGenerator gen(geometry, config.seed, config.window_start);
  Rng between(config.seed ^ 0xB1B1ull);
  u64 digest = 0xCBF29CE484222325ull;
  const auto t0 = std::chrono::steady_clock::now();
  for (unsigned i = 0; i < config.ops; ++i) {
    const Op op = gen.next();
    focus_start.store(op.range.start.raw, std::memory_order_relaxed);
    focus_size.store(op.range.size, std::memory_order_relaxed);
    machine.set_focus(op.range);
    if (config.threaded) wait_for_guests();
    std::unique_lock lock(table_lock);
    machine.begin_op(label(op));
    const Progress p = run(table, op, config.strategy, config.window_start);
    const bool clean = machine.end_op().empty();
    // Long runs would exhaust the arena: at a clean return no cache or live table points into a
    // freed page and no fault runs, so the quarantine can go back to the pool (use-after-free of
    // those pages is then no longer seen, only within the operations that follow their release).
    if (clean && mm.quarantined_bytes() > kQuarantineLimit) mm.release_quarantine();
    lock.unlock();
    ++result.ops;
    if (!p.ok()) ++result.ops_failed;
    digest = (digest ^ (static_cast<u64>(p.status) << 32 ^ p.bytes_done)) * 0x100000001B3ull;
    if (!config.threaded) {
      // The guests also run between operations, with every translation cacheable.
      for (unsigned k = 0; k < 4; ++k) {
        const auto cpu = static_cast<unsigned>(between.below(machine.cpus()));
        const Ipa ipa = op.range.start + (between.below(op.range.size) & ~u64{7});
        machine.access(cpu, kVmid, ipa, between.chance(50));
      }
    }
  }
  stop.store(true);
  for (std::thread& t : threads)
    t.join();
  result.host_ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();

  // The VM stops running before its table is destroyed.
  machine.set_stepping(Stepping{});
  machine.begin_op("destroy");
  table.destroy();
  reclaim_everything(table);
  machine.detach(kVmid);
  machine.end_op();
  machine.check_no_leak();

  result.violations = machine.violations();
  result.counters = machine.counters();
  result.modeled_ns = machine.modeled_ns();
  const Machine::AccessCounts counts = machine.access_counts();
  result.faults_mapped = faults_mapped.load();
  result.accesses = counts.total;
  result.accesses_ok = counts.ok;
  result.digest = config.threaded ? digest : digest ^ machine.access_digest();
  return result;
}

}  // namespace s2pt::sim
