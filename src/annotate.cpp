// Owner annotation of invalid entries (ownership tracking as pKVM does it).
#include "s2pt/table.hpp"
#include "subtree.hpp"
#include "validate.hpp"

namespace s2pt {
namespace {

class MappedVisitor {
 public:
  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_busy()) return Status::again;
    return ctx.old.is_valid() ? Status::exists : Status::ok;
  }
};

class AnnotateVisitor {
 public:
  explicit AnnotateVisitor(OwnerId owner) : wanted_(Pte::owned_by(owner)) {}

  Status leaf(WalkContext& ctx) {
    if (ctx.old == wanted_) return Status::ok;
    if (ctx.covers_entry()) {
      ctx.set(wanted_);
      return Status::ok;
    }
    // Part of this entry's region changes owner: give the rest its current annotation one
    // level down. The entry is invalid, so installing the table needs no break-before-make.
    return split_entry(ctx);
  }
  Status table_post(WalkContext& ctx) {
    prune_if_empty(ctx);
    return Status::ok;
  }

 private:
  Pte wanted_;
};

}  // namespace

Progress Table::annotate(IpaRange range, OwnerId owner) {
  if (Status s = check_call(core_, range); s != Status::ok) return {s, 0};
  MappedVisitor mapped;
  if (Progress p = walk(core_, range, mapped); !p.ok()) return {p.status, 0};
  AnnotateVisitor visitor(owner);
  const Progress progress = walk(core_, range, visitor);
  // Splitting an unannotated (zero) entry installs an empty table; if the walk then failed below
  // it, that table is still empty.
  if (!progress.ok()) {
    PruneVisitor prune;
    walk(core_, range, prune);
  }
  return progress;
}

}  // namespace s2pt
