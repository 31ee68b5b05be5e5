// Allocation failure at the 1st, 2nd, ... Nth allocation of an operation: the call reports
// no_memory, the table stays valid and agrees with what was reported done, nothing leaks.
#include <gtest/gtest.h>

#include <functional>

#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using test::Rig;

using namespace test::sizes;
const Attrs kRw = Attrs::normal(Perm::rw);

class OutOfMemory : public ::testing::TestWithParam<Granule> {};

// Maps 8 blocks' worth of pages, spread over two level-1/2 regions, failing allocation n.
TEST_P(OutOfMemory, LargeMapFailingAtEveryAllocation) {
  const Geometry g = test::make_geometry(GetParam(), 48, 48);
  const u64 block = g.level_bytes(Level{2});
  const Ipa start{g.level_bytes(Level{1}) * 2 - 4 * block};  // crosses a level-1 boundary
  const IpaRange range{start, 8 * block};
  const Pa pa{4 * k1G};

  u64 needed = 0;
  {
    Rig rig(g);
    const u64 before = rig.pool.allocations();
    ASSERT_TRUE(rig.table().map(range, pa, kRw, MapFlags::no_blocks).ok());
    needed = rig.pool.allocations() - before;
  }
  ASSERT_GE(needed, 10u);

  for (u64 n = 0; n < needed; ++n) {
    SCOPED_TRACE("failing allocation " + std::to_string(n));
    Rig rig(g);
    rig.pool.fail_after(n);
    const Progress p = rig.table().map(range, pa, kRw, MapFlags::no_blocks);
    ASSERT_EQ(p.status, Status::no_memory);
    ASSERT_LT(p.bytes_done, range.size);
    const test::AuditReport report = test::audit(rig.table());
    ASSERT_TRUE(report.clean()) << report.summary();
    // Exactly the reported prefix is mapped.
    for (u64 off = 0; off < range.size; off += g.page_bytes()) {
      const Result<Translation> t = rig.table().lookup(range.start + off);
      if (off < p.bytes_done) {
        ASSERT_TRUE(t.ok()) << off;
        ASSERT_EQ(t->pa, pa + off);
      } else {
        ASSERT_FALSE(t.ok()) << off;
      }
    }
    rig.pool.never_fail();
    // The rest can be mapped afterwards, and everything torn down without a leak.
    const IpaRange rest{range.start + p.bytes_done, range.size - p.bytes_done};
    ASSERT_TRUE(rig.table().map(rest, pa + p.bytes_done, kRw, MapFlags::no_blocks).ok());
    rig.table().destroy();
    rig.table().reclaim_all();  // destroy() hands the pages to the reclaimer
    ASSERT_EQ(rig.pool.bytes_in_use(), 0u);
  }
}

// Splitting a block needs a page: unmap, write-protect and replace-map of part of a block fail
// cleanly when none is left.
TEST_P(OutOfMemory, SplitsFailCleanly) {
  const Geometry g = test::make_geometry(GetParam(), 48, 48);
  const u64 block = g.level_bytes(Level{2});
  const u64 page = g.page_bytes();
  const Ipa start{g.level_bytes(Level{1})};
  using Op = std::function<Progress(Table&)>;
  const Op ops[] = {
      [&](Table& t) {
        return t.unmap({start + page, page});
      },
      [&](Table& t) {
        return t.write_protect({start + page, page});
      },
      [&](Table& t) {
        return t.relax({start, page}, Perm::exec);
      },
      [&](Table& t) {
        return t.map({start + page, page}, Pa{0}, kRw, MapFlags::replace);
      },
      [&](Table& t) {
        return t.annotate({start + block + page, page}, OwnerId{2});
      },
  };
  for (const Op& op : ops) {
    Rig rig(g);
    ASSERT_TRUE(rig.table().map({start, block}, Pa{4 * k1G}, kRw).ok());
    ASSERT_TRUE(rig.table().annotate({start + block, block}, OwnerId{1}).ok());
    const test::TableSnapshot before = test::snapshot(rig.table());
    rig.pool.fail_after(0);
    EXPECT_EQ(op(rig.table()).status, Status::no_memory);
    EXPECT_TRUE(test::snapshot(rig.table()) == before);
    rig.pool.never_fail();
    rig.table().destroy();
    rig.table().reclaim_all();  // destroy() hands the pages to the reclaimer
    EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
  }
}

TEST(OutOfMemoryCreate, NoRootNoTable) {
  hosted::PagePool pool;
  counting::CountingArch arch;
  pool.fail_after(0);
  const Result<Table> t = Table::create(
      {.geometry = test::make_geometry(Granule::k16, 40, 40), .vmid = Vmid{1}}, pool, arch);
  EXPECT_EQ(t.status(), Status::no_memory);
  EXPECT_EQ(pool.bytes_in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(EachGranule, OutOfMemory,
                         ::testing::Values(Granule::k4, Granule::k16, Granule::k64),
                         [](const auto& param_info) {
                           return std::to_string(granule_bytes(param_info.param) >> 10) + "K";
                         });

}  // namespace
}  // namespace s2pt
