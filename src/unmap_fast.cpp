// fast unmap: detach every subtree the range covers whole, invalidate the range once, then clean
// and retire.
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
//  4. The detached pages go to the reclaimer (one page per level of each subtree touched), freed by
//     reclaim() once no shared walker can hold them: outside this call, so the exclusive section
//     does not grow with the VM.
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

// Counts the table pages below the table entries it meets at `top` and deeper (the walk down to
// `top` passes entries above it too), without reading last-level tables: each is one page.
class TablePageCounter {
 public:
  explicit TablePageCounter(Level top) : top_(top) {}
  Status table_pre(ReadContext& ctx) {
    if (ctx.level < top_) return Status::ok;
    ++pages_;
    if (ctx.level.deeper().is_last()) ctx.skip_children();
    return Status::ok;
  }
  u64 pages() const { return pages_; }

 private:
  Level top_;
  u64 pages_ = 0;
};

// Table pages in the subtree below the table entry at ctx.
u64 subtree_pages(const WalkContext& ctx) {
  TablePageCounter counter(ctx.level);
  visit(ctx.table(), IpaRange{ctx.entry_base(), ctx.entry_bytes()}, counter);
  return counter.pages();
}

// Phase 1, over one range or over consecutive ranges (destroy_range's chunks), which then share
// one invalidation.
class DetachVisitor {
 public:
  // `count_pages`: keep pages_detached() (it reads the upper levels of each detached subtree).
  explicit DetachVisitor(bool count_pages = false) : count_pages_(count_pages) {}

  Status table_pre(WalkContext& ctx) {
    if (!ctx.covers_entry()) return Status::ok;
    if (ctx.annotations_possible() && holds_annotation(ctx.table(), ctx)) return Status::ok;
    if (count_pages_) pages_ += subtree_pages(ctx);
    park(ctx);
    tables_removed_ = true;
    return Status::ok;
  }

  Status leaf(WalkContext& ctx) {
    // Parked by this call: table_post parks a table whose every entry it parked, even when the
    // chunk ends inside it, so the next chunk of the same call can meet it. It is already gone.
    if (marker::is_parked(ctx.old)) return Status::ok;
    if (Status s = Status::ok; !leaf_to_change(ctx, s)) return s;
    park(ctx);
    leaf_levels_.add(ctx.level);
    return Status::ok;
  }

  // The walk just left the table below this entry. When everything still in it was parked by this
  // visitor, the table goes too. Counting the parked entries per level keeps this O(1): the walk is
  // depth first, so one counter per level describes the table being walked at that level. A walk
  // that ends inside the table keeps its count: the next consecutive range continues there.
  Status table_post(WalkContext& ctx) {
    const unsigned below = slot(ctx.level.deeper());
    const u64 parked_below = parked_[below];
    if (ctx.end >= ctx.entry_end()) parked_[below] = 0;
    if (ctx.pages().refs(ctx.old.table_address(ctx.oa())) == 1 + parked_below) {
      // The table goes whole; its count must not carry over to the next table at that level.
      parked_[below] = 0;
      park(ctx);
      pages_ += 1;
      tables_removed_ = true;
    }
    return Status::ok;
  }

  bool changed() const { return changed_; }
  u64 pages_detached() const { return pages_; }
  InvalidationScope scope(IpaRange range) const {
    return InvalidationScope{
        .range = range,
        .tables_removed = tables_removed_,
        .leaf_level = tables_removed_ ? LevelHint::none() : LevelHint::of(leaf_levels_),
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
  bool count_pages_;
  u64 pages_ = 0;
  LevelSet leaf_levels_;
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
      if (LeafRemoval::needed(ctx.table())) {
        DetachedLeaves visitor(leaves_);
        walk_detached(ctx.table(),
                      Subtree{.table = was.table_address(ctx.oa()),
                              .level = ctx.level.deeper(),
                              .base = ctx.entry_base()},
                      visitor);
      }
      detached_[detached_count_++] = Subtree{.table = was.table_address(ctx.oa()),
                                             .level = ctx.level.deeper(),
                                             .base = ctx.entry_base()};
      if (detached_count_ == kRetireBatch) retire_detached(ctx.table());
    } else {
      leaves_.removed(was, ctx.level, ctx.entry_base());
    }
    ctx.set(Pte::invalid());
    return Status::ok;
  }
  // Only after a detach walk that stopped early can a table be left empty here.
  Status table_post(WalkContext& ctx) {
    prune_if_empty(ctx);
    return Status::ok;
  }
  LeafRemoval& leaves() { return leaves_; }
  // Retires the subtrees met since the last batch went (the walk ends with some left).
  void retire_detached(TableCore& core) {
    retire_subtrees(core, detached_, detached_count_);
    detached_count_ = 0;
  }

 private:
  LeafRemoval leaves_;
  Subtree detached_[kRetireBatch];
  unsigned detached_count_ = 0;
};

}  // namespace

namespace {

// Phases 2 to 4 for everything `detach` parked in [done).
void invalidate_collect_retire(TableCore& core, const DetachVisitor& detach, IpaRange done) {
  if (!detach.changed()) return;
  core.maintenance().invalidate(detach.scope(done));

  CollectVisitor collect(core);
  walk(core, done, collect);
  collect.retire_detached(core);
  collect.leaves().complete();

  close_retired(core);
}

}  // namespace

Progress unmap_fast(TableCore& core, IpaRange range) {
  DetachVisitor detach;
  const Progress p = walk(core, range, detach);
  invalidate_collect_retire(core, detach, IpaRange{range.start, p.bytes_done});
  return p;
}

Progress unmap_fast_chunked(TableCore& core, IpaRange range, u64 chunk, u64 budget) {
  constexpr u64 kUnbounded = ~u64{0};
  DetachVisitor detach(budget != kUnbounded);
  u64 done = 0;
  u64 work = 0;
  Status status = Status::ok;
  // At least one chunk whatever the budget: a caller that calls again with the rest must finish.
  do {
    const Ipa at = range.start + done;
    const u64 to_boundary = chunk - (at.raw & (chunk - 1));
    const u64 size = to_boundary < range.size - done ? to_boundary : range.size - done;
    const u64 pages_before = detach.pages_detached();
    const Progress p = walk(core, IpaRange{at, size}, detach);
    done += p.bytes_done;
    status = p.status;
    const u64 pages = detach.pages_detached() - pages_before;
    work += pages > 0 ? pages : 1;
  } while (status == Status::ok && done < range.size && work < budget);
  // One invalidation for every chunk: the cost does not grow with the chunks the range spans.
  invalidate_collect_retire(core, detach, IpaRange{range.start, done});
  // destroy_range's budget bounds what it detached, so freeing it here keeps the call bounded.
  reclaim(core, ~u64{0});
  if (status == Status::ok && done < range.size) status = Status::budget_exhausted;
  return {status, done};
}

}  // namespace s2pt
