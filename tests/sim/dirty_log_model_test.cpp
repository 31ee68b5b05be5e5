// Dirty logging on the hardware model, both mechanisms: guests on every CPU write random pages
// (through cached writable translations where they have them), write faults go to the fault
// path, the hardware model performs DBM updates, and the table is harvested between rounds. The
// invariant: every successful write is covered by a later harvest that reported its page
// (Machine::lost_writes). A harvest whose invalidation is dropped leaves writable translations
// behind, and writes through them are lost: the check must see it.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "core_access.hpp"
#include "s2pt/sim/dirty_workload.hpp"
#include "sim/rig.hpp"
#include "walker.hpp"

namespace s2pt::sim::test {
namespace {

constexpr u64 kPages = 64;
constexpr Ipa kIpa{u64{1} << 30};

struct Case {
  DirtyTracking tracking;
  bool drop_harvest_invalidation;
};

std::vector<Ipa> run(const Case& c, u64* faults) {
  ModelRigConfig config;
  config.hw_dirty = true;
  config.machine.features.hw_dirty = true;
  ModelRig rig(config);
  const u64 page = rig.page();
  rig.map_and_cache(kIpa, kPages * page, Attrs::normal(Perm::rw), MapFlags::no_blocks);
  std::vector<u64> dirty((kPages + 63) / 64, 0);
  const IpaRange range{kIpa, kPages * page};
  EXPECT_TRUE(rig.table()
                  .enable_dirty_log(
                      range, DirtyBitmap{dirty.data(), kPages},
                      DirtyLogOptions{.tracking = c.tracking, .blocks = BlockSplitting::eager})
                  .ok());
  Machine& m = rig.machine();
  m.watch_writes(kVmid, range);
  PageCache cache(page, 0);
  std::vector<u64> mask((kPages + 63) / 64, ~u64{0});
  std::vector<u64> cleared((kPages + 63) / 64, 0);
  auto harvest = [&] {
    rig.arch().drop_tlbi_ipa = c.drop_harvest_invalidation;
    rig.arch().drop_vmalle1is = c.drop_harvest_invalidation;
    EXPECT_TRUE(rig.table()
                    .clear_dirty(range, DirtyBitmap{mask.data(), kPages},
                                 DirtyBitmap{cleared.data(), kPages})
                    .ok());
    rig.arch().drop_tlbi_ipa = false;
    rig.arch().drop_vmalle1is = false;
    std::vector<Ipa> reported;
    for (u64 i = 0; i < kPages; ++i) {
      if ((cleared[i / 64] >> (i % 64)) & 1) reported.push_back(kIpa + i * page);
    }
    m.harvested(reported);
  };
  Rng rng(7);
  for (unsigned round = 0; round < 20; ++round) {
    for (unsigned w = 0; w < 48; ++w) {
      const unsigned cpu = static_cast<unsigned>(rng.below(m.cpus()));
      const Ipa ipa = kIpa + rng.below(kPages) * page;
      Access a = m.access(cpu, kVmid, ipa, true);
      if (a.result == AccessResult::permission_fault) {
        ++*faults;
        EXPECT_EQ(cache.topup(rig.mm()), Status::ok);
        SimArch::Binding on(cpu);  // the fault path's maintenance runs on the faulting CPU
        const Result<FaultOutcome> r = rig.table().handle_fault({.ipa = ipa,
                                                                 .pa = kGuest + ipa.raw,
                                                                 .leaf_bytes = page,
                                                                 .attrs = Attrs::normal(Perm::rw)},
                                                                cache);
        EXPECT_TRUE(r.ok());
        a = m.access(cpu, kVmid, ipa, true);
      }
      EXPECT_EQ(a.result, AccessResult::ok) << "round " << round;
    }
    harvest();
  }
  harvest();
  cache.drain(rig.mm());
  return m.lost_writes();
}

TEST(SimDirtyLog, NoWriteIsLostAndADroppedInvalidationIsCaught) {
  for (const DirtyTracking tracking : {DirtyTracking::write_protect, DirtyTracking::hardware}) {
    const bool hardware = tracking == DirtyTracking::hardware;
    u64 faults = 0;
    const std::vector<Ipa> lost = run(Case{tracking, false}, &faults);
    EXPECT_TRUE(lost.empty()) << (hardware ? "hardware" : "write protection") << ": " << lost.size()
                              << " pages lost";
    if (hardware) {
      EXPECT_EQ(faults, 0u) << "the model's walker records the writes";
    } else {
      EXPECT_GT(faults, 0u);
    }
    u64 broken_faults = 0;
    const std::vector<Ipa> broken = run(Case{tracking, true}, &broken_faults);
    EXPECT_FALSE(broken.empty()) << (hardware ? "hardware" : "write protection")
                                 << ": a harvest without invalidation lost nothing";
  }
}

// The threaded workload: real races between guest writes (and the model's DBM updates), the
// fault path, pages unmapped and mapped again, and the harvests; the oracles check every
// operation, and nothing may be lost.
TEST(SimDirtyLog, ThreadedWorkloadLosesNoWrite) {
  struct Mode {
    DirtyTracking tracking;
    BlockSplitting blocks;
  };
  for (const Mode mode : {Mode{DirtyTracking::write_protect, BlockSplitting::lazy},
                          Mode{DirtyTracking::write_protect, BlockSplitting::eager},
                          Mode{DirtyTracking::hardware, BlockSplitting::eager}}) {
    const DirtyWorkloadResult r = run_dirty_workload(DirtyWorkloadConfig{
        .tracking = mode.tracking, .blocks = mode.blocks, .moves_per_harvest = 3});
    const bool hardware = mode.tracking == DirtyTracking::hardware;
    EXPECT_TRUE(r.violations.empty()) << r.violations.front().describe();
    EXPECT_TRUE(r.lost.empty()) << r.lost.size() << " pages lost, first 0x" << std::hex
                                << r.lost.front().raw;
    EXPECT_GT(r.writes, 100u);
    EXPECT_GT(r.reported, 0u);
    EXPECT_EQ(r.moved, 3u * 40u);
    if (hardware) {
      EXPECT_EQ(r.write_faults, 0u);
    } else {
      EXPECT_GT(r.write_faults, 0u);
    }
  }
}

// The same with the harvest's TLBIs dropped: writable translations outlive the harvests, writes
// through them are lost, and the check (and the stale-TLB oracle) say so.
TEST(SimDirtyLog, ThreadedWorkloadCatchesDroppedInvalidation) {
  for (const DirtyTracking tracking : {DirtyTracking::write_protect, DirtyTracking::hardware}) {
    std::optional<DroppingArch> dropping;
    const DirtyWorkloadResult r =
        run_dirty_workload(DirtyWorkloadConfig{.tracking = tracking,
                                               .blocks = BlockSplitting::eager,
                                               .arch = [&](SteppingArch& inner) -> Arch& {
                                                 dropping.emplace(inner);
                                                 dropping->drop_tlbi_ipa = true;
                                                 dropping->drop_vmalle1is = true;
                                                 return *dropping;
                                               }});
    const char* name = tracking == DirtyTracking::hardware ? "hardware" : "write protection";
    EXPECT_FALSE(r.lost.empty()) << name << ": no write lost";
    EXPECT_FALSE(r.violations.empty()) << name << ": no stale translation reported";
  }
}

// ---- Broken variants of the dirty-logging rules, each played step by step on the model and
// caught by the no-lost-write check; each test runs the correct order on the same steps too.

// One logged range of a few pages, mapped, cached by every CPU and watched.
struct LoggedRig {
  static constexpr u64 kLogged = 4;

