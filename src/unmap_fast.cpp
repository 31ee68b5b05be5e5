// fast unmap: detach every subtree the range covers whole, invalidate the range once, then clean
// and reclaim.
//
//  1. Detach (one walk). A table entry whose region lies inside the range is parked (markers.hpp:
//     invalid to the hardware, payload kept) without descending: its whole subtree goes at once,
//     at the highest level where that is possible. A leaf covered whole is parked too. A block
//     that straddles an end of the range is split with break-before-make and the walk goes on
//     inside it. A table whose entries all got parked is parked in its parent in turn.
//     No TLBI and no barrier in this phase.
//  2. One invalidation for [start, end): DSB ISHST, the planner's TLBIs (tables removed: no leaf-
//     only form, no level hint), DSB ISH, VMALLE1IS, DSB ISH, ISB.
//  3. Collect (a second walk, of the live tables only: the parked entries sit in the tables that
//     the range covers in part, at most two per level, and in the root). Each parked leaf and
//     each leaf of a detached subtree goes to the leaf observer and, without FWB, is cleaned to
//     PoC: DC CIVAC with no barrier in between, and one DSB ISH after the last. With FWB and no
//     observer the detached subtrees are not read at all. Parked entries are cleared.
//  4. The detached pages go to the reclaimer and are freed once no shared walker can hold them.
//
// Why parked entries instead of a list: the detached subtrees and the removed leaves must be
// remembered from phase 1 to phase 3 without a heap. Keeping them in the very entries they were
// removed from needs no memory and no bound, and keeps them in IPA order for phase 3.
#include "leaf_removal.hpp"
#include "markers.hpp"
#include "reclaim.hpp"
#include "subtree.hpp"
#include "unmap_strategies.hpp"

namespace s2pt {
namespace {

// Whether any owner annotation lies in the subtree below a table entry (unmap keeps them, so such
// a subtree cannot be dropped whole).
class AnnotationFinder {
 public:
  Status leaf(ReadContext& ctx) { return ctx.old.is_annotated() ? Status::exists : Status::ok; }
};

bool holds_annotation(const TableCore& core, const WalkContext& ctx) {
  AnnotationFinder finder;
  return !visit(core, IpaRange{ctx.entry_base(), ctx.entry_bytes()}, finder).ok();
}

class DetachVisitor {
 public:
  Status table_pre(WalkContext& ctx) {
    if (!ctx.covers_entry()) return Status::ok;
    if (ctx.core.annotations_possible() && holds_annotation(ctx.core, ctx)) return Status::ok;
    park(ctx);
    tables_removed_ = true;
    return Status::ok;
  }

  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_busy()) return Status::again;
    if (!ctx.old.is_valid()) return Status::ok;  // annotations stay: unmap removes translations
    if (!ctx.covers_entry()) return split_entry(ctx);
    park(ctx);
    leaf_levels_ |= 1u << (ctx.level.value() + 1);
    return Status::ok;
  }

  // The walk just left the table below this entry. When everything still in it was parked by this
  // walk, the table goes too. Counting the parked entries per level keeps this O(1): the walk is
  // depth first, so one counter per level describes the table being walked at that level.
  Status table_post(WalkContext& ctx) {
    const unsigned below = slot(ctx.level.deeper());
    const u64 parked_below = parked_[below];
    parked_[below] = 0;
    if (ctx.core.refs(ctx.old.table_address()) == 1 + parked_below) {
      park(ctx);
      tables_removed_ = true;
    }
    return Status::ok;
  }

  bool changed() const { return changed_; }
  InvalidationScope scope(IpaRange range) const {
    const bool one_level = (leaf_levels_ & (leaf_levels_ - 1)) == 0;
    return InvalidationScope{
        .range = range,
        .tables_removed = tables_removed_,
        .leaf_level = !tables_removed_ && one_level && leaf_levels_ != 0
                          ? LevelHint::at(Level{__builtin_ctz(leaf_levels_) - 1})
                          : LevelHint::none(),
        .leaf_only = !tables_removed_,
    };
  }

 private:
  static unsigned slot(Level level) { return static_cast<unsigned>(level.value() + 1); }
  void park(WalkContext& ctx) {
    ctx.set(marker::park(ctx.old));
    ++parked_[slot(ctx.level)];
    changed_ = true;
  }

  u64 parked_[5] = {};  // levels -1..3
  u32 leaf_levels_ = 0;
  bool tables_removed_ = false;
  bool changed_ = false;
};

// Reads a detached subtree's leaves (observer, cache maintenance). Its entries may be parked (a
// table emptied by phase 1) or not (a subtree detached whole): the detached walk sees both as
// what they were.
class DetachedLeaves {
 public:
  explicit DetachedLeaves(LeafRemoval& leaves) : leaves_(leaves) {}
  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_leaf(ctx.level)) leaves_.removed(ctx.old, ctx.level, ctx.entry_base());
    return Status::ok;
  }

 private:
  LeafRemoval& leaves_;
};

class CollectVisitor {
 public:
  explicit CollectVisitor(TableCore& core) : leaves_(core) {}

  Status leaf(WalkContext& ctx) {
    if (!marker::is_parked(ctx.old)) return Status::ok;
    const Pte was = marker::unpark(ctx.old);
    if (was.is_table(ctx.level)) {
      if (LeafRemoval::needed(ctx.core)) {
        DetachedLeaves visitor(leaves_);
        walk_detached(ctx.core,
                      Subtree{.table = was.table_address(),
                              .level = ctx.level.deeper(),
                              .base = ctx.entry_base()},
                      visitor);
      }
      retire_subtree(ctx.core, was.table_address(), ctx.level.deeper());
    } else {
      leaves_.removed(was, ctx.level, ctx.entry_base());
    }
    ctx.set(Pte::invalid());
    return Status::ok;
  }
  // Only after a detach walk that stopped early can a table be left empty here.
  Status table_post(WalkContext& ctx) {
    free_if_empty(ctx);
    return Status::ok;
  }
  LeafRemoval& leaves() { return leaves_; }

 private:
  LeafRemoval leaves_;
};

}  // namespace

Progress unmap_fast(TableCore& core, IpaRange range) {
  DetachVisitor detach;
  const Progress p = walk(core, range, detach);
  if (!detach.changed()) return p;
  const IpaRange done{range.start, p.bytes_done};

  core.maintenance().invalidate(detach.scope(done));

  CollectVisitor collect(core);
  walk(core, done, collect);
  if (collect.leaves().finish()) core.maintenance().dsb_ish();

  close_retired(core);
  reclaim(core, ~u64{0});
  return p;
}

}  // namespace s2pt
