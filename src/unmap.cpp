// unmap: remove every translation of [range), with the strategy the caller picks.
#include "leaf_removal.hpp"
#include "reclaim.hpp"
#include "s2pt/table.hpp"
#include "subtree.hpp"
#include "unmap_strategies.hpp"
#include "validate.hpp"

namespace s2pt {
namespace {

// The pre-6.6 Linux sequence: each leaf is cleared and invalidated on its own (with its barriers),
// then, without FWB, cleaned to PoC once that invalidation has completed (DC CIVAC, DSB ISH).
class PerEntryUnmap {
 public:
  Status leaf(WalkContext& ctx) {
    if (Status s = Status::ok; !leaf_to_change(ctx, s)) return s;  // annotations stay
    const Pte old = ctx.old;
    ctx.set(Pte::invalid());
    const InvalidationScope scope{
        .range = IpaRange{ctx.entry_base(), ctx.entry_bytes()},
        .leaf_level = LevelHint::at(ctx.level),
        .leaf_only = true,
    };
    // The leaf's memory is cleaned by the same plan, after its invalidation completed.
    if (ctx.needs_cleaning(old)) {
      ctx.maintenance().invalidate_then_clean(scope, old.output_address(ctx.oa()),
                                              ctx.entry_bytes());
    } else {
      ctx.maintenance().invalidate(scope);
    }
    LeafRemoval(ctx.table()).removed_and_cleaned(old, ctx.level, ctx.entry_base());
    return Status::ok;
  }
  Status table_post(WalkContext& ctx) {
    prune_if_empty(ctx);
    return Status::ok;
  }
};

}  // namespace

Progress unmap_per_entry(TableCore& core, IpaRange range) {
  PerEntryUnmap visitor;
  return walk(core, range, visitor);
}

Progress Table::unmap(IpaRange range, UnmapStrategy strategy) {
  if (Status s = check_call(core_, range); s != Status::ok) return {s, 0};
  switch (strategy) {
    case UnmapStrategy::per_entry:
      return unmap_per_entry(core_, range);
    case UnmapStrategy::deferred:
      return unmap_deferred(core_, range);
    case UnmapStrategy::fast:
    case UnmapStrategy::automatic:
      return unmap_fast(core_, range);
  }
  return {Status::unsupported, 0};
}

Progress Table::destroy_range(IpaRange range, u64 budget) {
  const Geometry& g = core_.geometry();
  if (Status s = check_call(core_, range); s != Status::ok) return {s, 0};
  // Chunks of one level-1 entry's region (or one root entry's, when the root is deeper): each
  // holds a bounded number of table pages, whatever the VM's size.
  const Level chunk_level = g.start_level().value() < 1 ? Level{1} : g.start_level();
  return unmap_fast_chunked(core_, range, g.level_bytes(chunk_level), budget);
}

}  // namespace s2pt
