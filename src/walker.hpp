// The one table walker. It visits every entry that translates part of [start, end) and calls the
// visitor's hooks, each optional:
//   Status table_pre(Context&)   before descending into a table entry,
//   Status leaf(Context&)        on any entry that is not a table (invalid, annotated, busy,
//                                block, page),
//   Status table_post(Context&)  after the table's children were walked.
// A hook returning anything but ok stops the walk with that status.
//
// Three kinds of walk share it:
//  - walk():          the live table, from the root. Context = WalkContext; ctx.set() is the only
//                     way an entry of a live table is written. After table_pre or leaf the walker
//                     re-reads the entry: a visitor that installed a table (a split, a new level)
//                     is walked into; one that removed a table is not.
//  - visit():         the live table, read only (lookup, owner, dump, checks). Context =
//                     ReadContext: the entry and where the walk is, nothing to write with.
//  - walk_detached(): a subtree no walker can reach (never linked, or unlinked with its TLB
//                     invalidation completed), from its top table. Context = WalkContext (its
//                     set() is a plain store). Parked entries (markers.hpp) are seen as what they
//                     were, so a parked table is walked into.
// Any kind: table_pre may call ctx.skip_children() to keep the walk out of that table. A visitor
// with nothing to do on empty entries (zero: not valid, not annotated, not busy) declares
// `static constexpr bool kSkipsEmpty = true;` and the walker steps over them without a context.
// Table entries cost no context either when the visitor has no table hooks, or when it declares
// `static constexpr bool kTableHooksOnCoveredOnly = true;` (its hooks act only on a table the
// walk covers whole) and the walk covers the table only in part: the walker reads the entry and
// descends. A single-page map or fault builds one context, at its leaf, not one per level, and
// its leaf is visited from walk()'s descent without a loop over the leaf table.
#pragma once

#include <type_traits>

#include "detached.hpp"
#include "entry.hpp"
#include "markers.hpp"
#include "table_core.hpp"

namespace s2pt {

// Where an entry is and what of it the walk covers: what every visitor may read.
struct EntryView {
  Pte old;   // the entry as last read
  Ipa addr;  // where the walk is inside this entry's region
  Ipa end;   // end of the walk
  Level level = kLastLevel;
  u64 bytes = 0;  // what the entry translates

  u64 entry_bytes() const { return bytes; }
  Ipa entry_base() const { return addr.align_down(bytes); }
  Ipa entry_end() const { return entry_base() + bytes; }
  // The part of this entry's region that the walk covers.
  IpaRange span() const {
    const Ipa stop = end < entry_end() ? end : entry_end();
    return IpaRange{addr, stop - addr};
  }
  bool covers_entry() const { return addr == entry_base() && end - addr >= bytes; }
  void skip_children() { descend = false; }

  bool descend = true;  // cleared by skip_children()
};

// What becomes of the dirty state the hardware recorded in a leaf that set() replaces by one
// that is not dirty: it is the only record that the guest wrote the page.
enum class DirtyHandoff : u8 {
  to_bitmap,  // marked in its logged range's bitmap: the next harvest reports the page
  reported,   // the caller reports the page itself (the harvest)
};

// A read-only walk's context: where the walk is, and the layout to decode entries with.
class ReadContext : public EntryView {
 public:
  ReadContext(const EntryView& view, const TableCore& table) : EntryView(view), table_(table) {}

  const Geometry& geometry() const { return table_.geometry(); }
  DescriptorFormat format() const { return table_.format(); }
  OaLayout oa() const { return table_.oa(); }
  // The whole table, only to hand to a read-only helper that takes one (a nested visit()).
  const TableCore& table() const { return table_; }

 private:
  const TableCore& table_;
};

// A writing walk's context: where the walk is, the services a visitor uses (the layout, table
// pages, this walk's maintenance, the logged ranges) and set(), the only way to change the entry.
class WalkContext : public EntryView {
 public:
  WalkContext(const EntryView& view, TableCore& table, u64* slot, Pa table_pa, u32** refcount,
              bool in_root, WalkMode mode, unsigned walker_slot)
      : EntryView(view),
        table_(table),
        slot_(slot),
        table_pa_(table_pa),
        refcount_(refcount),
        in_root_(in_root),
        mode_(mode),
        walker_slot_(walker_slot) {}

