// Guest CPUs that keep reading a range while EL2 changes its translation (guest_hammer in
// guest.S), and the control words they share with EL2.
#pragma once

#include "vm.hpp"

namespace el2 {

enum class HammerPhase : u64 {
  running = 0,
  unmap_started = 1,
  unmap_returned = 2,  // every access from now on must fault
  stop = 3,
};

struct HammerRange {
  Ipa start;
  u64 pages;
  u64 stride;
  u64 salt;
};

struct HammerReport {
  GuestExit exit;
  u64 late_successes;  // reads that succeeded in a pass begun after unmap returned
  u64 wrong_values;    // reads that succeeded with the wrong data
  u64 early_successes;
  u64 passes;
};

// Starts guest_hammer over `range` on every CPU but 0.
void start_hammers(const HammerRange& range);
// Waits until every hammering CPU completed `passes` passes (false after `timeout_us`).
bool wait_for_passes(u64 passes, u64 timeout_us);
void set_phase(HammerPhase phase);
// Waits for the hammers to return; their reports are indexed by CPU.
void join_hammers(HammerReport* reports);
// One hammer pass on the calling CPU (with the phase as it is now).
HammerReport hammer_here(const HammerRange& range);

// A fault handler for unmaps under hammering: every fault must be a translation fault inside
// `range`; anything else is counted (and skipped like the rest).
struct ExpectedFaults {
  IpaRange range;
  u64 unexpected = 0;
  StageTwoFault first_unexpected{};
};
FaultAction expect_translation_fault_in_range(const StageTwoFault& f, void* context);

// Calls fn(strategy) for every unmap strategy of the core. Strategies are enumerated by value
// until name() no longer knows one, so strategies the core gains later run without a change.
template <class Fn>
void for_each_strategy(Fn&& fn) {
  for (u8 i = 0;; ++i) {
    const s2pt::UnmapStrategy s = s2pt::UnmapStrategy(i);
    if (name(s)[0] == '?') return;
    fn(s);
  }
}

// One run of the "unmap" scenario: a range of pages and a block under hammering, unmapped with
// `strategy`; with `control` set, through that (broken) backend, and the run passes only if the
// hammers saw an access succeed after unmap returned.
struct UnmapCase {
  s2pt::Granule granule;
  unsigned ipa_bits;
  s2pt::UnmapStrategy strategy;
  bool fwb;
  bool range_tlbi;
  s2pt::Arch* control = nullptr;
};
bool run_unmap_case(const UnmapCase& c);

}  // namespace el2
