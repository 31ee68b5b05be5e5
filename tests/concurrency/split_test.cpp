// Eager split ahead of dirty logging, and collapse back once the range is uniform again.
#include <gtest/gtest.h>

#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using test::Rig;

using namespace test::sizes;
const Geometry k4 = test::make_geometry(Granule::k4, 40, 40);
const Attrs kRw = Attrs::normal(Perm::rw);

void expect_maps(Table& t, IpaRange range, Pa pa, Level level) {
  for (u64 off = 0; off < range.size; off += 97 * k4K) {
    const Result<Translation> tr = t.lookup(range.start + off);
    ASSERT_TRUE(tr.ok()) << off;
    EXPECT_EQ(tr->pa, pa + off);
    EXPECT_EQ(tr->level, level);
  }
}

TEST(Split, OneGibibyteBlockBecomesPagesInOneBreakBeforeMake) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k1G}, Pa{4 * k1G}, kRw).ok());
  const u64 pages_before = rig.table().stats().table_pages;
  rig.arch.clear();
  ASSERT_TRUE(rig.table().split({Ipa{k1G}, k1G}, kLastLevel, 513).ok());
  EXPECT_EQ(rig.ops(),
            (std::vector<std::string>{"DSB ISHST", "TLBI IPAS2E1IS ipa=0x40000000 ttl=L1",
                                      "DSB ISH", "TLBI VMALLE1IS", "DSB ISH", "ISB"}));
  EXPECT_EQ(rig.table().stats().table_pages, pages_before + 513);
  expect_maps(rig.table(), {Ipa{k1G}, k1G}, Pa{4 * k1G}, Level{3});
  const test::AuditReport r = test::audit(rig.table());
  EXPECT_TRUE(r.clean()) << r.summary();
}

TEST(Split, NothingToCleanWithoutFwb) {
  Rig rig(k4, test::kNoFeatures);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw).ok());
  rig.arch.clear();
  ASSERT_TRUE(rig.table().split({Ipa{k1G}, k2M}, kLastLevel, 1).ok());
  for (const std::string& op : rig.ops())
    EXPECT_EQ(op.find("DC CIVAC"), std::string::npos) << op;
}

TEST(Split, PageBudgetBoundsEachCall) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, 2 * k1G}, Pa{4 * k1G}, kRw).ok());
  const test::TableSnapshot before = test::snapshot(rig.table());
  const Progress none = rig.table().split({Ipa{k1G}, 2 * k1G}, kLastLevel, 512);
  EXPECT_EQ(none.status, Status::budget_exhausted);
  EXPECT_EQ(none.bytes_done, 0u);
  EXPECT_TRUE(test::snapshot(rig.table()) == before) << "a block needing 513 pages left alone";
  const Progress first = rig.table().split({Ipa{k1G}, 2 * k1G}, kLastLevel, 600);
  EXPECT_EQ(first.status, Status::budget_exhausted);
  EXPECT_EQ(first.bytes_done, k1G);
  ASSERT_TRUE(rig.table().split({Ipa{2 * k1G}, k1G}, kLastLevel, 600).ok());
  expect_maps(rig.table(), {Ipa{k1G}, 2 * k1G}, Pa{4 * k1G}, Level{3});
}

TEST(Split, PartOfABlockAndToAnIntermediateLevel) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k1G}, Pa{4 * k1G}, kRw).ok());
  ASSERT_TRUE(rig.table().split({Ipa{k1G + k2M}, 2 * k2M}, kLastLevel, 8).ok());
  EXPECT_EQ(rig.table().lookup(Ipa{k1G})->level, Level{2});
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + k2M})->level, Level{3});
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 3 * k2M - k4K})->level, Level{3});
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 3 * k2M})->level, Level{2});
  expect_maps(rig.table(), {Ipa{k1G + 3 * k2M}, k1G - 3 * k2M}, Pa{4 * k1G + 3 * k2M}, Level{2});
  const test::AuditReport r = test::audit(rig.table());
  EXPECT_TRUE(r.clean()) << r.summary();
}

TEST(Split, OutOfMemoryChangesNothing) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k1G}, Pa{4 * k1G}, kRw).ok());
  const test::TableSnapshot before = test::snapshot(rig.table());
  const u64 bytes = rig.pool.bytes_in_use();
  rig.pool.fail_after(200);
  EXPECT_EQ(rig.table().split({Ipa{k1G}, k1G}, kLastLevel, 1000).status, Status::no_memory);
  EXPECT_TRUE(test::snapshot(rig.table()) == before);
  EXPECT_EQ(rig.pool.bytes_in_use(), bytes) << "the half-built subtree was freed";
}

TEST(Collapse, UniformTablesBecomeBlocksAgain) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k1G}, Pa{4 * k1G}, kRw).ok());
  const u64 pages = rig.table().stats().table_pages;
  ASSERT_TRUE(rig.table().split({Ipa{k1G}, k1G}, kLastLevel, 513).ok());
  rig.arch.clear();
  ASSERT_TRUE(rig.table().collapse({Ipa{k1G}, k1G}).ok());
  EXPECT_EQ(rig.table().stats().table_pages, pages);
  expect_maps(rig.table(), {Ipa{k1G}, k1G}, Pa{4 * k1G}, Level{1});
  // Bottom-up: 512 level-3 tables fold into level-2 blocks, then those into the 1 GiB block; the
  // last break-before-make removes a table: range invalidation without a level hint.
  const std::vector<std::string> ops = rig.ops();
  ASSERT_GE(ops.size(), 6u);
  EXPECT_EQ(ops[ops.size() - 5], "TLBI RIPAS2E1IS ipa=0x40000000 pages=262144 scale=3 num=3");
  const test::AuditReport r = test::audit(rig.table());
  EXPECT_TRUE(r.clean()) << r.summary();
}

TEST(Collapse, LeavesDifferentTablesAlone) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, kRw, MapFlags::no_blocks).ok());
  ASSERT_TRUE(rig.table().write_protect({Ipa{k1G + 7 * k4K}, k4K}).ok());
  ASSERT_TRUE(rig.table().map({Ipa{k1G + k2M}, k2M - k4K}, Pa{8 * k1G}, kRw).ok());
  const test::TableSnapshot before = test::snapshot(rig.table());
  ASSERT_TRUE(rig.table().collapse({Ipa{k1G}, 2 * k2M}).ok());
  EXPECT_TRUE(test::snapshot(rig.table()) == before) << "different permissions; a missing page";
}

}  // namespace
}  // namespace s2pt
