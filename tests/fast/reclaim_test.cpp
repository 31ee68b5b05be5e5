// Reclamation: unlinked table pages are freed only after their invalidation and after every
// shared walker that could hold them has left; teardown in bounded time and in bounded chunks.
#include "s2pt/reclaim.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "core_access.hpp"
#include "entry.hpp"
#include "retired_pages.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/hosted/walker_slots.hpp"
#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using test::Rig;

using namespace test::sizes;

TEST(ReclaimerEpochs, EachThreadGetsItsOwnSlot) {
  const unsigned mine = hosted::this_thread_walker_slot();
  EXPECT_EQ(hosted::this_thread_walker_slot(), mine);
  unsigned other = mine;
  std::thread([&] { other = hosted::this_thread_walker_slot(); }).join();
  EXPECT_NE(other, mine);
  EXPECT_LT(other, Reclaimer::kWalkerSlots);
}

TEST(ReclaimerEpochs, GraceWaitsOnlyForWalkersThatEnteredBefore) {
  Reclaimer r;
  EXPECT_TRUE(r.grace_over(r.epoch()));
  r.enter(3);
  const u64 stamp = r.close_epoch();  // something retired while walker 3 is inside
  EXPECT_FALSE(r.grace_over(stamp));
  r.enter(7);  // entered after: cannot have seen what was retired
  EXPECT_FALSE(r.grace_over(stamp));
  r.exit(3);
  EXPECT_TRUE(r.grace_over(stamp));
  const u64 later = r.close_epoch();
  EXPECT_FALSE(r.grace_over(later));  // walker 7 entered before this one
  r.exit(7);
  EXPECT_TRUE(r.grace_over(later));
}

// A fake shared walker holds a last-level table page (as the fault path would, mid-walk) while a
// fast unmap detaches and retires it.
// Reclamation walks a subtree with the table walker and resumes at its cursor: whatever the
// budget, even one page, each call frees at least one page and never more than the budget, and
// the pages still retired are exactly those the audit counts at every step.
TEST(Reclaim, AnyBudgetMakesProgressWithinIt) {
  for (const u64 budget : {u64{1}, u64{2}, u64{3}, u64{7}}) {
    for (const bool destroy : {false, true}) {
      SCOPED_TRACE(testing::Message() << "budget " << budget << (destroy ? " destroy" : " unmap"));
      Rig rig(test::make_geometry(Granule::k4, 40, 40), Features{.fwb = false}, false);
      Table& table = rig.table();
      ASSERT_TRUE(table
                      .map({Ipa{k1G}, 2 * k2M + 2 * k4K}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw),
                           MapFlags::no_blocks)
                      .ok());
      ASSERT_TRUE(table.map({Ipa{7 * k1G}, k4K}, Pa{0}, Attrs::normal(Perm::rw)).ok());
      const u64 pages = table.stats().table_pages - rig.geometry.root_pages();
      if (destroy) {
        table.destroy();
      } else {
        ASSERT_TRUE(table.unmap({Ipa{0}, 8 * k1G}, UnmapStrategy::fast).ok());
      }
      u64 freed = 0;
      for (int calls = 0; table.reclaim_pending(); ++calls) {
        ASSERT_LT(calls, 100);
        const u64 step = table.reclaim(budget);
        // Only the call that frees the last log page (not a table page) may count none.
        EXPECT_TRUE(step >= 1 || !table.reclaim_pending());
        EXPECT_LE(step, budget < rig.geometry.root_pages() ? rig.geometry.root_pages() : budget);
        freed += step;
        if (!destroy) {
          const test::AuditReport audit = test::audit(table);
          EXPECT_TRUE(audit.clean()) << audit.summary();
          EXPECT_EQ(audit.retired_pages, pages - freed);
        }
      }
      EXPECT_EQ(freed, destroy ? pages + rig.geometry.root_pages() : pages);
      EXPECT_EQ(rig.pool.bytes_in_use(), destroy ? 0u : rig.geometry.root_bytes());
    }
  }
}

