// map: install leaves for [range) -> [pa), the largest aligned blocks first.
#include "s2pt/table.hpp"
#include "subtree.hpp"
#include "validate.hpp"

namespace s2pt {
namespace {

// Finds whether anything in the range is mapped or annotated (or busy), without changing it.
class OccupiedVisitor {
 public:
  Status leaf(WalkContext& ctx) { return ctx.old.is_zero() ? Status::ok : Status::exists; }
};

// Whether [range) -> pa is exactly one leaf: a page, or an aligned block the flags allow.
bool maps_one_leaf(const Geometry& g, IpaRange range, Pa pa, MapFlags flags) {
  if (range.size == g.page_bytes()) return true;
  if (has(flags, MapFlags::no_blocks)) return false;
  return g.is_leaf_size(range.size) && range.start.aligned(range.size) && pa.aligned(range.size);
}

class MapVisitor {
 public:
  // `prepare_leaves`: the memory was not prepared up front; do it for each leaf just before it
  // is installed (a single-leaf map, which may still be refused when it reaches the leaf).
  // `logged`: the table's logged ranges, when the map overlaps one (else null).
  MapVisitor(Ipa start, Pa pa, const Attrs& attrs, MapFlags flags, bool prepare_leaves,
             const LoggedRanges* logged)
      : start_(start),
        pa_(pa),
        attrs_(attrs),
        flags_(flags),
        prepare_leaves_(prepare_leaves),
        logged_(logged) {}

  // A leaf replaces a table only where it covers the table's whole range.
  static constexpr bool kTableHooksOnCoveredOnly = true;

  Status table_pre(WalkContext& ctx) {
    if (!fits_leaf(ctx)) return Status::ok;
    // Tables are never left empty, so a table where one leaf would go holds mappings or
    // annotations: refused without replace, collapsed into the leaf with it.
    if (!has(flags_, MapFlags::replace)) return Status::exists;
    if (prepare_leaves_)
      prepare_memory(ctx.table(), output(ctx), ctx.entry_bytes(), attrs_, ctx.maintenance());
    break_before_make(ctx, new_leaf(ctx));
    return Status::ok;
  }

  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_busy()) return Status::again;
    if (!ctx.old.is_zero() && !has(flags_, MapFlags::replace)) return Status::exists;
    if (fits_leaf(ctx)) {
      const Pte next = new_leaf(ctx);
      if (ctx.old == next) return Status::ok;
      if (prepare_leaves_)
        prepare_memory(ctx.table(), output(ctx), ctx.entry_bytes(), attrs_, ctx.maintenance());
      if (ctx.old.is_valid()) {
        // Any change of a live leaf goes through break-before-make here: a remap is rare, and a
        // permission-only change would need the same invalidation anyway.
        const bool same_memory =
            next.output_address(ctx.oa()) == ctx.old.output_address(ctx.oa()) &&
            next.memattr() == ctx.old.memattr();
        break_before_make(ctx, next, same_memory ? OldMemory::still_mapped : OldMemory::released);
      } else {
        ctx.set(next);
      }
      return Status::ok;
    }
    // Go one level down: a new table, or the existing block/annotation split into one.
    if (ctx.old.is_zero()) {
      Result<Pa> table = ctx.pages().alloc_table();
      if (!table.ok()) return table.status();
      ctx.set(Pte::table(table.value(), ctx.oa()));
      return Status::ok;
    }
    return split_entry(ctx);
  }

 private:
  bool fits_leaf(const WalkContext& ctx) const {
    const Geometry& g = ctx.geometry();
    if (!g.leaf_allowed(ctx.level)) return false;
    if (!ctx.level.is_last() && (has(flags_, MapFlags::no_blocks) || logged(ctx))) return false;
    return ctx.covers_entry() && output(ctx).aligned(ctx.entry_bytes());
  }
  Pa output(const WalkContext& ctx) const { return pa_ + (ctx.addr - start_); }
  bool logged(const WalkContext& ctx) const {
    return logged_ != nullptr && logged_->overlaps(IpaRange{ctx.entry_base(), ctx.entry_bytes()});
  }
  Pte new_leaf(const WalkContext& ctx) const {
    const Pte leaf = Pte::leaf(output(ctx), attrs_, ctx.format(), ctx.level);
    const LoggedRange* logged = logged_ != nullptr ? logged_->find(ctx.entry_base()) : nullptr;
    return logged != nullptr && has(attrs_.perm, Perm::write)
               ? armed_for_logging(leaf, logged->tracking)
               : leaf;
  }

  Ipa start_;  // where pa_ is mapped
  Pa pa_;
  Attrs attrs_;
  MapFlags flags_;
  bool prepare_leaves_;
  const LoggedRanges* logged_;
};

}  // namespace

Progress Table::map(IpaRange range, Pa pa, const Attrs& attrs, MapFlags flags) {
  const Geometry& g = core_.geometry();
  const bool known_flags = (static_cast<u8>(flags) & ~u8{3}) == 0;
  const Status input = first_failure(check_output(g, pa, range.size), check_attrs(attrs, g),
                                     known_flags ? Status::ok : Status::bad_flags);
  if (Status s = check_call(core_, range, input); s != Status::ok) return {s, 0};

  // In a logged range the leaves are pages (as the fault path maps them there), each armed for
  // the range's logging: a writable page mapped during logging is otherwise written unseen.
  const LoggedRanges* logged = core_.logged().overlaps(range) ? &core_.logged() : nullptr;

  // A map that installs a single leaf meets any existing mapping before it changes anything (it
  // only creates tables under invalid entries, below which nothing is mapped), so only larger
  // maps need the read-only pass that keeps a refused call from changing the table.
  const bool single_leaf =
      maps_one_leaf(g, range, pa, logged != nullptr ? flags | MapFlags::no_blocks : flags);
  if (!has(flags, MapFlags::replace) && !single_leaf) {
    OccupiedVisitor occupied;
    if (Progress p = walk(core_, range, occupied); !p.ok()) return {p.status, 0};
  }
  if (!single_leaf) prepare_memory(core_, pa, range.size, attrs, core_.maintenance());

  MapVisitor visitor(range.start, pa, attrs, flags,
                     single_leaf && memory_needs_preparing(core_, attrs), logged);
  const Progress progress = walk(core_, range, visitor);
  if (!progress.ok()) {
    // The walk stops at the failure without visiting the tables above it on the way out; any of
    // them this call created and left empty goes now.
    PruneVisitor prune;
    walk(core_, range, prune);
  }
  return progress;
}

}  // namespace s2pt
