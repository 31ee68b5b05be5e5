// Behaviour of each table operation: what lookups see afterwards and what the table holds.
#include <gtest/gtest.h>

#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using test::Rig;

using namespace test::sizes;
const Geometry k4 = test::make_geometry(Granule::k4, 40, 40);
const Attrs kRw = Attrs::normal(Perm::rw);

void expect_clean(Table& t) {
  const test::AuditReport r = test::audit(t);
  EXPECT_TRUE(r.clean()) << r.summary();
}

TEST(Map, UsesTheLargestAlignedBlocks) {
  Rig rig(k4);
  // 1 GiB + 2 MiB + 4 KiB, all aligned: one 1G block, one 2M block, one page.
  const Ipa base{k1G};
  ASSERT_TRUE(rig.table().map({base, k1G + k2M + k4K}, Pa{4 * k1G}, kRw).ok());
  EXPECT_EQ(rig.table().lookup(base)->level, Level{1});
  EXPECT_EQ(rig.table().lookup(base + k1G)->level, Level{2});
  EXPECT_EQ(rig.table().lookup(base + k1G + k2M)->level, Level{3});
  const Result<Translation> t = rig.table().lookup(base + 0x1234'5678);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->pa, Pa{4 * k1G + 0x1234'5678});
  EXPECT_EQ(t->base, base);
  EXPECT_EQ(t->size, k1G);
  EXPECT_FALSE(rig.table().lookup(base + k1G + k2M + k4K).ok());
  expect_clean(rig.table());
}

TEST(Map, MisalignedOutputFallsBackToSmallerLeaves) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G + k4K}, kRw).ok());
  EXPECT_EQ(rig.table().lookup(Ipa{k1G})->level, Level{3});
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + k2M - k4K})->pa, Pa{4 * k1G + k2M});
  expect_clean(rig.table());
}

TEST(Map, NoBlocksFlagMapsPages) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw, MapFlags::no_blocks).ok());
  EXPECT_EQ(rig.table().lookup(Ipa{k1G})->level, Level{3});
  expect_clean(rig.table());
}

TEST(Map, AcrossConcatenatedRootPagesAndAtBothEnds) {
  Rig rig(k4);  // 40-bit IPA: root pages cover [0, 512G) and [512G, 1T)
  const Ipa boundary{512 * k1G};
  ASSERT_TRUE(rig.table().map({boundary - k2M, 2 * k2M}, Pa{4 * k1G}, kRw).ok());
  EXPECT_EQ(rig.table().lookup(boundary - k4K)->pa, Pa{4 * k1G + k2M - k4K});
  EXPECT_EQ(rig.table().lookup(boundary)->pa, Pa{4 * k1G + k2M});
  ASSERT_TRUE(rig.table().map({Ipa{0}, k4K}, Pa{8 * k1G}, kRw).ok());
  const Ipa last{k4.ipa_limit() - k4K};
  ASSERT_TRUE(rig.table().map({last, k4K}, Pa{9 * k1G}, kRw).ok());
  EXPECT_EQ(rig.table().lookup(Ipa{0})->pa, Pa{8 * k1G});
  EXPECT_EQ(rig.table().lookup(last)->pa, Pa{9 * k1G});
  expect_clean(rig.table());
}

TEST(Map, ReplaceSplitsABlockAndKeepsTheRest) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw).ok());
  ASSERT_TRUE(
      rig.table()
          .map({Ipa{k1G + 5 * k4K}, k4K}, Pa{8 * k1G}, Attrs::normal(Perm::read), MapFlags::replace)
          .ok());
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 5 * k4K})->pa, Pa{8 * k1G});
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 5 * k4K})->attrs.perm, Perm::read);
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 4 * k4K})->pa, Pa{4 * k1G + 4 * k4K});
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 6 * k4K})->attrs.perm, Perm::rw);
  expect_clean(rig.table());
}

TEST(Map, ReplaceCollapsesATableIntoABlockAndFreesTheSubtree) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw, MapFlags::no_blocks).ok());
  const u64 pages_with_table = rig.table().stats().table_pages;
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{8 * k1G}, kRw, MapFlags::replace).ok());
  EXPECT_EQ(rig.table().lookup(Ipa{k1G})->level, Level{2});
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + k4K})->pa, Pa{8 * k1G + k4K});
  EXPECT_EQ(rig.table().stats().table_pages, pages_with_table - 1);
  expect_clean(rig.table());
}