  explicit LoggedRig(DirtyTracking tracking) : rig(config()), range{kIpa, kLogged * rig.page()} {
    rig.map_and_cache(kIpa, range.size, Attrs::normal(Perm::rw), MapFlags::no_blocks);
    EXPECT_TRUE(rig.table()
                    .enable_dirty_log(
                        range, DirtyBitmap{dirty, kLogged},
                        DirtyLogOptions{.tracking = tracking, .blocks = BlockSplitting::eager})
                    .ok());
    rig.cache(range);
    rig.machine().watch_writes(kVmid, range);
  }
  static ModelRigConfig config() {
    ModelRigConfig c;
    c.hw_dirty = true;
    c.machine.features.hw_dirty = true;
    return c;
  }
  Ipa page(u64 i) { return kIpa + i * rig.page(); }
  AccessResult write(unsigned cpu, u64 i) {
    return rig.machine().access(cpu, kVmid, page(i), true).result;
  }
  // clear_dirty over the whole range, its report handed to the model.
  void harvest() {
    u64 mask = (u64{1} << kLogged) - 1;
    u64 cleared = 0;
    EXPECT_TRUE(rig.table()
                    .clear_dirty(range, DirtyBitmap{&mask, kLogged}, DirtyBitmap{&cleared, kLogged})
                    .ok());
    std::vector<Ipa> reported;
    for (u64 i = 0; i < kLogged; ++i) {
      if ((cleared >> i) & 1) reported.push_back(page(i));
    }
    rig.machine().harvested(reported);
  }
  // Completes an invalidation of page i by hand, as the operation under test would have.
  void invalidate(u64 i) {
    rig.core().maintenance().invalidate(InvalidationScope{.range = IpaRange{page(i), rig.page()},
                                                          .leaf_level = LevelHint::at(kLastLevel)});
  }

