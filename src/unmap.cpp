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
// then, without FWB, cleaned to PoC once that invalidation has completed.
class PerEntryUnmap {
 public:
  Status leaf(WalkContext& ctx) {
    if (Status s = Status::ok; !leaf_to_change(ctx, s)) return s;  // annotations stay
    const Pte old = ctx.old;
    ctx.set(Pte::invalid());
    Maintenance& m = ctx.maintenance();
    m.invalidate(InvalidationScope{
        .range = IpaRange{ctx.entry_base(), ctx.entry_bytes()},
        .leaf_level = LevelHint::at(ctx.level),
        .leaf_only = true,
    });
    // A batch of its own per leaf: its state stays in registers (one kept in the visitor for
    // the walk cost per_entry 7% more, measured).
    LeafRemoval removal(ctx.table());
    removal.removed(old, ctx.level, ctx.entry_base());
    removal.complete();
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