// A destroyed table's pages are cleaned in one pass over each last-level table: the output
// address is decoded in the table's layout, so a page above 2^48 (LPA: OA[51:48] in descriptor
// bits [15:12]; LPA2: OA[51:50] in bits [9:8]) is cleaned where it is, not lower. One layout each.
TEST(Destroy, CleansPagesAtTheirFullOutputAddress) {
  struct Case {
    Granule granule;
    unsigned bits;
    OaLayout layout;
    u64 high_base;
  };
  for (const Case c : {Case{Granule::k4, 48, OaLayout::bits48, u64{1} << 47},
                       Case{Granule::k64, 52, OaLayout::lpa, u64{3} << 50},
                       Case{Granule::k4, 52, OaLayout::lpa2, u64{3} << 50}}) {
    Rig rig(Geometry::make(c.granule, c.bits, c.bits).value(), Features{.lpa2 = true, .lpa = true});
    ASSERT_EQ(rig.geometry.oa_layout(), c.layout);
    Table& table = rig.table();
    const u64 page = rig.geometry.page_bytes();
    const Pa high{c.high_base + 5 * page};
    ASSERT_TRUE(table.map({Ipa{k1G}, 2 * page}, high, Attrs::normal(Perm::rw)).ok());
    table.destroy();
    rig.arch.clear();
    table.reclaim_all();
    std::vector<std::pair<u64, u64>> cleaned;
    for (const counting::Op& op : rig.arch.log()) {
      if (op.kind == counting::OpKind::dc_civac) cleaned.emplace_back(op.pa.raw, op.bytes);
    }
    EXPECT_EQ(cleaned, (std::vector<std::pair<u64, u64>>{{high.raw, 2 * page}}))
        << "granule " << granule_bytes(c.granule) << ", " << c.bits << " bits";
  }
}

TEST(Reclaim, PageHeldByASharedWalkerIsNotFreedUntilItLeaves) {
  Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kAllFeatures, false);
  Table& table = rig.table();
  TableCore& core = CoreAccess::core(table);
  const Ipa base{2 * k1G};
  ASSERT_TRUE(
      table.map({base, k1G}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw), MapFlags::no_blocks).ok());
  const u64 mapped_pages = table.stats().table_pages;

  // The walker enters and walks down to a last-level table, taking a reference on it.
  table.reclaimer().enter(5);
  const Pte l1 = Pte::from_raw(core.root()[rig.geometry.index(base, Level{1})]);
  const Pte l2 = Pte::from_raw(core.pages().table(l1.table_address(core.oa()))[7]);
  const Pa held = l2.table_address(core.oa());
  ASSERT_TRUE(core.pages().try_get(held));
  core.pages().put(held, WalkMode::shared);
  const u64 held_entry = core.pages().table(held)[3];
  ASSERT_TRUE(Pte::from_raw(held_entry).is_leaf(Level{3}));

  ASSERT_TRUE(table.unmap({base, k1G}, UnmapStrategy::fast).ok());
  // Translations are gone, but no detached page was freed: the walker may still read them.
  EXPECT_FALSE(table.lookup(base + 7 * k2M + 3 * u64{4096}).ok());
  EXPECT_EQ(table.stats().table_pages, mapped_pages);
  EXPECT_TRUE(table.reclaim_pending());
  EXPECT_EQ(table.reclaim(~u64{0}), 0u);
  EXPECT_EQ(core.pages().table(held)[3], held_entry) << "a held page was changed or reused";
  // The detached subtree's root (the level-2 table) reached a zero count when it was retired: no
  // reference can be taken on it any more, so a walker cannot revive the subtree.
  EXPECT_FALSE(core.pages().try_get(l1.table_address(core.oa())));

  // A second walker entering now cannot reach the detached pages and does not delay them.
  table.reclaimer().enter(9);
  table.reclaimer().exit(5);
  EXPECT_EQ(table.reclaim(~u64{0}), mapped_pages - rig.geometry.root_pages());
  EXPECT_EQ(table.stats().table_pages, rig.geometry.root_pages());
  EXPECT_FALSE(table.reclaim_pending());
  table.reclaimer().exit(9);
  EXPECT_EQ(rig.pool.bytes_in_use(), rig.geometry.root_bytes());
}

TEST(Reclaim, BudgetBoundsEachCall) {
  Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kAllFeatures, false);
  Table& table = rig.table();
  ASSERT_TRUE(
      table.map({Ipa{0}, 4 * k1G}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw), MapFlags::no_blocks)
          .ok());
  const u64 to_free = table.stats().table_pages - rig.geometry.root_pages();
  table.reclaimer().enter(0);
  ASSERT_TRUE(table.unmap({Ipa{0}, 4 * k1G}, UnmapStrategy::fast).ok());
  table.reclaimer().exit(0);
  u64 freed = 0;
  int calls = 0;
  while (table.reclaim_pending()) {
    const u64 n = table.reclaim(100);
    ASSERT_LE(n, 100u);
    freed += n;
    ASSERT_LT(++calls, 1000);
  }
  EXPECT_EQ(freed, to_free);
  EXPECT_GT(calls, static_cast<int>(to_free / 100));
  EXPECT_EQ(rig.pool.bytes_in_use(), rig.geometry.root_bytes());
}

