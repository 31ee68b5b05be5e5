// How the modelled machine behaves: its size, and each adversarial behaviour as a switch (all on
// by default: the model is as unkind as the architecture allows).
#pragma once

#include "s2pt/arch.hpp"
#include "s2pt/sim/cost_model.hpp"

namespace s2pt::sim {

struct Adversary {
  // Entries stay cached until a TLBI removes them. When off, a full TLB evicts a random entry
  // and fills also evict at random now and then.
  bool no_eviction = true;
  // A CPU may walk and cache any valid translation at any time: prefetch() and, in stepped mode,
  // random prefetches at every maintenance instruction.
  bool speculative_fills = true;
  // A TLBI takes effect, on every CPU including the issuer, only at the issuer's next DSB ISH.
  // When off, it takes effect at once (as QEMU does).
  bool delayed_completion = true;
  // Completed TLBIs are applied stage-1 first, so a CPU can rebuild a combined entry from a
  // stage-2 entry that a later TLBI of the same batch removes (why the first DSB ISH is needed).
  bool reorder_completion = true;
  // Every fill also creates a combined stage-1+2 entry, which only VMALLE1IS/VMALLS12E1IS remove.
  bool combined_entries = true;
};

struct MachineConfig {
  unsigned cpus = 2;
  unsigned tlb_entries = 4096;  // per CPU, stage-2 and combined entries together
  unsigned walk_cache_entries = 512;
  u64 access_log_limit = u64{1} << 20;  // per CPU; later accesses are counted, not logged
  Features features{.fwb = true, .tlbi_range = true, .ttl = true, .dic = true, .bbm_level = 0};
  Adversary adversary{};
  CostModel costs{};
  u64 seed = 1;
};

}  // namespace s2pt::sim
