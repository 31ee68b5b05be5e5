// unmap: remove every translation of [range).
#include "s2pt/table.hpp"
#include "subtree.hpp"
#include "validate.hpp"

namespace s2pt {
namespace {

// The pre-6.6 Linux sequence: each leaf is cleared and invalidated on its own (with its barriers),
// then, without FWB, cleaned to PoC once that invalidation has completed.
class PerEntryUnmap {
 public:
  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_locked()) return Status::again;
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
    if (clean_removed_leaf(ctx.core, old, ctx.level)) m.dsb_ish();
    return Status::ok;
  }
  Status table_post(WalkContext& ctx) {
    free_if_empty(ctx);
    return Status::ok;
  }
};

}  // namespace

Progress Table::unmap(IpaRange range, UnmapStrategy strategy) {
  if (Status s = check_range(core_.geometry(), range); s != Status::ok) return {s, 0};
  if (!core_.has_root()) return {Status::unsupported, 0};
  switch (strategy) {
    case UnmapStrategy::per_entry: {
      PerEntryUnmap visitor;
      return walk(core_, range, visitor);
    }
  }
  return {Status::unsupported, 0};
}

}  // namespace s2pt
