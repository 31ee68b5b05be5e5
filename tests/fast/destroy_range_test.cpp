// destroy_range detaches chunk after chunk and invalidates once per call: the TLBIs and barriers
// it issues do not grow with the number of chunks (root entries) the range spans.
#include <gtest/gtest.h>

#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using namespace test::sizes;
constexpr Pa kBacking{u64{8} << 30};

// 16K/40-bit: the root is at level 2, 32 MiB an entry, so 1 GiB spans 32 destroy_range chunks.
// Once per chunk, that was 32 VMALLE1IS and 96 DSB ISH without FWB.
TEST(DestroyRange, InvalidatesOncePerCallWhateverTheChunks) {
  const Geometry g = test::make_geometry(Granule::k16, 40, 40);
  ASSERT_EQ(g.start_level(), Level{2});
  for (const Features& f :
       {test::kNoFeatures, Features{.tlbi_range = true, .ttl = true}, test::kAllFeatures}) {
    SCOPED_TRACE(testing::Message() << "fwb " << f.fwb << " range " << f.tlbi_range);
    test::Rig rig(g, f);
    Table& table = rig.table();
    const IpaRange vm{Ipa{k1G}, k1G};
    // Blocks, and pages in three of the chunks (tables to detach there).
    ASSERT_TRUE(table.map(vm, kBacking, Attrs::normal(Perm::rw)).ok());
    ASSERT_TRUE(table
                    .map({vm.start + 5 * (u64{32} << 20), 3 * (u64{32} << 20)},
                         kBacking + 5 * (u64{32} << 20), Attrs::normal(Perm::rw),
                         MapFlags::replace | MapFlags::no_blocks)
                    .ok());
    const MaintenanceCounters before = table.stats().maintenance;
    const Progress p = table.destroy_range(vm, ~u64{0});
    ASSERT_TRUE(p.ok()) << describe(p.status);
    EXPECT_EQ(p.bytes_done, vm.size);
    const MaintenanceCounters issued = table.stats().maintenance - before;
    EXPECT_LE(issued.tlbi_s1, 1u);
    EXPECT_EQ(issued.dsb_ishst, 1u);
    EXPECT_LE(issued.dsb_ish, f.fwb ? 2u : 3u);
    EXPECT_EQ(issued.isb, 1u);
    // Without FWB the whole gigabyte is cleaned, contiguous memory in one call.
    EXPECT_EQ(issued.dc_civac_bytes, f.fwb ? 0 : vm.size);
    EXPECT_EQ(issued.dc_civac_calls, f.fwb ? 0u : 1u);
    for (u64 off = 0; off < vm.size; off += k16K * 509)
      ASSERT_FALSE(table.lookup(vm.start + off).ok()) << off;
    EXPECT_TRUE(test::audit(table).clean());
    EXPECT_EQ(table.stats().table_pages, g.root_pages());
  }
}

// With a budget, each call still invalidates once, for the chunks it did.
TEST(DestroyRange, ABudgetedCallInvalidatesOnceForWhatItDid) {
  const Geometry g = test::make_geometry(Granule::k4, 48, 48);
  ASSERT_EQ(g.start_level(), Level{0});
  test::Rig rig(g, test::kNoFeatures);
  Table& table = rig.table();
  const IpaRange vm{Ipa{k1G}, 8 * k1G};
  ASSERT_TRUE(table.map(vm, kBacking, Attrs::normal(Perm::rw), MapFlags::no_blocks).ok());
  u64 done = 0;
  int calls = 0;
  while (done < vm.size) {
    ASSERT_LT(calls++, 16);
    const MaintenanceCounters before = table.stats().maintenance;
    const Progress p = table.destroy_range({vm.start + done, vm.size - done}, 3 * 513);
    ASSERT_TRUE(p.ok() || p.status == Status::budget_exhausted) << describe(p.status);
    ASSERT_GT(p.bytes_done, 0u);
    done += p.bytes_done;
    const MaintenanceCounters issued = table.stats().maintenance - before;
    EXPECT_LE(issued.tlbi_s1, 1u);
    EXPECT_EQ(issued.dsb_ishst, 1u);
    EXPECT_LE(issued.dsb_ish, 3u);
  }
  // 513 table pages a gigabyte: three gigabytes a call.
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(test::audit(table).clean());
  EXPECT_EQ(table.stats().table_pages, g.root_pages());
}

}  // namespace
}  // namespace s2pt
