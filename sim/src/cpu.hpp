// One modelled CPU's state. Everything here is guarded by `mutex`.
#pragma once

#include <mutex>
#include <vector>

#include "s2pt/maintenance_counters.hpp"
#include "s2pt/sim/machine.hpp"

namespace s2pt::sim {

struct PendingTlbi {
  TlbiScope scope;
  bool reported = false;
};

struct Cpu {
  Cpu(unsigned i, u64 seed) : index(i), rng(seed) {}

  unsigned index;
  mutable std::mutex mutex;
  Tlb tlb;
  std::vector<PendingTlbi> pending;  // broadcast TLBIs issued here, not yet completed
  u64 pending_cmos = 0;              // DC CIVACs issued here, not yet completed
  bool cmos_reported = false;
  std::vector<Access> log;  // the first MachineConfig::access_log_limit accesses
  u64 accesses = 0;
  u64 accesses_ok = 0;
  Rng rng;
  MaintenanceCounters counters;
  double modeled_ns = 0;
};

}  // namespace s2pt::sim
