// The fault path cannot allocate (other walkers run): it takes table pages from a per-CPU cache
// the caller filled beforehand. Exhaustion, for each granule and every fill level short of what a
// fault needs: the allocator runs dry during topup after n pages (topup reports no_memory and
// keeps them); a fault needing more pages than the cache holds fails with no_memory, changes
// nothing and consumes no page; with enough it maps, using one page per missing level. Nothing
// leaks once the cache is drained and the table destroyed.
#include <gtest/gtest.h>

#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using test::Rig;

class FaultPathCache : public ::testing::TestWithParam<Granule> {};

TEST_P(FaultPathCache, ExhaustionAtEveryFillLevel) {
  const Geometry g = test::make_geometry(GetParam(), 48, 48);
  // An empty table: the fault needs a table for every level below the root.
  const unsigned needed = g.levels() - 1;
  const Ipa ipa{g.level_bytes(Level{2}) * 5 + 3 * g.page_bytes()};
  const Pa pa{u64{1} << 40};
  for (unsigned held = 0; held <= needed; ++held) {
    SCOPED_TRACE("cache holds " + std::to_string(held) + " of " + std::to_string(needed));
    Rig rig(g);
    PageCache cache(g.page_bytes(), 0);
    rig.pool.fail_after(held);
    ASSERT_EQ(cache.topup(rig.pool), Status::no_memory);
    rig.pool.never_fail();
    ASSERT_EQ(cache.size(), held);

    const test::TableSnapshot before = test::snapshot(rig.table());
    const Result<FaultOutcome> r = rig.table().handle_fault(
        {.ipa = ipa, .pa = pa, .leaf_bytes = g.page_bytes(), .attrs = Attrs::normal(Perm::rw)},
        cache);
    if (held < needed) {
      ASSERT_EQ(r.status(), Status::no_memory);
      ASSERT_TRUE(test::snapshot(rig.table()) == before) << "a refused fault changed the table";
      ASSERT_EQ(cache.size(), held) << "a refused fault consumed cached pages";
      ASSERT_FALSE(rig.table().lookup(ipa).ok());
    } else {
      ASSERT_TRUE(r.ok()) << describe(r.status());
      ASSERT_EQ(r.value(), FaultOutcome::mapped);
      ASSERT_EQ(rig.table().lookup(ipa)->pa, pa);
      ASSERT_EQ(cache.size(), held - needed);
    }
    const test::AuditReport report = test::audit(rig.table());
    ASSERT_TRUE(report.clean()) << report.summary();

    cache.drain(rig.pool);
    rig.table().destroy();
    rig.table().reclaim_all();
    ASSERT_EQ(rig.pool.bytes_in_use(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(EachGranule, FaultPathCache,
                         ::testing::Values(Granule::k4, Granule::k16, Granule::k64),
                         [](const auto& param_info) {
                           return std::to_string(granule_bytes(param_info.param) >> 10) + "K";
                         });

}  // namespace
}  // namespace s2pt
