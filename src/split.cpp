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
    const u64 needed = pages_to_split(ctx.geometry(), ctx.level, target_);
    if (needed > budget_) return Status::budget_exhausted;
    Result<Pa> subtree = build_subtree(ctx.table(), ctx.old, ctx.level, target_);
    if (!subtree.ok()) return subtree.status();
    budget_ -= needed;
    break_before_make(ctx, Pte::table(subtree.value(), ctx.oa()), OldMemory::still_mapped);
    return Status::ok;
  }

 private:
  Level target_;
  u64 budget_;
};

// Whether the entries it visits at `level` map one contiguous range with identical attributes
// (every entry a valid leaf, none a table), and with which first entry.
class UniformCheck {
 public:
  explicit UniformCheck(Level level) : level_(level) {}
  // The tables above `level` lead to the table being checked.
  Status table_pre(ReadContext& ctx) { return ctx.level < level_ ? Status::ok : Status::exists; }
  Status leaf(ReadContext& ctx) {
    if (!ctx.old.is_leaf(ctx.level)) return Status::exists;
    if (count_ == 0) first_ = ctx.old;
    const Pa expected = first_.output_address(ctx.oa()) + count_ * ctx.entry_bytes();
    ++count_;
    constexpr u64 kAttrBits = bits::kLeafAttrs;
    const bool same = ctx.old.output_address(ctx.oa()) == expected &&
                      (ctx.old.raw() & kAttrBits) == (first_.raw() & kAttrBits);
    return same ? Status::ok : Status::exists;
  }
  Pte first() const { return first_; }

 private:
  Level level_;
  Pte first_;
  u64 count_ = 0;
};

bool uniform(const TableCore& core, const WalkContext& ctx, Pte& first) {
  UniformCheck check(ctx.level.deeper());
  if (!visit(core, IpaRange{ctx.entry_base(), ctx.entry_bytes()}, check).ok()) return false;
  first = check.first();
  return true;
}

class CollapseVisitor {
 public:
  // Bottom-up: by the time a table is visited after its children, they were collapsed already.
  Status table_post(WalkContext& ctx) {
    if (!ctx.covers_entry() || !ctx.geometry().block_allowed(ctx.level)) return Status::ok;
    if (!ctx.old.is_table(ctx.level)) return Status::ok;
    Pte first;
    if (!uniform(ctx.table(), ctx, first)) return Status::ok;
    if (!first.output_address(ctx.oa()).aligned(ctx.entry_bytes())) return Status::ok;
    const Pte block = first.as_leaf_at(ctx.level, first.output_address(ctx.oa()), ctx.oa());
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
  // Logged pages stay pages: a block would be reported (and re-protected) whole, and the
  // hardware could make a page dirty between the check and the block's store.
  const Status logging = core_.logged().overlaps(range) ? Status::already_logging : Status::ok;
  if (Status s = check_call(core_, range, logging); s != Status::ok) return {s, 0};
  CollapseVisitor visitor;
  return walk(core_, range, visitor);
}

}  // namespace s2pt
