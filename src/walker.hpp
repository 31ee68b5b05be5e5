// The one table walker. It visits every entry that translates part of [start, end) and calls the
// visitor's hooks, each optional:
//   Status table_pre(WalkContext&)   before descending into a table entry,
//   Status leaf(WalkContext&)        on any entry that is not a table (invalid, annotated,
//                                    locked, block, page),
//   Status table_post(WalkContext&)  after the table's children were walked.
// After table_pre or leaf it re-reads the entry: a visitor that installed a table (a split, a
// new level) is walked into; one that removed a table is not. A hook returning anything but ok
// stops the walk with that status.
#pragma once

#include "entry.hpp"
#include "table_core.hpp"

namespace s2pt {

struct WalkContext {
  TableCore& core;
  u64* slot = nullptr;  // the entry being visited
  Pte old;              // its value as last read
  Ipa addr;             // where the walk is inside this entry's region
  Ipa end;              // end of the walk
  Level level = kLastLevel;
  Pa table_pa;           // the table page holding the entry
  bool in_root = false;  // the entry is in the root table (which has no reference count)
  WalkMode mode = WalkMode::exclusive;

  u64 entry_bytes() const { return core.geometry().level_bytes(level); }
  Ipa entry_base() const { return addr.align_down(entry_bytes()); }
  Ipa entry_end() const { return entry_base() + entry_bytes(); }
  // The part of this entry's region that the walk covers.
  IpaRange span() const {
    const Ipa stop = end < entry_end() ? end : entry_end();
    return IpaRange{addr, stop - addr};
  }
  bool covers_entry() const { return addr == entry_base() && end - addr >= entry_bytes(); }

  // Replaces the entry, keeping the table page's reference count equal to 1 + its non-zero
  // entries. Exclusive walks store; shared walks compare-and-swap against `old` and, when another
  // walker got there first, return false with `old` updated to what is there now.
  bool set(Pte next) {
    if (mode == WalkMode::shared) {
      Pte expected = old;
      if (!entry::compare_exchange(slot, expected, next)) {
        old = expected;
        return false;
      }
    } else {
      entry::store(slot, next);
    }
    if (next.is_annotated()) core.note_annotation();
    if (!in_root) {
      if (old.is_zero() && !next.is_zero()) core.get(table_pa, mode);
      if (!old.is_zero() && next.is_zero()) core.put(table_pa, mode);
    }
    old = next;
    return true;
  }
};

template <class Visitor>
class Walker {
 public:
  Walker(TableCore& core, Visitor& visitor, WalkMode mode = WalkMode::exclusive)
      : core_(core), visitor_(visitor), mode_(mode) {}

  // Walks [range.start, range.end()) from the root. The range must be non-empty and inside the
  // table's IPA space.
  Progress walk(IpaRange range) {
    Ipa cursor = range.start;
    const Geometry& g = core_.geometry();
    const Status status =
        walk_table(core_.root(), core_.root_pa(), g.start_level(), true, cursor, range.end());
    return Progress{status, cursor - range.start};
  }

  // Walks the part [cursor, end) of one table page at `level`, which need not be linked into
  // the tree (a detached subtree). Advances `cursor` past every entry fully handled.
  Status walk_table(u64* table, Pa table_pa, Level level, bool is_root, Ipa& cursor, Ipa end) {
    const Geometry& g = core_.geometry();
    const u64 entries = is_root ? g.root_entries() : g.entries_per_table();
    for (u64 index = g.index(cursor, level); index < entries && cursor < end; ++index) {
      const Status status = walk_entry(table + index, table_pa, level, is_root, cursor, end);
      if (status != Status::ok) return status;
    }
    return Status::ok;
  }

 private:
  Status walk_entry(u64* slot, Pa table_pa, Level level, bool in_root, Ipa& cursor, Ipa end) {
    WalkContext ctx{.core = core_,
                    .slot = slot,
                    .old = entry::load(slot),
                    .addr = cursor,
                    .end = end,
                    .level = level,
                    .table_pa = table_pa,
                    .in_root = in_root,
                    .mode = mode_};
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

    const Pte now = entry::load(slot);
    if (now.is_table(level)) {
      Ipa child_cursor = cursor;
      status = walk_table(core_.table(now.table_address()), now.table_address(), level.deeper(),
                          false, child_cursor, stop);
      if (status != Status::ok) {
        cursor = child_cursor;
        return status;
      }
      if constexpr (requires { visitor_.table_post(ctx); }) {
        ctx.old = entry::load(slot);
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

  TableCore& core_;
  Visitor& visitor_;
  WalkMode mode_;
};

template <class Visitor>
Progress walk(TableCore& core, IpaRange range, Visitor& visitor,
              WalkMode mode = WalkMode::exclusive) {
  return Walker<Visitor>(core, visitor, mode).walk(range);
}

}  // namespace s2pt