  ModelRig rig;
  u64 dirty[1] = {};
  IpaRange range;
};

// Removes the leaves it visits. Before each, the guest on CPU 1 writes the page: the model's
// hardware makes the writable-clean leaf dirty between the software's read and its write. With
// `plain_store` the removal stores over what it read (set() is handed its view without DBM, the
// view of code that does not expect the hardware to change the entry), so the dirty state the
// hardware wrote is overwritten unseen.
struct RemoveRacingTheHardware {
  Status leaf(WalkContext& ctx) {
    if (!ctx.old.is_valid()) return Status::ok;
    EXPECT_EQ(logged.write(1, (ctx.entry_base() - kIpa) / ctx.entry_bytes()), AccessResult::ok);
    if (plain_store) ctx.old = ctx.old.with_dbm(false);
    ctx.set(Pte::invalid());
    return Status::ok;
  }
  LoggedRig& logged;
  bool plain_store;
};

TEST(SimDirtyBroken, PlainStoreOverALeafTheHardwareMayUpdate) {
  for (const bool broken : {false, true}) {
    LoggedRig logged(DirtyTracking::hardware);
    RemoveRacingTheHardware remove{logged, broken};
    ASSERT_TRUE(walk(logged.rig.core(), IpaRange{logged.page(2), logged.rig.page()}, remove).ok());
    logged.invalidate(2);
    logged.harvest();
    EXPECT_EQ(logged.rig.machine().lost_writes().empty(), !broken)
        << (broken ? "a plain store lost nothing" : "compare-and-swap lost a write");
    EXPECT_TRUE(logged.rig.machine().violations().empty()) << logged.rig.report();
  }
}

// Makes the leaves it visits writable (the fault path's relax, without its bookkeeping).
struct Permit {
  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_valid()) ctx.set(ctx.old.with_perm(ctx.old.perm() | Perm::write));
    return Status::ok;
  }
};

// The fault path records a logged write once the page is writable. Marked before, a harvest in
// between takes the bit while the page is still read-only (nothing to protect again), and the
// write that follows is reported by nobody. In the right order the same interleaving leaves the
// page writable with its bit set, and the next harvest reports it.
TEST(SimDirtyBroken, DirtyBitSetBeforeTheWriteIsPermitted) {
  for (const bool broken : {false, true}) {
    LoggedRig logged(DirtyTracking::write_protect);
    ASSERT_EQ(logged.write(1, 2), AccessResult::permission_fault);
    auto mark = [&] { logged.dirty[0] |= u64{1} << 2; };
    auto permit = [&] {
      Permit relax;
      ASSERT_TRUE(walk(logged.rig.core(), IpaRange{logged.page(2), logged.rig.page()}, relax).ok());
      logged.invalidate(2);
    };
    if (broken) {
      mark();
      logged.harvest();
      permit();
    } else {
      permit();
      logged.harvest();
      mark();
    }
    ASSERT_EQ(logged.write(1, 2), AccessResult::ok);  // the guest's write, retried
    logged.harvest();
    EXPECT_EQ(logged.rig.machine().lost_writes().empty(), !broken)
        << (broken ? "marking first lost nothing" : "marking last lost a write");
    EXPECT_TRUE(logged.rig.machine().violations().empty()) << logged.rig.report();
  }
}

// Removes the leaves it visits claiming to report their dirty state itself, as the harvest does,
// and does not: the removal that forgets what the hardware recorded.
struct ForgetDirtyState {
  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_valid()) ctx.set(Pte::invalid(), DirtyHandoff::reported);
    return Status::ok;
  }
};

// A page the guest wrote (dirty in its leaf) is unmapped before the harvest: the unmap hands the
// dirty state to the bitmap, and the harvest reports the page. Forgotten, the write is lost.
TEST(SimDirtyBroken, RemovingADirtyLeafWithoutItsDirtyState) {
  for (const bool broken : {false, true}) {
    LoggedRig logged(DirtyTracking::hardware);
    ASSERT_EQ(logged.write(1, 2), AccessResult::ok);
    const IpaRange page{logged.page(2), logged.rig.page()};
    if (broken) {
      ForgetDirtyState remove;
      ASSERT_TRUE(walk(logged.rig.core(), page, remove).ok());
      logged.invalidate(2);
    } else {
      ASSERT_TRUE(logged.rig.table().unmap(page).ok());
    }
    logged.harvest();
    EXPECT_EQ(logged.rig.machine().lost_writes().empty(), !broken)
        << (broken ? "forgetting the dirty state lost nothing" : "unmap lost a write");
    EXPECT_TRUE(logged.rig.machine().violations().empty()) << logged.rig.report();
  }
}

}  // namespace
}  // namespace s2pt::sim::test
