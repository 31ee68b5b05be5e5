// Dirty logging on the hardware model, both mechanisms: guests on every CPU write random pages
// (through cached writable translations where they have them), write faults go to the fault
// path, the hardware model performs DBM updates, and the table is harvested between rounds. The
// invariant: every successful write is covered by a later harvest that reported its page
// (Machine::lost_writes). A harvest whose invalidation is dropped leaves writable translations
// behind, and writes through them are lost: the check must see it.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "s2pt/sim/dirty_workload.hpp"
#include "sim/rig.hpp"

namespace s2pt::sim::test {
namespace {

constexpr u64 kPages = 64;
constexpr Ipa kIpa{u64{1} << 30};

struct Case {
  DirtyTracking tracking;
  bool drop_harvest_invalidation;
};

std::vector<Ipa> run(const Case& c, u64* faults) {
  RigConfig config;
  config.hw_dirty = true;
  config.machine.features.hw_dirty = true;
  Rig rig(config);
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
// fault path and the harvests; the oracles check every harvest, and nothing may be lost.
TEST(SimDirtyLog, ThreadedWorkloadLosesNoWrite) {
  struct Mode {
    DirtyTracking tracking;
    BlockSplitting blocks;
  };
  for (const Mode mode : {Mode{DirtyTracking::write_protect, BlockSplitting::lazy},
                          Mode{DirtyTracking::write_protect, BlockSplitting::eager},
                          Mode{DirtyTracking::hardware, BlockSplitting::eager}}) {
    const DirtyWorkloadResult r =
        run_dirty_workload(DirtyWorkloadConfig{.tracking = mode.tracking, .blocks = mode.blocks});
    const bool hardware = mode.tracking == DirtyTracking::hardware;
    EXPECT_TRUE(r.violations.empty()) << r.violations.front().describe();
    EXPECT_TRUE(r.lost.empty()) << r.lost.size() << " pages lost, first 0x" << std::hex
                                << r.lost.front().raw;
    EXPECT_GT(r.writes, 100u);
    EXPECT_GT(r.reported, 0u);
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

}  // namespace
}  // namespace s2pt::sim::test
