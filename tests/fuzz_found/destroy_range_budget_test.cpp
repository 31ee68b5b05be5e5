// Table::destroy_range promises at least one chunk per call, whatever the budget: a caller that
// loops "while budget_exhausted: yield, call again with the rest" must finish. Found by table_ops:
// a budget of 0 returned with nothing done, so such a loop never ends.
#include <gtest/gtest.h>

#include "s2pt/table.hpp"
#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

TEST(DestroyRangeBudget, ZeroBudgetStillTearsDownOneChunk) {
  for (Granule granule : {Granule::k4, Granule::k16, Granule::k64}) {
    SCOPED_TRACE(granule_shift(granule));
    test::Rig rig(test::make_geometry(granule, 40, 40));
    Table& table = rig.table();
    const Geometry& g = table.geometry();
    // destroy_range's chunk: one level-1 region, or one root entry's when the root is deeper.
    const u64 chunk = g.level_bytes(g.start_level().value() < 1 ? Level{1} : g.start_level());
    const IpaRange vm{Ipa{0}, 2 * chunk};
    ASSERT_TRUE(table.map(vm, Pa{u64{1} << 37}, Attrs::normal(Perm::rw)).ok());

    const Progress first = table.destroy_range(vm, 0);
    EXPECT_EQ(first.status, Status::budget_exhausted) << describe(first.status);
    ASSERT_EQ(first.bytes_done, chunk);
    EXPECT_FALSE(table.lookup(vm.start).ok());
    EXPECT_TRUE(table.lookup(vm.start + chunk).ok());

    // The caller's loop ends, with everything gone.
    u64 done = first.bytes_done;
    for (int calls = 0; done < vm.size; ++calls) {
      ASSERT_LT(calls, 64) << "destroy_range makes no progress";
      const Progress p = table.destroy_range({vm.start + done, vm.size - done}, 0);
      ASSERT_TRUE(p.ok() || p.status == Status::budget_exhausted) << describe(p.status);
      ASSERT_GT(p.bytes_done, 0u);
      done += p.bytes_done;
    }
    EXPECT_EQ(done, vm.size);
    EXPECT_FALSE(table.lookup(vm.start + (vm.size - 1)).ok());
    EXPECT_TRUE(test::audit(table).clean());
    EXPECT_EQ(table.stats().table_pages, table.geometry().root_pages());
  }
}

// A chunk that empties a table detaches the table whole, even when the chunk ends inside it; the
// next chunk of the same call then walks into that detached entry and must treat it as done, not
// as another walker's busy entry. Found by table_ops: destroy_range answered "again" on a
// single-threaded table.
TEST(DestroyRangeBudget, NextChunkCrossesATableTheLastChunkDetached) {
  test::Rig rig(test::make_geometry(Granule::k4, 44, 48));  // root at level 0, 1 GiB chunks
  Table& table = rig.table();
  const u64 gib = u64{1} << 30;
  // The only mapping under the first level-0 entry, in its second-to-last 1 GiB.
  const Ipa block{510 * gib};
  ASSERT_TRUE(table.map({block, 2 << 20}, Pa{u64{1} << 40}, Attrs::normal(Perm::rw)).ok());
  // And one more past the level-0 boundary, which must go too.
  const Ipa beyond{513 * gib};
  ASSERT_TRUE(table.map({beyond, 4096}, Pa{u64{1} << 41}, Attrs::normal(Perm::rw)).ok());

  const Progress p = table.destroy_range({block, 4 * gib}, ~u64{0});
  EXPECT_EQ(p.status, Status::ok) << describe(p.status);
  EXPECT_EQ(p.bytes_done, 4 * gib);
  EXPECT_FALSE(table.lookup(block).ok());
  EXPECT_FALSE(table.lookup(beyond).ok());
  EXPECT_TRUE(test::audit(table).clean());
  EXPECT_EQ(table.stats().table_pages, table.geometry().root_pages());
}

// destroy_range removes translations; annotations (owner marks) stay. Here the first chunk
// empties the whole first level-0 entry and detaches it although the chunk ends inside it; the
// count of what it detached there must not carry over to the next level-0 entry, whose table
// still holds an annotation. Found by table_ops: every annotation of the range was lost.
TEST(DestroyRangeBudget, AnnotationsSurviveAcrossChunks) {
  test::Rig rig(test::make_geometry(Granule::k4, 44, 48));
  Table& table = rig.table();
  const u64 gib = u64{1} << 30;
  const u64 mib = u64{1} << 20;
  const Attrs rw = Attrs::normal(Perm::rw);
  ASSERT_TRUE(table.map({Ipa{510 * gib}, 2 * mib}, Pa{u64{1} << 40}, rw).ok());
  ASSERT_TRUE(table.map({Ipa{512 * gib}, 2 * mib}, Pa{u64{1} << 41}, rw).ok());
  const IpaRange marked{Ipa{513 * gib + 106 * mib}, 252 * mib};
  ASSERT_TRUE(table.annotate(marked, OwnerId{190}).ok());

  const Progress p = table.destroy_range({Ipa{510 * gib}, 4 * gib}, ~u64{0});
  EXPECT_EQ(p.status, Status::ok) << describe(p.status);
  EXPECT_EQ(p.bytes_done, 4 * gib);
  EXPECT_FALSE(table.lookup(Ipa{510 * gib}).ok());
  EXPECT_FALSE(table.lookup(Ipa{512 * gib}).ok());
  for (u64 off = 0; off < marked.size; off += 2 * mib)
    ASSERT_EQ(table.owner(marked.start + off).raw, 190) << std::hex << (marked.start + off).raw;
  table.reclaim_all();
  EXPECT_TRUE(test::audit(table).clean());
}

}  // namespace
}  // namespace s2pt
