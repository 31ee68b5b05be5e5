// Deterministic replay: in stepped mode a seed reproduces a run exactly (every access of every
// CPU, every violation), and another seed gives another run.
#include <gtest/gtest.h>

#include <optional>

#include "rig.hpp"
#include "s2pt/sim/workload.hpp"

namespace s2pt::sim {
namespace {

WorkloadConfig stepped(u64 seed) {
  return WorkloadConfig{.granule = Granule::k4,
                        .fwb = false,
                        .tlbi_range = true,
                        .ops = 60,
                        .seed = seed,
                        .threaded = false};
}

TEST(SimReplay, SameSeedSameRun) {
  const WorkloadResult a = run_workload(stepped(1234));
  const WorkloadResult b = run_workload(stepped(1234));
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(a.accesses, b.accesses);
  EXPECT_EQ(a.accesses_ok, b.accesses_ok);
  EXPECT_EQ(a.counters, b.counters);
  EXPECT_EQ(a.modeled_ns, b.modeled_ns);
  EXPECT_EQ(a.violations.size(), b.violations.size());
  EXPECT_GT(a.accesses_ok, 0u);
}

TEST(SimReplay, OtherSeedOtherRun) {
  const WorkloadResult a = run_workload(stepped(1234));
  const WorkloadResult b = run_workload(stepped(4321));
  EXPECT_NE(a.digest, b.digest);
}

// A broken run (VMALLE1IS dropped) replays too: the same violations, at the same times.
TEST(SimReplay, ViolationsReplay) {
  std::optional<test::DroppingArch> dropping;
  WorkloadConfig c = stepped(99);
  c.arch = [&](SteppingArch& inner) -> Arch& {
    dropping.emplace(inner);
    dropping->drop_vmalle1is = true;
    return *dropping;
  };
  const WorkloadResult a = run_workload(c);
  const WorkloadResult b = run_workload(c);
  EXPECT_GT(a.violations.size(), 0u);
  EXPECT_EQ(a.digest, b.digest);
  ASSERT_EQ(a.violations.size(), b.violations.size());
  for (std::size_t i = 0; i < a.violations.size(); ++i) {
    EXPECT_EQ(a.violations[i].describe(), b.violations[i].describe());
  }
}

}  // namespace
}  // namespace s2pt::sim
