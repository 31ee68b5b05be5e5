// Epoch-based reclamation of table pages (freestanding: no heap, no OS, no locks).
//
// A table page that was unlinked may still be in use by
//  - hardware walkers, through walk caches: the TLB invalidation that follows the unlink removes
//    those, and it is complete at the writer's next DSB ISH;
//  - shared software walkers (the concurrent fault path) that loaded a pointer to it before the
//    unlink and have not finished their walk.
// A page is retired only after the first condition holds, and freed only once the second has
// passed too: every shared walker brackets its walk with enter(slot)/exit(slot), which publishes
// the epoch it started in; a batch retired while the epoch was `e` is freed once no walker that
// entered at or before `e` is still inside.
//
// This class holds only that state and the epoch logic. The retired subtrees themselves are
// named in log pages taken from Mm, or, when Mm has none to give, chained through their own first
// entries (src/reclaim.hpp): there is no bound on how many pages can wait, and running out of
// memory never stops a retirement.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

class Reclaimer {
 public:
  // Shared walkers run in one of these slots (e.g. one per physical CPU); a slot is used by one
  // walker at a time.
  static constexpr unsigned kWalkerSlots = 32;
  static constexpr u64 kIdle = 0;

  // Shared walker side. `slot` < kWalkerSlots. From enter() to exit(), every table page the walker
  // can reach from the root stays allocated, even if it is unlinked meanwhile. A walker must not
  // take a reference on a page whose reference count is zero (TableCore::try_get): such a page
  // was retired.
  // Returns the epoch entered.
  u64 enter(unsigned slot) {
    const u64 now = __atomic_load_n(&epoch_.value, __ATOMIC_SEQ_CST);
    __atomic_store_n(&slots_[slot].epoch, now, __ATOMIC_RELAXED);
    // The fence orders the store above before every entry this walker loads afterwards. The
    // writer has a fence between its unlink and its reading of the slots (close_epoch,
    // grace_over): of the two fences, if the walker's comes first the writer sees the slot, and
    // if the writer's comes first the walker cannot load the unlinked entry. A sequentially
    // consistent store would add a second full barrier to every fault for nothing.
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return now;
  }
  void exit(unsigned slot) { __atomic_store_n(&slots_[slot].epoch, kIdle, __ATOMIC_RELEASE); }

  // Writer side. Closes the current epoch: whatever was retired before this call carries the
  // returned stamp. The unlinks that made those pages unreachable happened before (the caller
  // has completed their TLBI, which includes a DSB).
  u64 close_epoch() {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_fetch_add(&epoch_.value, 1, __ATOMIC_SEQ_CST);
  }
  // Whether every shared walker that could hold a page retired under `stamp` has left.
  bool grace_over(u64 stamp) const {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (const Slot& slot : slots_) {
      const u64 entered = __atomic_load_n(&slot.epoch, __ATOMIC_SEQ_CST);
      if (entered != kIdle && entered <= stamp) return false;
    }
    return true;
  }
  u64 epoch() const { return __atomic_load_n(&epoch_.value, __ATOMIC_SEQ_CST); }

  // Scoped enter/exit.
  class Guard {
   public:
    Guard(Reclaimer& r, unsigned slot) : r_(r), slot_(slot), entered_(r_.enter(slot_)) {}
    ~Guard() { r_.exit(slot_); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    // Whether something was retired since the walker entered: what it wrote may have landed in
    // a page that is no longer linked (only a caller breaking the locking rules lets that happen).
    bool retired_meanwhile() const { return r_.epoch() != entered_; }

   private:
    Reclaimer& r_;
    unsigned slot_;
    u64 entered_;
  };

 private:
  // Every shared walker reads the epoch; the slots they write stay off its cache line.
  struct PaddedEpoch {
    u64 value = 1;
    u64 padding[7] = {};
  };
  PaddedEpoch epoch_;
  // One cache line per walker (a 64-byte stride puts every epoch in a line of its own whatever
  // the base alignment): CPUs entering and leaving at once must not share one.
  struct Slot {
    u64 epoch = kIdle;
    u64 padding[7] = {};
  };
  static_assert(sizeof(Slot) == 64);
  Slot slots_[kWalkerSlots] = {};
};

}  // namespace s2pt
