#include "s2pt/hosted/walker_slots.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace s2pt::hosted {
namespace {

std::atomic<u64> claimed{0};  // one bit per slot
static_assert(Reclaimer::kWalkerSlots <= 64);

struct ThreadSlot {
  unsigned slot;
  ThreadSlot() : slot(claim()) {}
  ~ThreadSlot() { claimed.fetch_and(~(u64{1} << slot)); }

  static unsigned claim() {
    u64 seen = claimed.load();
    for (;;) {
      const u64 free_slots = ~seen & ((u64{1} << Reclaimer::kWalkerSlots) - 1);
      if (free_slots == 0) {
        std::fprintf(stderr, "s2pt: more than %u threads walking at once\n",
                     Reclaimer::kWalkerSlots);
        std::abort();
      }
      const unsigned slot = static_cast<unsigned>(__builtin_ctzll(free_slots));
      if (claimed.compare_exchange_weak(seen, seen | (u64{1} << slot))) return slot;
    }
  }
};

}  // namespace

unsigned this_thread_walker_slot() {
  thread_local ThreadSlot mine;
  return mine.slot;
}

}  // namespace s2pt::hosted
