// Building blocks shared by the table operations: splitting a leaf into a table, the
// break-before-make sequence, and freeing a subtree that is no longer reachable.
#pragma once

#include "walker.hpp"

namespace s2pt {

// A new table page whose entries reproduce `leaf` (a block, or an annotated invalid entry) one
// level deeper, so that installing it changes no translation. no_memory if none is left.
Result<Pa> build_split_table(TableCore& core, Pte leaf, Level level);
// The same in a zeroed table page the caller already holds (adopted: referenced once).
void fill_split_table(TableCore& core, Pa page, Pte leaf, Level level);

// What happens to the memory an old leaf mapped when break-before-make replaces it.
enum class OldMemory : u8 {
  released,      // no longer mapped as it was: clean it to PoC (without FWB, if cacheable)
  still_mapped,  // `next` maps it with the same attributes (a split): nothing to clean
};

// Replaces the live entry at ctx by `next` with break-before-make: lock (invalid to the
// hardware), invalidate what the old entry translated, then store `next`. A removed table's
// subtree is freed; a released cacheable leaf is cleaned to PoC (without FWB) after the
// invalidation completed.
void break_before_make(WalkContext& ctx, Pte next, OldMemory old_memory = OldMemory::released);

// Without FWB, memory must be clean to PoC before the guest can see it (it may access it
// non-cacheably), and new executable memory must not hit stale instructions: cleans and waits,
// before the first entry that maps [pa, pa + bytes) is written.
bool memory_needs_preparing(const TableCore& core, const Attrs& attrs);
// A leaf that gains execute permission may hit stale instructions: invalidates the I-cache for its
// memory to PoU (unless DIC) before the new permission is written.
// Both issue through `m`, the caller's maintenance (its walk's, or the exclusive one).
void prepare_for_exec(TableCore& core, Pte old, Pte next, Level level, Maintenance& m);
void prepare_memory(TableCore& core, Pa pa, u64 bytes, const Attrs& attrs, Maintenance& m);

// Builds, unlinked, the subtree that maps what the block `leaf` at `level` maps with leaves of
// `target` level, and returns its top table. On no_memory nothing is left allocated.
Result<Pa> build_subtree(TableCore& core, Pte leaf, Level level, Level target);

// Frees every table page of a subtree no walker can reach (never linked, or unlinked with its TLB
// invalidation completed), its top table last. Last-level tables whose leaves need nothing are
// freed without being read.
void free_subtree(TableCore& core, Subtree subtree, SubtreeLeaves leaves);

// Splits the block or annotation at ctx into a table of the next level (break-before-make for
// a live block). The walker then descends into it.
Status split_entry(WalkContext& ctx);

// The guard of every visitor that changes valid leaves in place, written once. A busy entry
// (another walker's lock, or a parked entry) is retried; an invalid entry (annotations stay) or a
// leaf the visitor would leave as it is (`changes()` false, asked of valid leaves only) stays; a
// leaf the walk covers only in part is split, and the walk goes on into the new table. True when
// the visitor is to change ctx.old, the whole of it; otherwise `result` is the visitor's answer.
template <class Changes>
bool leaf_to_change(WalkContext& ctx, Status& result, Changes&& changes) {
  result = Status::ok;
  if (ctx.old.is_busy()) {
    result = Status::again;
    return false;
  }
  if (!ctx.old.is_valid() || !changes()) return false;
  if (!ctx.covers_entry()) {
    result = split_entry(ctx);
    return false;
  }
  return true;
}
inline bool leaf_to_change(WalkContext& ctx, Status& result) {
  return leaf_to_change(ctx, result, [] { return true; });
}

// Cleans and invalidates to PoC the memory a removed leaf mapped, if needed (no FWB, cacheable),
// and completes it with a DSB ISH. (Many leaves: LeafRemoval batches them under one DSB.)
void clean_removed_leaf(TableCore& core, Pte leaf, Level level);

// Unlinks the table at ctx if it has no entries left, invalidates its walk-cache entries and
// frees it.
void prune_if_empty(WalkContext& ctx);

// Frees the tables of a range left empty by an operation that stopped early: the walker returns
// at the failure without visiting the tables above it on the way out.
class PruneVisitor {
 public:
  Status table_post(WalkContext& ctx) {
    prune_if_empty(ctx);
    return Status::ok;
  }
};

}  // namespace s2pt
