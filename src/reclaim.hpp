// Retiring unlinked table pages and freeing them after their grace period (see
// include/s2pt/reclaim.hpp for the epoch rules).
//
// Retired subtrees are kept in lists that need no memory of their own beyond pages from Mm. A
// subtree is named by a link in a log page, a page of such links taken from Mm when the first
// subtree of a batch is retired: retiring then writes the top page's reference count and one word
// of the log, and leaves the subtree's pages alone (cold after a large unmap, each would cost a
// cache and TLB miss inside the exclusive section). The log pages of a batch are chained through
// their first entry.
//
// When Mm has no page for a log, the subtree is chained through its own pages instead: its top
// page's first entry is overwritten with the link (a busy encoding, see markers.hpp), and the
// table that entry pointed to is retired the same way right away, so that nothing is lost. A
// shared walker still holding such a page reads a busy entry and backs off; the hardware cannot
// reach it any more (its TLBI completed before retirement). The rest of a subtree is found by
// reading its entries once the grace period is over and the pages are no longer shared.
#pragma once

#include "table_core.hpp"

namespace s2pt {

// Hands over unlinked subtrees, each rooted at a table page at its level. Their TLB invalidation
// has completed and their leaves need no more attention. kRetireBatch is how many the callers
// gather before handing them over (and how many the fallback without a log page retires at once).
inline constexpr unsigned kRetireBatch = 16;
void retire_subtrees(TableCore& core, const Subtree* tables, unsigned count);

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