TEST(Map, IdenticalRemapWithReplaceIssuesNothing) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw).ok());
  rig.arch.clear();
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw, MapFlags::replace).ok());
  EXPECT_TRUE(rig.ops().empty());
}

TEST(Unmap, SplitsBlocksAtBothEndsAndFreesEmptyTables) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k1G}, Pa{4 * k1G}, kRw).ok());
  ASSERT_TRUE(rig.table().unmap({Ipa{k1G + k2M - k4K}, k2M + 2 * k4K}).ok());
  EXPECT_TRUE(rig.table().lookup(Ipa{k1G + k2M - 2 * k4K}).ok());
  EXPECT_FALSE(rig.table().lookup(Ipa{k1G + k2M - k4K}).ok());
  EXPECT_FALSE(rig.table().lookup(Ipa{k1G + 2 * k2M}).ok());
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 2 * k2M + k4K})->pa, Pa{4 * k1G + 2 * k2M + k4K});
  expect_clean(rig.table());
  ASSERT_TRUE(rig.table().unmap({Ipa{k1G}, k1G}).ok());
  rig.table().reclaim_all();
  EXPECT_EQ(rig.table().stats().table_pages, k4.root_pages());
  expect_clean(rig.table());
}

TEST(Unmap, OfNothingIssuesNothing) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().unmap({Ipa{k1G}, k1G}).ok());
  EXPECT_TRUE(rig.ops().empty());
}

TEST(Permissions, WriteProtectThenRelax) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw).ok());
  ASSERT_TRUE(rig.table().write_protect({Ipa{k1G}, k2M}).ok());
  EXPECT_EQ(rig.table().lookup(Ipa{k1G})->attrs.perm, Perm::read);
  EXPECT_EQ(rig.table().lookup(Ipa{k1G})->level, Level{2}) << "whole block, no split";
  ASSERT_TRUE(rig.table().relax({Ipa{k1G}, k4K}, Perm::write | Perm::exec).ok());
  EXPECT_EQ(rig.table().lookup(Ipa{k1G})->attrs.perm, Perm::rwx);
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + k4K})->attrs.perm, Perm::read);
  expect_clean(rig.table());
}

TEST(Aging, MkoldAndTestAndClearYoung) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, 2 * k4K}, Pa{4 * k1G}, kRw).ok());
  rig.arch.clear();
  EXPECT_TRUE(rig.table().test_and_clear_young({Ipa{k1G}, k4K}).value());
  EXPECT_FALSE(rig.table().lookup(Ipa{k1G})->attrs.af);
  EXPECT_TRUE(rig.table().lookup(Ipa{k1G + k4K})->attrs.af);
  EXPECT_FALSE(rig.table().test_and_clear_young({Ipa{k1G}, k4K}).value());
  ASSERT_TRUE(rig.table().mkyoung({Ipa{k1G}, k4K}).ok());
  EXPECT_TRUE(rig.table().lookup(Ipa{k1G})->attrs.af);
  ASSERT_TRUE(rig.table().mkold({Ipa{k1G}, 2 * k4K}).ok());
  EXPECT_FALSE(rig.table().lookup(Ipa{k1G + k4K})->attrs.af);
  EXPECT_TRUE(rig.ops().empty()) << "aging issues no maintenance";
}

TEST(Annotate, OwnersOfInvalidEntries) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().annotate({Ipa{k1G}, k1G}, OwnerId{7}).ok());
  EXPECT_EQ(rig.table().owner(Ipa{k1G + k2M}), OwnerId{7});
  EXPECT_FALSE(rig.table().lookup(Ipa{k1G}).ok());
  // Part of the range changes owner: the rest keeps its annotation one level down.
  ASSERT_TRUE(rig.table().annotate({Ipa{k1G + k2M}, k4K}, OwnerId{9}).ok());
  EXPECT_EQ(rig.table().owner(Ipa{k1G + k2M}), OwnerId{9});
  EXPECT_EQ(rig.table().owner(Ipa{k1G + k2M + k4K}), OwnerId{7});
  EXPECT_EQ(rig.table().owner(Ipa{k1G}), OwnerId{7});
  expect_clean(rig.table());
  // Mapping over an annotation needs replace.
  EXPECT_EQ(rig.table().map({Ipa{k1G}, k4K}, Pa{4 * k1G}, kRw).status, Status::exists);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k4K}, Pa{4 * k1G}, kRw, MapFlags::replace).ok());
  EXPECT_EQ(rig.table().annotate({Ipa{k1G}, k2M}, OwnerId{3}).status, Status::exists);
  ASSERT_TRUE(rig.table().unmap({Ipa{k1G}, k4K}).ok());
  // Owner 0 removes annotations; the tables they needed go away.
  ASSERT_TRUE(rig.table().annotate({Ipa{k1G}, k1G}, OwnerId{0}).ok());
  EXPECT_EQ(rig.table().owner(Ipa{k1G + k2M}), OwnerId{});
  EXPECT_EQ(rig.table().stats().table_pages, k4.root_pages());
  expect_clean(rig.table());
}

