// Dirty logging under concurrency: vCPU threads take write faults on a logged range (pages and
// blocks, so lazy splits race) under the read side of the lock while a migration thread harvests
// with clear_dirty under the write side. Every write fault that returned is reported by a harvest
// that ran after it, nothing unwritten is ever reported, and the table stays consistent. Run clean
// under ThreadSanitizer (the tsan preset).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "s2pt/table_lock.hpp"
#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using namespace test::sizes;
constexpr Ipa kBase{1ull << 30};
constexpr u64 kBlocks = 8;
constexpr u64 kPages = kBlocks * 512;
constexpr Pa kBacking{1ull << 34};

TEST(ConcurrentDirtyLog, EveryWriteFaultIsReportedByALaterHarvest) {
  for (const BlockSplitting blocks : {BlockSplitting::lazy, BlockSplitting::eager}) {
    test::Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kAllFeatures, false);
    Table& table = rig.table();
    // Half the range as blocks, half as pages, all writable before logging starts.
    ASSERT_TRUE(table.map({kBase, kBlocks / 2 * k2M}, kBacking, Attrs::normal(Perm::rw)).ok());
    ASSERT_TRUE(table
                    .map({kBase + kBlocks / 2 * k2M, kBlocks / 2 * k2M},
                         kBacking + kBlocks / 2 * k2M, Attrs::normal(Perm::rw), MapFlags::no_blocks)
                    .ok());
    std::vector<u64> dirty((kPages + 63) / 64, 0);
    ASSERT_TRUE(table
                    .enable_dirty_log({kBase, kPages * k4K}, DirtyBitmap{dirty.data(), kPages},
                                      DirtyLogOptions{.blocks = blocks})
                    .ok());

    TableLock lock;
    // Per page: how many write faults returned, and how many of those a harvest covered (a
    // harvest that reports the page covers every fault that returned before it took the bits).
    std::vector<std::atomic<u64>> faults_done(kPages);
    std::vector<u64> covered(kPages, 0);
    std::vector<u64> reports(kPages, 0);
    std::atomic<int> running{0};
    std::atomic<u64> errors{0};
    // The vCPUs go on until some harvests ran beside them, however the threads are scheduled.
    constexpr u64 kRacingHarvests = 4;
    std::atomic<u64> harvests_while_running{0};
    constexpr unsigned kCpus = 3;
    std::vector<std::thread> cpus;
    for (unsigned cpu = 0; cpu < kCpus; ++cpu) {
      ++running;
      cpus.emplace_back([&, cpu] {
        PageCache cache(k4K, cpu);
        std::mt19937_64 rng(cpu + 7);
        for (int i = 0; i < 20000 || harvests_while_running.load() < kRacingHarvests; ++i) {
          if (cache.topup(rig.pool) != Status::ok) ++errors;
          // Writes cluster on a few pages so that harvests catch some twice.
          const u64 page = rng() % 4 == 0 ? rng() % 16 : rng() % kPages;
          const Ipa ipa = kBase + page * k4K;
          Result<FaultOutcome> r = Status::again;
          {
            SharedTableLock reader(lock, cpu);
            r = table.handle_fault({.ipa = ipa,
                                    .pa = kBacking + page * k4K,
                                    .leaf_bytes = k4K,
                                    .attrs = Attrs::normal(Perm::rw)},
                                   cache);
            // Counted before the read side is left: a harvest that takes the write side between
            // the return and the count would report the page without covering this fault (a
            // sanitizer run once slowed a vCPU long enough to show it).
            if (r.ok()) faults_done[page].fetch_add(1, std::memory_order_release);
          }
          if (!r.ok() && r.status() != Status::again) ++errors;
        }
        cache.drain(rig.pool);
        --running;
      });
    }
    std::vector<u64> mask((kPages + 63) / 64, ~u64{0});
    std::vector<u64> cleared((kPages + 63) / 64, 0);
    auto harvest = [&] {
      ExclusiveTableLock writer(lock);
      // No fault runs now: what has returned so far is what this harvest must cover.
      std::vector<u64> done(kPages);
      for (u64 p = 0; p < kPages; ++p)
        done[p] = faults_done[p].load(std::memory_order_acquire);
      const Progress p = table.clear_dirty({kBase, kPages * k4K}, DirtyBitmap{mask.data(), kPages},
                                           DirtyBitmap{cleared.data(), kPages});
      if (!p.ok()) ++errors;
      for (u64 page = 0; page < kPages; ++page) {
        if ((cleared[page / 64] >> (page % 64)) & 1) {
          ++reports[page];
          covered[page] = done[page];
        }
      }
    };
    while (running > 0) {
      harvest();
      ++harvests_while_running;
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // let the vCPUs run
    }
    for (std::thread& t : cpus)
      t.join();
    harvest();  // the last writes

    EXPECT_EQ(errors.load(), 0u);
    u64 written = 0;
    for (u64 page = 0; page < kPages; ++page) {
      const u64 done = faults_done[page].load();
      written += done != 0;
      EXPECT_EQ(covered[page], done) << "page " << page << ": a write fault no harvest reported";
      if (done == 0) {
        EXPECT_EQ(reports[page], 0u) << "page " << page << " reported, never written";
      }
    }
    EXPECT_GT(written, kPages / 2);
    EXPECT_GE(harvests_while_running.load(), kRacingHarvests)
        << "the harvests must race the faults";
    const test::AuditReport r = test::audit(table);
    EXPECT_TRUE(r.clean()) << r.summary();
  }
}

}  // namespace
}  // namespace s2pt
