// Eager split (ahead of dirty logging) and collapse (after it).
#include "s2pt/table.hpp"
#include "subtree.hpp"
#include "validate.hpp"
#include "walker.hpp"

namespace s2pt {
namespace {

// Table pages a block at `level` needs to be mapped with leaves at `target`.
u64 pages_to_split(const Geometry& g, Level level, Level target) {
  u64 pages = 0;
  u64 tables_at_level = 1;
  for (Level l = level.deeper(); l <= target; l = l.deeper()) {
    pages += tables_at_level;
    tables_at_level *= g.entries_per_table();
  }
  return pages;
}

class SplitVisitor {
 public:
  SplitVisitor(Level target, u64 budget) : target_(target), budget_(budget) {}

  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_busy()) return Status::again;
    if (!ctx.old.is_valid() || ctx.level >= target_) return Status::ok;
    if (!ctx.covers_entry()) {
      // Only the part inside the range is split: the block becomes a table one level down and
      // the walk continues inside it.
      if (budget_ < 1) return Status::budget_exhausted;
      budget_ -= 1;
      return split_entry(ctx);
    }
    const u64 needed = pages_to_split(ctx.core.geometry(), ctx.level, target_);
    if (needed > budget_) return Status::budget_exhausted;
    Result<Pa> subtree = build_subtree(ctx.core, ctx.old, ctx.level, target_);
    if (!subtree.ok()) return subtree.status();
    budget_ -= needed;
    break_before_make(ctx, Pte::table(subtree.value()), OldMemory::still_mapped);
    return Status::ok;
  }

 private:
  Level target_;
  u64 budget_;
};

// Whether the table below ctx maps one contiguous block-aligned range with identical attributes
// (every entry a valid leaf), and with which first entry.
bool uniform(TableCore& core, Pa table, Level level, Pte& first) {
  const Geometry& g = core.geometry();
  const u64* entries = core.table(table);
  first = entry::load(entries);
  if (!first.is_leaf(level)) return false;
  const u64 step = g.level_bytes(level);
  constexpr u64 kAttrBits = bits::kLeafAttrs;
  for (u64 i = 1; i < g.entries_per_table(); ++i) {
    const Pte e = entry::load(entries + i);
    if (!e.is_leaf(level) || e.output_address() != first.output_address() + i * step ||
        (e.raw() & kAttrBits) != (first.raw() & kAttrBits)) {
      return false;
    }
  }
  return true;
}

class CollapseVisitor {
 public:
  // Bottom-up: by the time a table is visited after its children, they were collapsed already.
  Status table_post(WalkContext& ctx) {
    if (!ctx.covers_entry() || !ctx.core.geometry().block_allowed(ctx.level)) return Status::ok;
    if (!ctx.old.is_table(ctx.level)) return Status::ok;
    Pte first;
    if (!uniform(ctx.core, ctx.old.table_address(), ctx.level.deeper(), first)) return Status::ok;
    if (!first.output_address().aligned(ctx.entry_bytes())) return Status::ok;
    const Pte block = first.as_leaf_at(ctx.level, first.output_address());
    // The same memory with the same attributes stays mapped: nothing to clean.
    break_before_make(ctx, block, OldMemory::still_mapped);
    return Status::ok;
  }
};

}  // namespace

Progress Table::split(IpaRange range, Level target, u64 page_budget) {
  const Geometry& g = core_.geometry();
  const bool target_ok = g.leaf_allowed(target) && target >= g.start_level();
  if (Status s = check_call(core_, range, target_ok ? Status::ok : Status::unsupported);
      s != Status::ok) {
    return {s, 0};
  }
  SplitVisitor visitor(target, page_budget);
  return walk(core_, range, visitor);
}

Progress Table::collapse(IpaRange range) {
  if (Status s = check_call(core_, range); s != Status::ok) return {s, 0};
  CollapseVisitor visitor;
  return walk(core_, range, visitor);
}

}  // namespace s2pt
