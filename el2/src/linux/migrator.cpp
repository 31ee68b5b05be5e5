// The migrator: on its own physical CPU, moves guest memory while the guest runs, as a host
// does for swap, compaction or migration. Each step picks a range (a page the guest faulted on
// lately, or any page; now and then a whole 2 MiB block), unmaps it with the run's strategy
// under the exclusive side of the table lock, copies it to fresh host memory, points the backing
// there and frees the old memory (poisoned, first in line for reuse). The next guest access
// faults and maps the new memory. Retired table pages are reclaimed after each step, outside
// the lock. Steps are paced (Options::gap_*): under TCG every broadcast TLBI stops all vCPUs,
// and back-to-back invalidations slow the guest down about 40x. The migrator also keeps the
// watchdog: the run ends if the guest neither powered off nor reset in time, or went too long
// without a stage-2 fault or PSCI call (a guest that runs makes both all the time: the migrator
// keeps unmapping its memory).
#include "linux/run.hpp"
#include "page_arena.hpp"

namespace el2::linux_guest {
namespace {

using s2pt::IpaRange;

constexpr u64 kMinGapUs = 500;
constexpr u64 kMaxGapUs = 2000;
constexpr u64 kBlockEvery = 16;  // about one step in this many moves a 2 MiB block
constexpr u64 kReclaimBudget = 64;

class Random {
 public:
  explicit Random(u64 seed) : state_(seed | 1) {}
  u64 next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  u64 below(u64 n) { return next() % n; }

 private:
  u64 state_;
};

Ipa pick(Random& random) {
  Run& r = run();
  if (random.below(4) != 0) {
    const u64 seen = __atomic_load_n(&r.recent[random.below(Run::kRecent)], __ATOMIC_RELAXED);
    if (seen != 0) return Ipa{seen};
  }
  return Ipa{kRamBase + random.below(kPages) * kPageBytes};
}

// One migration step; false when the run must end (reported already).
bool step(Random& random) {
  Run& r = run();
  const bool block = random.below(kBlockEvery) == 0;
  const u64 bytes = block ? kBlockBytes : kPageBytes;
  const IpaRange range{pick(random).align_down(bytes), bytes};
  s2pt::Table& table = r.table();

  s2pt::ExclusiveTableLock exclusive(r.lock);
  // Moving memory nothing maps tests nothing: only ranges the guest has touched are moved.
  bool mapped = false;
  for (u64 off = 0; off < bytes && !mapped; off += kPageBytes)
    mapped = table.lookup(range.start + off).ok();
  if (!mapped) {
    bump(r.counters.idle_picks);
    return true;
  }
  r.arena_lock.lock();
  const s2pt::Progress p = table.unmap(range, r.options.strategy);
  r.arena_lock.unlock();
  if (!p.ok()) {
    say() << "linux: unmap failed: " << s2pt::describe(p.status) << " ipa=" << Hex{range.start.raw}
          << "\n";
    return false;
  }
  const bool moved = block ? r.memory.move_block(range.start) : r.memory.move_page(range.start);
  if (!moved) {
    say() << "linux: the migrator's host memory pool ran dry\n";
    return false;
  }
  bump(r.counters.migrations);
  if (block) bump(r.counters.block_migrations);
  bump(r.counters.pages_moved, bytes / kPageBytes);
  note_peak(table.stats().table_pages);
  return true;
}

void reclaim_retired() {
  Run& r = run();
  if (!r.table().reclaim_pending()) return;
  r.arena_lock.lock();
  r.table().reclaim(kReclaimBudget);
  r.arena_lock.unlock();
}

}  // namespace

void migrator_main() {
  Run& r = run();
  Random random(r.options.seed * 0x9E37'79B9'7F4A'7C15ull);
  const Options& o = r.options;
  const u64 deadline = r.start_us + o.watchdog_s * 1'000'000;
  u64 next = now_us() + o.gap_max_us;
  while (!r.is_ending()) {
    const u64 now = now_us();
    const u64 progress = __atomic_load_n(&r.counters.last_progress_us, __ATOMIC_RELAXED);
    const bool stalled = now > progress + o.stall_s * 1'000'000;
    if (now >= deadline || stalled) {
      say() << "linux: watchdog: the guest "
            << (stalled ? "made no stage-2 fault or PSCI call for "
                        : "neither powered off nor reset within ")
            << (stalled ? o.stall_s : o.watchdog_s) << " s\n";
      __atomic_store_n(&r.migrator_stopped, 1u, __ATOMIC_RELEASE);
      end_run(Verdict::watchdog);
    }
    if (!r.options.migrate || now < next) {
      asm volatile("yield");
      continue;
    }
    if (!step(random)) {
      __atomic_store_n(&r.migrator_stopped, 1u, __ATOMIC_RELEASE);
      end_run(Verdict::hypervisor_error);
    }
    reclaim_retired();
    next = now_us() + o.gap_min_us + random.below(o.gap_max_us - o.gap_min_us + 1);
  }
  __atomic_store_n(&r.migrator_stopped, 1u, __ATOMIC_RELEASE);
}

}  // namespace el2::linux_guest
