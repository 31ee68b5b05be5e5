// The lists of retired table pages and the state of freeing them (src/reclaim.cpp), kept beside
// the public Reclaimer's epochs.
#pragma once

#include "detached.hpp"
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
  // The subtree being freed (table zero Pa: none), the walk's cursor in it (entries before it
  // are freed) and what its leaves need. A table page whose entries were all freed when the
  // last call's budget ran out is `owed`, freed first by the next.
  Subtree freeing{};
  Ipa freeing_from{};
  SubtreeLeaves freeing_leaves = SubtreeLeaves::unread;
  Pa owed{};
};

}  // namespace s2pt
