// The lists of retired table pages and the state of freeing them (src/reclaim.cpp), kept beside
// the public Reclaimer's epochs.
#pragma once

#include "s2pt/pte.hpp"

namespace s2pt {

struct RetiredPages {
  // A list is named by a link word (see src/reclaim.cpp); 0 is the empty list.
  struct Batch {
    u64 head = 0;
    Pa tail{};      // first page retired into the batch: its link is spliced on merge
    u64 stamp = 0;  // epoch the batch was closed in
    u64 pages = 0;
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

  Batch current;  // retired, epoch not yet closed
  Batch waiting;  // closed, waiting for its grace period
  Batch ready;    // grace period over, being freed
  // The root of a destroyed table, with the stamp of its teardown; zero Pa when none.
  Pa teardown_root{};
  u64 teardown_stamp = 0;
  bool teardown_pending = false;
  // Frees in progress: a depth-first stack over one subtree.
  Frame frames[kMaxFrames];
  unsigned depth = 0;
  // Whether the subtree on the frame stack still holds leaves that need cache maintenance or the
  // leaf observer (a destroyed table's); unmap handles its leaves before retiring.
  bool frames_hold_leaves = false;
};

}  // namespace s2pt