  const Geometry& geometry() const { return table_.geometry(); }
  DescriptorFormat format() const { return table_.format(); }
  OaLayout oa() const { return table_.oa(); }
  TablePages& pages() const { return table_.pages(); }
  // Where this walk issues and counts its maintenance.
  Maintenance& maintenance() const { return table_.maintenance(mode_, walker_slot_); }
  const LoggedRanges& logged() const { return table_.logged(); }
  bool needs_cleaning(Pte leaf) const { return table_.needs_cleaning(leaf); }
  bool annotations_possible() const { return table_.annotations_possible(); }
  // The whole table, only to hand to the shared operations that take one (subtree.hpp,
  // leaf_removal.hpp, reclaim.hpp); a visitor reaches the table's parts through the calls above.
  TableCore& table() const { return table_; }

  // Replaces the entry, keeping the table page's reference count equal to 1 + its non-zero
  // entries. Exclusive walks store; shared walks compare-and-swap against `old` and, when another
  // walker got there first, return false with `old` updated to what is there now. A leaf the
  // hardware had made dirty (FEAT_HAFDBS) that `next` does not keep dirty hands its state to the
  // dirty bitmap, unless the caller reports the page itself (`handoff`).
  //
  // A shared walker takes the reference before the entry: a table page whose count reached zero
  // was retired (its entries may hold the reclaimer's links), and is neither written nor revived;
  // set() returns false with `old` unchanged. Under the locking rules that cannot happen (pages
  // are retired only by exclusive operations, which no shared walker overlaps); a caller whose
  // locking is broken gets `again` from the fault path instead of a write to a freed page.
  [[gnu::always_inline]] bool set(Pte next, DirtyHandoff handoff = DirtyHandoff::to_bitmap) {
    // The per-leaf paths' case, inline: an exclusive walk storing over an entry the hardware
    // cannot update (no DBM, so no dirty state to hand over) something that is not an annotation.
    // The rest stays out of line: inlined whole, set() made the fault path 4% faster and the
    // per-leaf unmaps 4-16% slower (measured).
    if (mode_ == WalkMode::exclusive && !old.dbm() && !next.is_annotated()) {
      entry::store(slot_, next);
      if (!in_root_ && old.is_zero() != next.is_zero()) {
        TablePages::adjust(count(), next.is_zero() ? ~0u : 1u, mode_);
      }
      old = next;
      return true;
    }
    return set_any(next, handoff);
  }

 private:
  [[gnu::noinline]] bool set_any(Pte next, DirtyHandoff handoff) {
    const bool adds = !in_root_ && old.is_zero() && !next.is_zero();
    const bool removes = !in_root_ && !old.is_zero() && next.is_zero();
    Pte replaced = old;
    if (mode_ == WalkMode::shared) {
      if (adds && !TablePages::try_get(count())) return false;
      if (!entry::compare_exchange(slot_, replaced, next)) {
        if (adds) TablePages::adjust(count(), ~0u, mode_);
        old = replaced;
        return false;
      }
    } else if (old.dbm()) {
      // The hardware may set S2AP[1] (or AF) in a DBM leaf at any moment: replace it by
      // compare-and-swap, so that a write it let through meanwhile is seen in `replaced` (Arm ARM
      // D8.4.7: the update is atomic with respect to other accesses to the descriptor).
      while (!entry::compare_exchange(slot_, replaced, next)) {
      }
      if (adds) TablePages::adjust(count(), 1, mode_);
    } else {
      entry::store(slot_, next);
      if (adds) TablePages::adjust(count(), 1, mode_);
    }
    if (replaced.hw_dirty() && !next.hw_dirty() &&
        !(handoff == DirtyHandoff::reported && old.hw_dirty())) {
      table_.log_hardware_dirty(IpaRange{entry_base(), bytes});
    }
    if (next.is_annotated()) table_.note_annotation();
    if (removes) TablePages::adjust(count(), ~0u, mode_);
    old = next;
    return true;
  }

  // Where the walk keeps the table page's reference count once it needed it: one Mm::refcount
  // call per table page and walk, not one per entry changed.
  u32* count() {
    if (*refcount_ == nullptr) *refcount_ = table_.pages().refcount(table_pa_);
    return *refcount_;
  }

