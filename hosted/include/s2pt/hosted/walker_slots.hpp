// The hosted default for shared walkers' reclaimer slots: each host thread that walks gets a slot
// of its own for as long as it lives (a hypervisor would use its physical CPU number instead).
#pragma once

#include "s2pt/reclaim.hpp"

namespace s2pt::hosted {

// This thread's slot, claimed on first use and released when the thread exits. Aborts if more
// than Reclaimer::kWalkerSlots threads walk at once.
unsigned this_thread_walker_slot();

// Enter/exit a table's reclaimer from the calling thread, for the duration of a shared walk.
class SharedWalk {
 public:
  explicit SharedWalk(Reclaimer& r) : guard_(r, this_thread_walker_slot()) {}

 private:
  Reclaimer::Guard guard_;
};

}  // namespace s2pt::hosted
