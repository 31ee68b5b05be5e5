// A random table workload against the model: one writer maps, unmaps, write-protects, relaxes,
// ages, splits (map with replace over part of a block, and eager split of blocks to pages) and
// collapses while guest CPUs access the same IPAs and speculatively fill their caches. Every
// operation is checked by the oracles at its return.
#pragma once

#include <functional>
#include <vector>

#include "s2pt/maintenance_counters.hpp"
#include "s2pt/sim/config.hpp"
#include "s2pt/sim/violation.hpp"
#include "s2pt/table.hpp"

namespace s2pt::sim {

struct WorkloadConfig {
  Granule granule = Granule::k4;
  bool fwb = true;
  bool tlbi_range = true;
  bool ttl = true;
  // FEAT_DIC: without it, mapping executable memory needs IC IVAU (the I-cache oracle checks).
  bool dic = false;
  UnmapStrategy strategy = UnmapStrategy::per_entry;
  // The table's IPA and PA sizes; a 52-bit PA size uses the granule's 52-bit descriptor layout
  // (the machine then offers FEAT_LPA2 and FEAT_LPA).
  unsigned ipa_bits = 40;
  unsigned pa_bits = 40;
  // Start of the 1 GiB IPA window the operations and guests use. With 4K and 40 bits,
  // 512 GiB - 512 MiB makes it straddle the two concatenated root pages.
  Ipa window_start{u64{1} << 30};
  unsigned ops = 200;
  u64 seed = 1;
  // true: every guest CPU runs on its own host thread, plus a prefetcher thread (real races, not
  // reproducible); false: stepped mode, one thread, reproducible from the seed.
  bool threaded = true;
  unsigned cpus = 3;  // CPU 0 runs the writer; the others run guests
  // Threaded mode: a guest access that takes a translation fault in the window is, now and then,
  // resolved by the core's shared fault path (handle_fault) on the guest's CPU.
  bool faults = true;
  Adversary adversary{};
  // Test-only: the Arch the table is given, from the machine's SimArch (by default, that one).
  // Lets a test put an instruction-dropping wrapper in front to check the oracles catch it.
  std::function<Arch&(SteppingArch& sim_arch)> arch{};
};

struct WorkloadResult {
  u64 ops = 0;
  u64 ops_failed = 0;  // operations that returned an error (e.g. `exists`), not violations
  u64 accesses = 0;
  u64 accesses_ok = 0;
  u64 faults_mapped = 0;  // pages the guests' faults mapped through handle_fault
  std::vector<Violation> violations;
  MaintenanceCounters counters;
  double modeled_ns = 0;
  double host_ns = 0;
  u64 digest = 0;  // of the op sequence and (stepped mode) every access
};

WorkloadResult run_workload(const WorkloadConfig& config);

}  // namespace s2pt::sim
