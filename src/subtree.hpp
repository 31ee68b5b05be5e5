// Building blocks shared by the table operations: splitting a leaf into a table, the
// break-before-make sequence, and disposing of a subtree that is no longer reachable.
#pragma once

#include "s2pt/walker.hpp"

namespace s2pt {

// A new table page whose entries reproduce `leaf` (a block, or an annotated invalid entry) one
// level deeper, so that installing it changes no translation. no_memory if none is left.
Result<Pa> build_split_table(TableCore& core, Pte leaf, Level level);

// Replaces the live entry at ctx by `next` with break-before-make: lock (invalid to the
// hardware), invalidate what the old entry translated, then store `next`. A removed table's
// subtree is disposed of; a removed cacheable leaf is cleaned to PoC (without FWB) after the
// invalidation completed.
void break_before_make(WalkContext& ctx, Pte next);

// Splits the block or annotation at ctx into a table of the next level (break-before-make for
// a live block). The walker then descends into it.
Status split_entry(WalkContext& ctx);

// Frees every table page of an unlinked subtree rooted at `table` (level `level`, translating
// from `base`), cleaning its cacheable leaves to PoC first when FWB is off. The caller has
// already completed the TLB invalidation that made the subtree unreachable.
void dispose_subtree(TableCore& core, Pa table, Level level, Ipa base);

// Cleans and invalidates to PoC the memory a removed leaf mapped, if needed (no FWB, cacheable).
// Issues no barrier: the caller ends a batch of them with one DSB ISH.
bool clean_removed_leaf(TableCore& core, Pte leaf, Level level);

// Unlinks the table at ctx if it has no entries left, invalidates its walk-cache entries and
// frees it.
void free_if_empty(WalkContext& ctx);

// Frees the tables of a range left empty by an operation that stopped early: the walker returns
// at the failure without visiting the tables above it on the way out.
class PruneVisitor {
 public:
  Status table_post(WalkContext& ctx) {
    free_if_empty(ctx);
    return Status::ok;
  }
};

}  // namespace s2pt
