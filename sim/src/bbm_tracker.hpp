// The break-before-make oracle. The model cannot trap the core's stores, but a live entry can
// only be "broken" by a TLBI that completes at a DSB ISH, so observing the tables at every
// DSB ISH (and at every operation's return) is enough: a valid-to-valid change that needs BBM
// and is seen between two observations had no completed TLBI in between; a valid entry seen
// invalid opens a break that the TLBIs completed at that DSB may close (if they cover it), and
// a new valid value that needs BBM while its break is open is a violation.
#pragma once

#include <mutex>
#include <unordered_map>
#include <vector>

#include "s2pt/sim/machine.hpp"

namespace s2pt::sim {

struct BbmTracker {
  struct Shadow {
    Level level{0};
    Ipa base;
    std::vector<u64> seen;
    u64 epoch = 0;
  };
  struct Break {
    Vmid vmid;
    Pa page;  // the table page holding the slot
    Pte old;
    Level level{0};
    Ipa base;
    u64 bytes = 0;
  };

  // Diffs every reachable table page (and forgets the unreachable ones).
  void observe(Machine& m);
  // Diffs only the pages translating what `scopes` invalidate: enough to record every break
  // these TLBIs may complete. Changes elsewhere are judged at the next full observation.
  void observe(Machine& m, const std::vector<TlbiScope>& scopes);
  void completed(const TlbiScope& scope);

 private:
  // Diffs the pages (and, in them, the entries) intersecting `regions` ([start, end) IPA byte
  // ranges), or everything when null.
  void diff(Machine& m, const std::vector<std::pair<u64, u64>>* regions);
  void transition(Machine& m, const AttachedTable& t, Pa page, Pa slot, Level level, Ipa base,
                  Pte before, Pte now);

  std::mutex mutex_;
  std::unordered_map<u64, Shadow> pages_;  // by table page PA
  std::unordered_map<u64, Break> breaks_;  // by slot PA
  u64 epoch_ = 0;
};

}  // namespace s2pt::sim
