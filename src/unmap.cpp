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
    if (ctx.old.is_busy()) return Status::again;
    if (!ctx.old.is_valid()) return Status::ok;  // annotations stay: unmap removes translations
    if (!ctx.covers_entry()) return split_entry(ctx);
    const Pte old = ctx.old;
    ctx.set(Pte::invalid());
    Maintenance& m = ctx.core.maintenance();
    m.invalidate(InvalidationScope{
        .range = IpaRange{ctx.entry_base(), ctx.entry_bytes()},
        .leaf_level = LevelHint::at(ctx.level),
        .leaf_only = true,
    });
    LeafRemoval removal(ctx.core);
    removal.removed(old, ctx.level, ctx.entry_base());
    if (removal.finish()) m.dsb_ish();
    return Status::ok;
  }
  Status table_post(WalkContext& ctx) {
    free_if_empty(ctx);
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
  const u64 chunk = g.level_bytes(chunk_level);
  u64 done = 0;
  u64 work = 0;
  // At least one chunk whatever the budget: a caller that calls again with the rest must finish.
  do {
    const Ipa at = range.start + done;
    const u64 to_boundary = chunk - (at.raw & (chunk - 1));
    const u64 size = to_boundary < range.size - done ? to_boundary : range.size - done;
    const u64 pages_before = core_.table_pages();
    const Progress p = unmap_fast(core_, IpaRange{at, size});
    done += p.bytes_done;
    if (!p.ok()) return {p.status, done};
    const u64 freed = pages_before - core_.table_pages();
    work += freed > 0 ? freed : 1;
  } while (done < range.size && work < budget);
  return {done == range.size ? Status::ok : Status::budget_exhausted, done};
}

}  // namespace s2pt