// destroy() issues the same few operations whatever the VM's size, and frees nothing itself.
TEST(Destroy, BoundedWhateverTheSizeAndReclaimedAfterwards) {
  for (u64 gib : {u64{1}, u64{8}}) {
    for (bool fwb : {true, false}) {
      Rig rig(test::make_geometry(Granule::k4, 40, 40),
              Features{.fwb = fwb, .tlbi_range = true, .ttl = true});
      Table& table = rig.table();
      ASSERT_TRUE(table
                      .map({Ipa{k1G}, gib * k1G}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw),
                           MapFlags::no_blocks)
                      .ok());
      const u64 pages = table.stats().table_pages;
      rig.arch.clear();
      table.destroy();
      EXPECT_EQ(rig.ops(),
                (std::vector<std::string>{"DSB ISHST", "TLBI VMALLS12E1IS", "DSB ISH", "ISB"}));
      EXPECT_TRUE(table.destroyed());
      EXPECT_EQ(table.stats().table_pages, pages) << "destroy() must not walk the VM";
      rig.arch.clear();
      u64 calls = 0;
      while (table.reclaim_pending()) {
        ASSERT_LE(table.reclaim(256), 256u);
        ++calls;
      }
      EXPECT_GE(calls, pages / 256);
      EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
      // Without FWB the guest memory is cleaned during reclamation, after the invalidation.
      u64 cleaned = 0;
      for (const counting::Op& op : rig.arch.log()) {
        if (op.kind == counting::OpKind::dc_civac) cleaned += op.bytes;
        EXPECT_NE(op.kind, counting::OpKind::tlbi);
      }
      EXPECT_EQ(cleaned, fwb ? 0 : gib * k1G);
      table.destroy();  // idempotent
      EXPECT_FALSE(table.reclaim_pending());
    }
  }
}

// unmap(fast) frees nothing inside the call: what it detached waits for reclaim(), so the
// exclusive section costs the same few page touches whatever the VM's size.
TEST(UnmapFast, LeavesWhatItDetachedToTheReclaimer) {
  for (u64 gib : {u64{1}, u64{8}}) {
    Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kAllFeatures);
    Table& table = rig.table();
    ASSERT_TRUE(table
                    .map({Ipa{k1G}, gib * k1G}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw),
                         MapFlags::no_blocks)
                    .ok());
    const u64 pages = table.stats().table_pages;
    const u64 bytes = rig.pool.bytes_in_use();
    ASSERT_TRUE(table.unmap({Ipa{k1G}, gib * k1G}, UnmapStrategy::fast).ok());
    EXPECT_FALSE(table.lookup(Ipa{k1G}).ok());
    EXPECT_EQ(table.stats().table_pages, pages) << "unmap(fast) freed inside the call";
    // One page more: the log page naming the detached subtrees (up to 511 with 4K pages).
    EXPECT_EQ(rig.pool.bytes_in_use(), bytes + rig.geometry.page_bytes());
    EXPECT_TRUE(table.reclaim_pending());
    const test::AuditReport retired = test::audit(table);
    EXPECT_TRUE(retired.clean()) << retired.summary();
    EXPECT_EQ(retired.retired_pages, pages - rig.geometry.root_pages());
    rig.arch.clear();
    EXPECT_EQ(table.reclaim(~u64{0}), pages - rig.geometry.root_pages());
    EXPECT_TRUE(rig.arch.log().empty()) << "the leaves were handled before the call returned";
    EXPECT_EQ(rig.pool.bytes_in_use(), rig.geometry.root_bytes());
  }
}

// A caller that never reclaims leaks nothing: destroy() and the table's destructor take the
// retired pages with them.
TEST(UnmapFast, NothingLeaksWhenTheTableGoesBeforeReclaiming) {
  for (bool destroy_first : {true, false}) {
    hosted::PagePool pool;
    counting::CountingArch arch(test::kAllFeatures);
    {
      Result<Table> table = Table::create(
          TableConfig{.geometry = test::make_geometry(Granule::k4, 40, 40), .vmid = Vmid{1}}, pool,
          arch);
      ASSERT_TRUE(table.ok());
      ASSERT_TRUE(table
                      ->map({Ipa{k1G}, 2 * k1G}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw),
                            MapFlags::no_blocks)
                      .ok());
      ASSERT_TRUE(table->unmap({Ipa{k1G}, k1G}, UnmapStrategy::fast).ok());
      ASSERT_TRUE(table->reclaim_pending());
      if (destroy_first) {
        table->destroy();
        table->reclaim_all();
        EXPECT_EQ(pool.bytes_in_use(), 0u);
      }
    }
    EXPECT_EQ(pool.bytes_in_use(), 0u) << (destroy_first ? "destroy" : "destructor");
  }
}

