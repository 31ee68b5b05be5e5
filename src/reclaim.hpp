// Retiring unlinked table pages and freeing them after their grace period (see
// include/s2pt/reclaim.hpp for the epoch rules).
//
// Retired pages are chained through their own first entry: a retired page is ours, and its first
// entry is overwritten with a link (a busy encoding, see markers.hpp) to the next retired page.
// A shared walker still holding the page reads a busy entry there and backs off; the hardware
// cannot reach it any more (its TLBI completed before retirement). The value the link replaced
// is not lost: when it pointed to a table, that table is retired as well, right away (so
// retiring a subtree touches one page per level), and the rest of the subtree is found by
// reading the other entries once the grace period is over and the pages are no longer shared.
#pragma once

#include "table_core.hpp"

namespace s2pt {

// Hands over unlinked subtrees, each rooted at a table page at its level. Their TLB invalidation
// has completed and their leaves need no more attention. Retiring touches the first entry and the
// count of one page per level of each subtree, cold after a large unmap: so a level at a time for
// up to kRetireBatch subtrees, their loads started together so that the misses overlap.
struct DetachedTable {
  Pa table{};
  Level level{0};
};
inline constexpr unsigned kRetireBatch = 16;
void retire_subtrees(TableCore& core, const DetachedTable* tables, unsigned count);

// Hands over a whole table's root (already unlinked from the tables' users: its entries are
// parked and the VMID invalidated). Its leaves are still reported and cleaned when freed.
void retire_root(TableCore& core, Pa root);

// Ends the current epoch: everything retired so far waits for the walkers now inside.
void close_retired(TableCore& core);

// Frees up to `budget` retired table pages whose grace period is over. Returns how many.
u64 reclaim(TableCore& core, u64 budget);

// Whether retired pages are still waiting to be freed.
bool reclaim_pending(TableCore& core);

// Frees everything retired, waiting for shared walkers to leave as needed.
void reclaim_all(TableCore& core);

}  // namespace s2pt