  TableCore& table_;
  u64* slot_;       // the entry being visited
  Pa table_pa_;     // the table page holding the entry
  u32** refcount_;  // the walk's cached reference count of that page
  bool in_root_;    // the entry is in the root table (which has no reference count)
  WalkMode mode_;
  unsigned walker_slot_;  // a shared walker's slot (Reclaimer, PageCache::walker_slot)
};

// The end of what a detached subtree translates (a root spans all its pages).
inline Ipa subtree_end(const Geometry& g, Subtree subtree) {
  const u64 entries = subtree.level == g.start_level() ? g.root_entries() : g.entries_per_table();
  return subtree.base + entries * g.level_bytes(subtree.level);
}

enum class WalkKind : u8 { live, read, detached };

template <class Visitor, WalkKind kKind = WalkKind::live>
class Walker {
  static constexpr bool kRead = kKind == WalkKind::read;
  using Core = std::conditional_t<kRead, const TableCore, TableCore>;
  using Context = std::conditional_t<kRead, ReadContext, WalkContext>;

 public:
  Walker(Core& core, Visitor& visitor, WalkMode mode = WalkMode::exclusive,
         unsigned walker_slot = 0)
      : core_(core),
        g_(core.geometry()),
        visitor_(visitor),
        mode_(mode),
        walker_slot_(walker_slot) {}

  // Walks [range.start, range.end()) from the root. The range must be non-empty and inside the
  // table's IPA space.
  Progress walk(IpaRange range) {
    Ipa cursor = range.start;
    const Ipa end = range.end();
    u64* table = core_.root();
    Pa table_pa = core_.root_pa();
    Level level = g_.start_level();
    bool is_root = true;
    // While the whole range lies inside one table entry that the visitor passes through, go
    // down a level in this loop instead of a recursive call per level; once it lies inside one
    // entry the visitor acts on, visit that entry here. A single-page map or fault reaches its
    // leaf with one load per level and no loop over a table.
    for (;;) {
      const unsigned shift = g_.level_shift(level);
      if ((cursor.raw >> shift) != ((end.raw - 1) >> shift)) break;
      const u64 entries = is_root ? g_.root_entries() : g_.entries_per_table();
      u64* const slot = table + ((cursor.raw >> shift) & (entries - 1));
      const Pte entry = read(slot);
      if (entry.is_table(level) && passes_through(cursor, end, shift)) {
        table_pa = entry.table_address(core_.oa());
        table = core_.pages().table(table_pa);
        level = level.deeper();
        is_root = false;
        continue;
      }
      // Only for visitors that pass through tables (single-page operations); the others' hooks
      // stay with one caller, walk_table, where they are inlined.
      if constexpr (!has_table_hooks() || table_hooks_on_covered_only()) {
        Status status = Status::ok;
        if (skips_empty() && entry.is_zero()) {
          cursor = end;
        } else {
          u32* refcount = nullptr;
          status = walk_entry(slot, entry, table_pa, &refcount, level, is_root, cursor, end);
        }
        return Progress{status, cursor - range.start};
      }
      break;
    }
    const Status status = walk_table(table, table_pa, level, is_root, cursor, end);
    return Progress{status, cursor - range.start};
  }

  // Walks the whole of a detached subtree (or, `from` onwards, the rest of it). Returns where it
  // stopped in `from`: past every entry fully handled.
  Status walk(Subtree subtree, Ipa& from) {
    return walk_table(core_.pages().table(subtree.table), subtree.table, subtree.level,
                      subtree.level == g_.start_level(), from, subtree_end(g_, subtree));
  }

 private:
  // Walks the part [cursor, end) of one table page at `level`. Advances `cursor` past every entry
  // fully handled.
  Status walk_table(u64* table, Pa table_pa, Level level, bool is_root, Ipa& cursor, Ipa end) {
    const u64 entries = is_root ? g_.root_entries() : g_.entries_per_table();
    const unsigned shift = g_.level_shift(level);
    u32* refcount = nullptr;
    for (u64 index = (cursor.raw >> shift) & (entries - 1); index < entries && cursor < end;
         ++index) {
      const Pte entry = read(table + index);
      if constexpr (skips_empty()) {
        if (entry.is_zero()) {
          cursor = entry_stop(cursor, shift, end);
          continue;
        }
      }
      if (entry.is_table(level) && passes_through(cursor, end, shift)) {
        const Ipa stop = entry_stop(cursor, shift, end);
        const Pa child = entry.table_address(core_.oa());
        const Status status =
            walk_table(core_.pages().table(child), child, level.deeper(), false, cursor, stop);
        if (status != Status::ok) return status;
        cursor = stop;
        continue;
      }
      const Status status =
          walk_entry(table + index, entry, table_pa, &refcount, level, is_root, cursor, end);
      if (status != Status::ok) return status;
    }
    return Status::ok;
  }

  // Where the walk of the entry of `1 << shift` bytes holding `cursor` ends: its end, or `end`.
  static Ipa entry_stop(Ipa cursor, unsigned shift, Ipa end) {
    const Ipa next = cursor.align_down(u64{1} << shift) + (u64{1} << shift);
    return next < end ? next : end;
  }

