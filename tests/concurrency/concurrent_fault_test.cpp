// Many CPUs (threads) handling faults at once, under the read side of the lock, while another
// takes the write side now and then to unmap, write-protect, split and collapse. Run clean under
// ThreadSanitizer (the tsan preset).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "s2pt/table_lock.hpp"
#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using namespace test::sizes;
constexpr Ipa kBase{1ull << 30};
constexpr u64 kRegion = 32 * k2M;
constexpr Pa kBacking{1ull << 34};

// Every thread agrees on what backs each IPA, so concurrent faults never conflict on memory.
Pa backing(Ipa ipa) {
  return kBacking + (ipa - kBase);
}

int iterations() {
  // S2PT_STRESS_ITERATIONS makes the run longer; the default keeps ctest quick.
  const char* env = std::getenv("S2PT_STRESS_ITERATIONS");
  return env ? std::atoi(env) : 3000;
}

TEST(ConcurrentFaults, FaultingCpusAndAnExclusiveWriterKeepTheTableConsistent) {
  for (const Features& features : {test::kAllFeatures, test::kNoFeatures}) {
    test::Rig rig(test::make_geometry(Granule::k4, 40, 40), features, /*record=*/false);
    Table& table = rig.table();
    TableLock lock;
    std::atomic<int> running{0};
    std::atomic<u64> mapped{0};
    std::atomic<u64> failures{0};
    constexpr unsigned kFaultingCpus = 3;

    std::vector<std::thread> cpus;
    for (unsigned cpu = 0; cpu < kFaultingCpus; ++cpu) {
      ++running;
      cpus.emplace_back([&, cpu] {
        PageCache cache(k4K, cpu);
        std::mt19937_64 rng(cpu + 1);
        for (int i = 0; i < iterations(); ++i) {
          if (cache.topup(rig.pool) != Status::ok) ++failures;
          const Ipa ipa = kBase + (rng() % (kRegion / k4K)) * k4K;
          const bool block = rng() % 4 == 0;
          const u64 leaf = block ? k2M : k4K;
          const Ipa leaf_ipa = ipa.align_down(leaf);
          const Perm perm = rng() % 2 ? Perm::rw : Perm::read;
          SharedTableLock reader(lock, cpu);
          const Result<FaultOutcome> r = table.handle_fault({.ipa = ipa,
                                                             .pa = backing(leaf_ipa),
                                                             .leaf_bytes = leaf,
                                                             .attrs = Attrs::normal(perm)},
                                                            cache);
          if (r.ok() && r.value() == FaultOutcome::mapped) ++mapped;
          if (!r.ok() && r.status() != Status::again) ++failures;
        }
        cache.drain(rig.pool);
        --running;
      });
    }
    std::thread writer([&] {
      std::mt19937_64 rng(99);
      while (running > 0) {
        const u64 size = (1 + rng() % 4) * (rng() % 2 ? k2M : 16 * k4K);
        const Ipa start = kBase + (rng() % ((kRegion - size) / k4K)) * k4K;
        {
          ExclusiveTableLock w(lock);
          Progress p;
          switch (rng() % 5) {
            case 0:
              p = table.unmap({start, size}, kAllUnmapStrategies[rng() % 4]);
              break;
            case 1:
              p = table.write_protect({start, size});
              break;
            case 2:
              p = table.split({start, size}, kLastLevel, 64);
              break;
            case 3:
              p = table.collapse({start, size});
              break;
            default:
              p = table.relax({start, size}, Perm::write);
              break;
          }
          if (!p.ok() && p.status != Status::again) ++failures;
        }
        std::this_thread::yield();
      }
    });
    for (std::thread& t : cpus)
      t.join();
    writer.join();

    EXPECT_EQ(failures, 0u);
    EXPECT_GT(mapped, 0u);
    const test::AuditReport report = test::audit(table);
    EXPECT_TRUE(report.clean()) << report.summary();
    for (u64 off = 0; off < kRegion; off += k4K) {
      const Result<Translation> t = table.lookup(kBase + off);
      if (t.ok()) {
        ASSERT_EQ(t->pa, backing(kBase + off)) << off;
      }
    }
    table.destroy();
    table.reclaim_all();
    EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
  }
}

}  // namespace
}  // namespace s2pt
