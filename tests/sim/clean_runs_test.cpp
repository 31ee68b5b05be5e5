// The correct code is clean: random map/unmap/write-protect/relax/age/split on one thread while
// guest CPUs access the same IPAs and fill their caches speculatively on others, for every unmap
// strategy, with and without FWB and TLBI-range, on 4K and 64K granules. Zero violations.
//
// S2PT_SIM_OPS=<n> runs n operations per configuration instead of the short default.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "rig.hpp"
#include "s2pt/sim/workload.hpp"

namespace s2pt::sim {
namespace {

unsigned ops_from_env(unsigned fallback) {
  const char* env = std::getenv("S2PT_SIM_OPS");
  return env != nullptr ? static_cast<unsigned>(std::strtoul(env, nullptr, 10)) : fallback;
}

struct CleanCase {
  UnmapStrategy strategy;
  Granule granule;
  bool fwb;
  bool range;
};

std::string case_name(const testing::TestParamInfo<CleanCase>& info) {
  const CleanCase& c = info.param;
  return std::string(name(c.strategy)) + (c.granule == Granule::k4 ? "_4K" : "_64K") +
         (c.fwb ? "_fwb" : "_nofwb") + (c.range ? "_range" : "_norange");
}

std::vector<CleanCase> all_cases() {
  std::vector<CleanCase> cases;
  // Every strategy the core names (so strategies added later are covered without an edit here).
  std::vector<UnmapStrategy> strategies;
  for (unsigned i = 0; i < 256; ++i) {
    if (std::string(name(UnmapStrategy(i))) != "?") strategies.push_back(UnmapStrategy(i));
  }
  for (UnmapStrategy s : strategies) {
    for (Granule g : {Granule::k4, Granule::k64}) {
      for (bool fwb : {true, false}) {
        for (bool range : {true, false})
          cases.push_back({s, g, fwb, range});
      }
    }
  }
  return cases;
}

std::string describe(const WorkloadResult& r);

// 52-bit tables on the model: each granule's 52-bit layout (LPA2 for 4K and 16K, LPA for 64K),
// guest memory above 2^48, the window across the seam of 4K's sixteen concatenated root pages
// and at the top of the space otherwise; every strategy, stepped (reproducible) guests.
TEST(SimCleanRun52, EveryGranuleAndStrategyWithFiftyTwoBitAddresses) {
  struct Case {
    Granule granule;
    Ipa window_start;
  };
  const Case cases[] = {{Granule::k4, Ipa{(u64{1} << 48) - (u64{1} << 29)}},
                        {Granule::k16, Ipa{(u64{1} << 52) - (u64{1} << 30)}},
                        {Granule::k64, Ipa{(u64{1} << 52) - (u64{1} << 30)}}};
  for (const Case& c : cases) {
    for (UnmapStrategy s : kAllUnmapStrategies) {
      const WorkloadResult r = run_workload(WorkloadConfig{.granule = c.granule,
                                                           .strategy = s,
                                                           .ipa_bits = 52,
                                                           .pa_bits = 52,
                                                           .window_start = c.window_start,
                                                           .ops = 50,
                                                           .threaded = false});
      EXPECT_TRUE(r.violations.empty()) << granule_shift(c.granule) << " " << name(s) << "\n"
                                        << describe(r);
      EXPECT_GT(r.ops, r.ops_failed) << "nothing succeeded";
      EXPECT_GT(r.accesses_ok, 0u);
    }
  }
}

std::string describe(const WorkloadResult& r) {
  std::string s;
  for (std::size_t i = 0; i < r.violations.size() && i < 20; ++i) {
    s += r.violations[i].describe() + "\n";
  }
  return s;
}

class SimCleanRun : public testing::TestWithParam<CleanCase> {};

TEST_P(SimCleanRun, ThreadedGuestsSeeNoViolation) {
  const CleanCase& c = GetParam();
  WorkloadConfig w{.granule = c.granule,
                   .fwb = c.fwb,
                   .tlbi_range = c.range,
                   .strategy = c.strategy,
                   .ops = ops_from_env(120),
                   .seed = 42,
                   .threaded = true};
  const WorkloadResult r = run_workload(w);
  EXPECT_TRUE(r.violations.empty()) << r.violations.size() << " violations\n" << describe(r);
  EXPECT_EQ(r.ops, w.ops);
  EXPECT_LT(r.ops_failed, r.ops);
  // The guests did translate through the table while it changed (not a vacuous run).
  EXPECT_GT(r.accesses_ok, 0u);
  EXPECT_GT(r.faults_mapped, 0u) << "the shared fault path never ran";
  EXPECT_GT(r.counters.tlbi_total(), 0u);
  EXPECT_GT(r.modeled_ns, 0.0);
  RecordProperty("modeled_ns", std::to_string(r.modeled_ns));
  RecordProperty("host_ns", std::to_string(r.host_ns));
}

TEST_P(SimCleanRun, SteppedGuestsSeeNoViolation) {
  const CleanCase& c = GetParam();
  WorkloadConfig w{.granule = c.granule,
                   .fwb = c.fwb,
                   .tlbi_range = c.range,
                   .strategy = c.strategy,
                   .ops = ops_from_env(120),
                   .seed = 7,
                   .threaded = false};
  const WorkloadResult r = run_workload(w);
  EXPECT_TRUE(r.violations.empty()) << r.violations.size() << " violations\n" << describe(r);
  EXPECT_GT(r.accesses_ok, 0u);
}

// 4K, 40-bit IPA: the root is two concatenated pages, the second starting at 512 GiB. A window
// straddling that boundary makes ranges (and detached subtrees) span both root pages.
TEST(SimCleanRun, RangesAcrossConcatenatedRootPagesAreClean) {
  for (UnmapStrategy strategy : kAllUnmapStrategies) {
    for (bool fwb : {true, false}) {
      for (bool threaded : {true, false}) {
        SCOPED_TRACE(std::string(name(strategy)) + (fwb ? " fwb" : " no-fwb") +
                     (threaded ? " threaded" : " stepped"));
        WorkloadConfig w{.granule = Granule::k4,
                         .fwb = fwb,
                         .strategy = strategy,
                         .window_start = Ipa{(u64{512} << 30) - (u64{512} << 20)},
                         .ops = ops_from_env(80),
                         .seed = 11,
                         .threaded = threaded};
        const WorkloadResult r = run_workload(w);
        EXPECT_TRUE(r.violations.empty()) << r.violations.size() << " violations\n" << describe(r);
        EXPECT_GT(r.accesses_ok, 0u);
      }
    }
  }
}

// The same threaded workload with the DSB ISH after each TLBI dropped is not clean: the runs
// above are not silent for lack of races.
TEST(SimDirtyRun, ThreadedRunWithoutDsbIsCaught) {
  std::optional<test::DroppingArch> dropping;
  WorkloadConfig w{.ops = 80, .seed = 5, .threaded = true};
  w.arch = [&](SteppingArch& inner) -> Arch& {
    dropping.emplace(inner);
    dropping->drop_dsb_ish = true;
    return *dropping;
  };
  const WorkloadResult r = run_workload(w);
  std::size_t incomplete = 0;
  std::size_t stale = 0;
  for (const Violation& v : r.violations) {
    incomplete += v.kind == ViolationKind::incomplete_tlbi ? 1 : 0;
    stale += v.kind == ViolationKind::stale_tlb || v.kind == ViolationKind::stale_walk_cache ||
                     v.kind == ViolationKind::walk_cache_to_freed ||
                     v.kind == ViolationKind::stale_access
                 ? 1
                 : 0;
  }
  EXPECT_GT(incomplete, 0u);
  EXPECT_GT(stale, 0u) << "no CPU cached anything the writer removed\n" << describe(r);
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, SimCleanRun, testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace s2pt::sim