  static constexpr bool has_table_hooks() {
    return requires(Visitor & v, Context & c) {
      v.table_pre(c);
    }
    || requires(Visitor & v, Context & c) {
      v.table_post(c);
    };
  }

  static constexpr bool table_hooks_on_covered_only() {
    if constexpr (requires { Visitor::kTableHooksOnCoveredOnly; }) {
      return Visitor::kTableHooksOnCoveredOnly;
    } else {
      return false;
    }
  }

  // Whether a table entry of `1 << shift` bytes, walked over [cursor, end), is descended into
  // without calling the visitor on it.
  static bool passes_through(Ipa cursor, Ipa end, unsigned shift) {
    if constexpr (!has_table_hooks()) {
      return true;
    } else if constexpr (table_hooks_on_covered_only()) {
      const u64 bytes = u64{1} << shift;
      return !cursor.aligned(bytes) || end - cursor < bytes;
    } else {
      return false;
    }
  }

  static constexpr bool skips_empty() {
    if constexpr (requires { Visitor::kSkipsEmpty; }) {
      return Visitor::kSkipsEmpty;
    } else {
      return false;
    }
  }

  static Pte read(const u64* slot) {
    if constexpr (kKind == WalkKind::detached) {
      return marker::original(entry::load(slot));
    } else {
      return entry::load(slot);
    }
  }

  Context context(u64* slot, Pte entry, Pa table_pa, u32** refcount, Level level, bool in_root,
                  Ipa cursor, Ipa end) {
    const EntryView view{
        .old = entry, .addr = cursor, .end = end, .level = level, .bytes = g_.level_bytes(level)};
    if constexpr (kRead) {
      return ReadContext{view, core_};
    } else {
      return WalkContext{view, core_, slot, table_pa, refcount, in_root, mode_, walker_slot_};
    }
  }

  // `entry`: what the slot held when the walk read it.
  [[gnu::always_inline]] Status walk_entry(u64* slot, Pte entry, Pa table_pa, u32** refcount,
                                           Level level, bool in_root, Ipa& cursor, Ipa end) {
    Context ctx = context(slot, entry, table_pa, refcount, level, in_root, cursor, end);
    const Ipa entry_end = ctx.entry_end();
    const Ipa stop = end < entry_end ? end : entry_end;

    Status status = Status::ok;
    const bool is_table = ctx.old.is_table(level);
    if constexpr (requires { visitor_.table_pre(ctx); }) {
      if (is_table) status = visitor_.table_pre(ctx);
    }
    if constexpr (requires { visitor_.leaf(ctx); }) {
      if (!is_table) status = visitor_.leaf(ctx);
    }
    if (status != Status::ok) return status;

    if (!ctx.descend) {
      cursor = stop;
      return Status::ok;
    }
    const Pte now = kRead ? ctx.old : read(slot);
    if (now.is_table(level)) {
      Ipa child_cursor = cursor;
      const Pa child = now.table_address(core_.oa());
      status =
          walk_table(core_.pages().table(child), child, level.deeper(), false, child_cursor, stop);
      if (status != Status::ok) {
        cursor = child_cursor;
        return status;
      }
      if constexpr (requires { visitor_.table_post(ctx); }) {
        ctx.old = read(slot);
        status = visitor_.table_post(ctx);
        if (status != Status::ok) {
          cursor = child_cursor;
          return status;
        }
      }
    }
    cursor = stop;
    return Status::ok;
  }

  Core& core_;
  const Geometry& g_;
  Visitor& visitor_;
  WalkMode mode_;
  unsigned walker_slot_;
};

// The live table, writing.
template <class Visitor>
Progress walk(TableCore& core, IpaRange range, Visitor& visitor,
              WalkMode mode = WalkMode::exclusive, unsigned walker_slot = 0) {
  return Walker<Visitor>(core, visitor, mode, walker_slot).walk(range);
}

// The live table, read only.
template <class Visitor>
Progress visit(const TableCore& core, IpaRange range, Visitor& visitor) {
  return Walker<Visitor, WalkKind::read>(core, visitor).walk(range);
}

// A detached subtree, whole.
template <class Visitor>
Status walk_detached(TableCore& core, Subtree subtree, Visitor& visitor) {
  Ipa from = subtree.base;
  return Walker<Visitor, WalkKind::detached>(core, visitor).walk(subtree, from);
}

}  // namespace s2pt
