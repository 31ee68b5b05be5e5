// Dirty logging under the threaded model: guest CPUs on their own host threads write random
// pages of a logged range (pages and blocks), their write faults go to the core's fault path
// under the read side of the lock, and the writer harvests with clear_dirty under the write side
// while the oracles check every harvest at its return. At the end every guest write must have
// been reported by a harvest after it (Machine::lost_writes), for either mechanism, also while
// pages are unmapped and mapped again beside the writes.
#pragma once

#include <functional>
#include <vector>

#include "s2pt/dirty_log.hpp"
#include "s2pt/sim/violation.hpp"
#include "s2pt/table.hpp"

namespace s2pt::sim {

struct DirtyWorkloadConfig {
  DirtyTracking tracking = DirtyTracking::write_protect;
  BlockSplitting blocks = BlockSplitting::lazy;  // hardware tracking needs eager
  unsigned harvests = 40;
  unsigned cpus = 3;  // CPU 0 harvests; the others write
  // Memory moving under the guests: before each harvest, CPU 0 unmaps so many random pages
  // (cycling through the unmap strategies) and maps every other one again at once; the rest come
  // back through the fault path. What the guests wrote to a page before it went must still be
  // reported.
  unsigned moves_per_harvest = 0;
  u64 seed = 1;
  // Test-only, as WorkloadConfig::arch: an instruction-dropping wrapper the check must catch.
  std::function<Arch&(SteppingArch& sim_arch)> arch{};
};

struct DirtyWorkloadResult {
  u64 writes = 0;         // guest writes that succeeded
  u64 write_faults = 0;   // permission faults the fault path resolved
  u64 reported = 0;       // pages reported over all harvests
  u64 moved = 0;          // pages unmapped by the moves
  std::vector<Ipa> lost;  // pages whose last write no later harvest reported
  std::vector<Violation> violations;
};

DirtyWorkloadResult run_dirty_workload(const DirtyWorkloadConfig& config);

}  // namespace s2pt::sim
