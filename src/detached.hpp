// A subtree no walker can reach (never linked, or unlinked with its TLB invalidation completed),
// named by its top table, and what freeing it has to do with its leaves.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

// The top table of a subtree, at `level`, translating from `base` (its first entry's IPA). The
// top table at the start level is a table's root (root_pages() concatenated granules).
struct Subtree {
  Pa table;
  Level level{kLastLevel};
  Ipa base;
};

enum class SubtreeLeaves : u8 {
  unread,     // nothing: never linked, the memory stays mapped (a split), or already handled
  removed,    // their translations are gone: memory cleaned to PoC without FWB, dirty state kept
  torn_down,  // a destroyed table's: as `removed`, and the leaf observer hears of each
};

}  // namespace s2pt