// Retiring names each detached subtree in a log page, one page per 511 subtrees (4K pages; the
// first entry links the log into its batch). When Mm has no page to give, the subtrees are
// retired through their own pages instead: the unmap never fails for it, and nothing leaks.
TEST(UnmapFast, RetiresThroughLogPagesOrWithoutThem) {
  struct Case {
    const char* name;
    u64 pages_for_logs;  // allocations that succeed during the unmap
    u64 log_pages;       // log pages the unmap is expected to take
  };
  const Case cases[] = {
      {"two log pages", ~u64{0}, 2},
      {"the first log page, then none", 1, 1},
      {"no log page at all", 0, 0},
  };
  // 1 GiB root entries, each a level-2 table of 2 MiB blocks (the PA is not 1 GiB-aligned).
  constexpr u64 kSubtrees = 600;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kAllFeatures, false);
    Table& table = rig.table();
    ASSERT_TRUE(table.map({Ipa{0}, kSubtrees * k1G}, Pa{k2M}, Attrs::normal(Perm::rw)).ok());
    const u64 pages = table.stats().table_pages;
    ASSERT_EQ(pages, rig.geometry.root_pages() + kSubtrees);
    const u64 bytes = rig.pool.bytes_in_use();
    if (c.pages_for_logs != ~u64{0}) rig.pool.fail_after(c.pages_for_logs);
    ASSERT_TRUE(table.unmap({Ipa{0}, kSubtrees * k1G}, UnmapStrategy::fast).ok());
    rig.pool.never_fail();
    EXPECT_EQ(rig.pool.bytes_in_use(), bytes + c.log_pages * rig.geometry.page_bytes());
    const test::AuditReport retired = test::audit(table);
    EXPECT_TRUE(retired.clean()) << retired.summary();
    EXPECT_EQ(retired.retired_pages, kSubtrees);
    // In bounded steps, as a hypervisor would between other work.
    u64 freed = 0;
    while (table.reclaim_pending()) {
      const u64 step = table.reclaim(100);
      EXPECT_LE(step, 100u);
      freed += step;
    }
    EXPECT_EQ(freed, kSubtrees);
    EXPECT_EQ(rig.pool.bytes_in_use(), rig.geometry.root_bytes());
    EXPECT_TRUE(test::audit(table).clean());
  }
}

TEST(Destroy, WaitsForSharedWalkers) {
  Rig rig(test::make_geometry(Granule::k16, 40, 40), test::kAllFeatures, false);
  Table& table = rig.table();
  ASSERT_TRUE(table.map({Ipa{0}, k1G}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw)).ok());
  table.reclaimer().enter(1);
  table.destroy();
  EXPECT_EQ(table.reclaim(~u64{0}), 0u);
  EXPECT_GT(rig.pool.bytes_in_use(), 0u);
  table.reclaimer().exit(1);
  table.reclaim(~u64{0});
  EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
}

TEST(DestroyRange, TearsDownInBoundedChunks) {
  for (Granule g : {Granule::k4, Granule::k16, Granule::k64}) {
    Rig rig(test::make_geometry(g, 40, 40), test::kAllFeatures, false);
    Table& table = rig.table();
    const IpaRange vm{Ipa{k1G}, 8 * k1G};
    ASSERT_TRUE(table.map(vm, Pa{u64{1} << 33}, Attrs::normal(Perm::rw)).ok());
    ASSERT_TRUE(table
                    .map({vm.start + 3 * k1G, 2 * k1G}, Pa{u64{1} << 34}, Attrs::normal(Perm::rw),
                         MapFlags::replace | MapFlags::no_blocks)
                    .ok());
    const u64 chunk_pages = 1 + rig.geometry.entries_per_table();
    u64 done = 0;
    int calls = 0;
    for (;;) {
      const u64 before = table.stats().table_pages;
      const Progress p = table.destroy_range({vm.start + done, vm.size - done}, 4);
      ASSERT_LE(before - table.stats().table_pages, 4 + chunk_pages);
      done += p.bytes_done;
      ++calls;
      if (p.ok()) break;
      ASSERT_EQ(p.status, Status::budget_exhausted);
      ASSERT_GT(p.bytes_done, 0u);
    }
    EXPECT_EQ(done, vm.size);
    EXPECT_GT(calls, 1);
    for (u64 off = 0; off < vm.size; off += k2M)
      ASSERT_FALSE(table.lookup(vm.start + off).ok());
    EXPECT_EQ(table.stats().table_pages, rig.geometry.root_pages());
  }
}

}  // namespace
}  // namespace s2pt