TEST(FlushDcache, CleansMappedCacheableMemoryOnlyWithoutFwb) {
  Rig rig(k4, test::kNoFeatures);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw).ok());
  ASSERT_TRUE(rig.table().map({Ipa{k1G + k2M}, k4K}, Pa{0x900'0000}, Attrs::device(Perm::rw)).ok());
  rig.arch.clear();
  ASSERT_TRUE(rig.table().flush_dcache({Ipa{k1G + k4K}, k2M}).ok());
  EXPECT_EQ(rig.ops(), (std::vector<std::string>{"DC CIVAC 0x100001000 +0x1ff000", "DSB ISH"}));

  Rig fwb(k4);
  ASSERT_TRUE(fwb.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw).ok());
  fwb.arch.clear();
  ASSERT_TRUE(fwb.table().flush_dcache({Ipa{k1G}, k2M}).ok());
  EXPECT_TRUE(fwb.ops().empty());
}

// Leaves mapping adjacent memory are cleaned as one range, completed by one DSB; a gap starts a
// new range.
TEST(FlushDcache, AdjacentMemoryIsOneRangeUnderOneBarrier) {
  Rig rig(k4, test::kNoFeatures);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, 3 * k4K}, Pa{4 * k1G}, kRw, MapFlags::no_blocks).ok());
  ASSERT_TRUE(rig.table().map({Ipa{k1G + 3 * k4K}, k4K}, Pa{8 * k1G}, kRw).ok());
  rig.arch.clear();
  ASSERT_TRUE(rig.table().flush_dcache({Ipa{k1G}, 4 * k4K}).ok());
  EXPECT_EQ(rig.ops(), (std::vector<std::string>{"DC CIVAC 0x100000000 +0x3000",
                                                 "DC CIVAC 0x200000000 +0x1000", "DSB ISH"}));
}

TEST(Destroy, FreesEverythingAndIsIdempotent) {
  for (Granule g : {Granule::k4, Granule::k16, Granule::k64}) {
    Rig rig(test::make_geometry(g, 40, 40));
    const u64 block = rig.geometry.level_bytes(Level{2});
    ASSERT_TRUE(rig.table().map({Ipa{0}, 3 * block}, Pa{0}, kRw).ok());
    ASSERT_TRUE(rig.table().map({Ipa{4 * block}, block}, Pa{0}, kRw, MapFlags::no_blocks).ok());
    rig.table().destroy();
    rig.table().reclaim_all();  // destroy() hands the pages to the reclaimer
    EXPECT_TRUE(rig.table().destroyed());
    EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
    rig.table().destroy();
    rig.table().reclaim_all();  // destroy() hands the pages to the reclaimer
    EXPECT_EQ(rig.table().map({Ipa{0}, block}, Pa{0}, kRw).status, Status::destroyed);
  }
}

TEST(Table, VttbrCarriesTheVmid) {
  Rig rig(TableConfig{.geometry = k4, .vmid = Vmid{0x1234}});
  EXPECT_EQ(rig.table().vttbr() >> 48, 0x1234u);
  EXPECT_EQ(rig.table().vttbr() & ((1ull << 48) - 1), rig.table().root().raw);
  EXPECT_TRUE(rig.table().root().aligned(k4.root_bytes()));
}

TEST(Table, EightBitVmidGeometryRefusesWideVmid) {
  hosted::PagePool pool;
  counting::CountingArch arch;
  const Geometry g = Geometry::make(Granule::k4, 40, 40, 8).value();
  EXPECT_EQ(Table::create({.geometry = g, .vmid = Vmid{256}}, pool, arch).status(),
            Status::bad_geometry);
  EXPECT_EQ(pool.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace s2pt
