// The counting backend records one shared sequence even when several CPUs (threads) issue
// maintenance at once: the fault path relaxing permissions on every thread, recording on. Run it
// under ThreadSanitizer (the tsan preset) to see a race on the log.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "s2pt/table_lock.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using namespace test::sizes;
constexpr Ipa kBase{1ull << 30};
constexpr Pa kBacking{1ull << 34};
constexpr unsigned kCpus = 3;
constexpr u64 kPagesPerCpu = 200;

TEST(Recording, ConcurrentFaultsRecordEveryOperation) {
  test::Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kNoFeatures, /*record=*/true);
  Table& table = rig.table();
  TableLock lock;
  std::vector<std::thread> cpus;
  for (unsigned cpu = 0; cpu < kCpus; ++cpu) {
    cpus.emplace_back([&, cpu] {
      PageCache cache(k4K, cpu);
      for (u64 i = 0; i < kPagesPerCpu; ++i) {
        const u64 offset = (cpu * kPagesPerCpu + i) * k4K;
        ASSERT_EQ(cache.topup(rig.pool), Status::ok);
        SharedTableLock reader(lock, cpu);
        // A read fault maps the page (DC CIVAC, DSB ISH); the write fault relaxes it (TLBIs).
        for (Perm perm : {Perm::read, Perm::rw}) {
          const Result<FaultOutcome> r = table.handle_fault({.ipa = kBase + offset,
                                                             .pa = kBacking + offset,
                                                             .leaf_bytes = k4K,
                                                             .attrs = Attrs::normal(perm)},
                                                            cache);
          ASSERT_TRUE(r.ok()) << describe(r.status());
        }
      }
      cache.drain(rig.pool);
    });
  }
  for (std::thread& t : cpus)
    t.join();

  const MaintenanceCounters issued = table.stats().maintenance;
  const auto count = [&](counting::OpKind kind) {
    return static_cast<u64>(std::count_if(rig.arch.log().begin(), rig.arch.log().end(),
                                          [&](const counting::Op& op) { return op.kind == kind; }));
  };
  EXPECT_GE(issued.tlbi_total(), kCpus * kPagesPerCpu);
  EXPECT_EQ(count(counting::OpKind::tlbi), issued.tlbi_total());
  EXPECT_EQ(count(counting::OpKind::dsb_ish), issued.dsb_ish);
  EXPECT_EQ(count(counting::OpKind::dc_civac), issued.dc_civac_calls);
  table.destroy();
  table.reclaim_all();
}

}  // namespace
}  // namespace s2pt
