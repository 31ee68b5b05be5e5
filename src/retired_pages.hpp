// The lists of retired table pages and the state of freeing them (src/reclaim.cpp), kept beside
// the public Reclaimer's epochs.
#pragma once

#include "s2pt/pte.hpp"

namespace s2pt {

struct RetiredPages {
  // A list is named by a link word (see src/reclaim.cpp); 0 is the empty list. Its members are
  // log pages (each a page of links to retired subtrees) and, when no log page could be had,
  // retired table pages themselves.
  struct Batch {
    u64 head = 0;
    Pa tail{};      // first page put in the batch: its link is spliced on merge
    u64 stamp = 0;  // epoch the batch was closed in
  };
  // A table page being freed entry by entry, after its grace period.
  struct Frame {
    Pa page{};
    int level = 0;
    u64 next_index = 0;
    Ipa base{};
    bool root = false;  // the concatenated root (freed as one block)
  };
  static constexpr unsigned kMaxFrames = 5;  // levels -1..3

  // The depth-first stack of a subtree being freed: one frame per level at most.
  class Frames {
   public:
    bool empty() const { return depth_ == 0; }
    Frame& top() { return frames_[depth_ - 1]; }
    void pop() { --depth_; }
    // Starts a new subtree.
    void start(const Frame& f) {
      frames_[0] = f;
      depth_ = 1;
    }
    // A child table one level below the top. Fails, pushing nothing, when the stack is full,
    // which only a table deeper than the last level could cause.
    bool push(const Frame& f) {
      if (depth_ == kMaxFrames) return false;
      frames_[depth_++] = f;
      return true;
    }

   private:
    Frame frames_[kMaxFrames];
    unsigned depth_ = 0;
  };

  Batch current;  // retired, epoch not yet closed
  Batch waiting;  // closed, waiting for its grace period
  Batch ready;    // grace period over, being freed
  // The root of a destroyed table, with the stamp of its teardown; zero Pa when none.
  Pa teardown_root{};
  u64 teardown_stamp = 0;
  bool teardown_pending = false;
  // The log page of `current` being filled, and its next free slot (zero Pa: none yet). Slot 0
  // holds the page's own link in the batch.
  Pa log{};
  u64 log_slot = 0;
  // The log page whose subtrees are being freed, and the slot of the next (zero Pa: none).
  Pa freeing_log{};
  u64 freeing_slot = 0;
  // Frees in progress: a depth-first stack over one subtree.
  Frames frames;
  // Whether the subtree on the frame stack still holds leaves that need cache maintenance or the
  // leaf observer (a destroyed table's); unmap handles its leaves before retiring.
  bool frames_hold_leaves = false;
};

}  // namespace s2pt