namespace s2pt {
namespace {

// The leaves a destroyed table still mapped reach the observer during reclamation, after the
// VMID invalidation, with their IPA.
TEST(Destroy, ReportsTheLeavesStillMappedToTheObserver) {
  struct Seen {
    u64 bytes = 0;
    u64 mismatches = 0;
  } seen;
  test::Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kAllFeatures, false);
  Table& table = rig.table();
  const Ipa base{u64{1} << 30};
  const Pa pa{u64{1} << 34};
  ASSERT_TRUE(table.map({base, u64{1} << 30}, pa, Attrs::normal(Perm::rw)).ok());
  ASSERT_TRUE(table
                  .map({base + (u64{1} << 30), u64{4} << 20}, pa + (u64{1} << 30),
                       Attrs::normal(Perm::rw), MapFlags::no_blocks)
                  .ok());
  table.set_leaf_observer(LeafObserver{.on_unmap =
                                           [](void* context, const UnmappedLeaf& leaf) {
                                             auto* s = static_cast<Seen*>(context);
                                             s->bytes += leaf.size;
                                             if (leaf.pa - Pa{u64{1} << 34} !=
                                                 leaf.ipa - Ipa{u64{1} << 30})
                                               ++s->mismatches;
                                           },
                                       .context = &seen});
  table.destroy();
  EXPECT_EQ(seen.bytes, 0u) << "destroy() itself does not walk the VM";
  table.reclaim_all();
  EXPECT_EQ(seen.bytes, (u64{1} << 30) + (u64{4} << 20));
  EXPECT_EQ(seen.mismatches, 0u);
  EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace s2pt

namespace s2pt {
namespace {

// A real concurrent shared walker (a thread walking from the root, as the fault path would) while
// the writer maps and fast-unmaps over and over. Freed pages are poisoned: a walker that ever
// reads poison was given a page that had been freed under it.
TEST(Reclaim, ConcurrentSharedWalkerNeverSeesAFreedPage) {
  hosted::PagePool pool(hosted::PagePoolConfig{.poison_freed = true});
  counting::CountingArch arch(test::kAllFeatures, false);
  Result<Table> created = Table::create(
      {.geometry = test::make_geometry(Granule::k4, 40, 40), .vmid = Vmid{1}}, pool, arch);
  ASSERT_TRUE(created.ok());
  Table& table = created.value();
  TableCore& core = CoreAccess::core(table);
  const Geometry& g = core.geometry();
  constexpr u64 kPoison = (u64{hosted::PagePool::kPoison} << 32) | hosted::PagePool::kPoison;
  const Ipa base{u64{1} << 30};
  constexpr u64 kSpan = u64{64} << 20;

  std::atomic<bool> stop{false};
  std::atomic<u64> poisoned{0};
  std::atomic<u64> walks{0};
  std::thread walker([&] {
    std::mt19937_64 rng(3);
    while (!stop.load(std::memory_order_relaxed)) {
      const Ipa ipa = base + (rng() % (kSpan / 4096)) * 4096;
      hosted::SharedWalk inside(table.reclaimer());
      const u64* t = core.root();
      for (Level level = g.start_level();; level = level.deeper()) {
        const Pte e = entry::load(t + g.index(ipa, level));
        if (e.raw() == kPoison) {
          poisoned.fetch_add(1);
          break;
        }
        if (!e.is_table(level)) break;
        t = core.pages().table(e.table_address(core.oa()));
      }
      walks.fetch_add(1, std::memory_order_relaxed);
    }
  });
  for (int round = 0; round < 300; ++round) {
    ASSERT_TRUE(
        table.map({base, kSpan}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw), MapFlags::no_blocks)
            .ok());
    ASSERT_TRUE(table.unmap({base, kSpan}, UnmapStrategy::fast).ok());
  }
  while (walks.load() < 1000)
    std::this_thread::yield();
  stop = true;
  walker.join();
  table.reclaim_all();
  EXPECT_EQ(poisoned.load(), 0u);
  EXPECT_EQ(pool.bytes_in_use(), g.root_bytes());
}

}  // namespace
}  // namespace s2pt
