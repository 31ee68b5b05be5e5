// Reading the live table the way the oracles need it (never through the checked Mm views, so
// that an oracle never counts as a use of a freed page).
#pragma once

#include "entry.hpp"
#include "s2pt/sim/machine.hpp"

namespace s2pt::sim {

// The descriptor at `level` on the live path translating `ipa`; invalid if the path ends above
// `level` or passes through a page that is freed or not a table page.
inline Pte live_descriptor(SimMm& mm, const AttachedTable& t, Ipa ipa, Level level) {
  const Geometry& g = t.geometry;
  Pa table = t.root;
  for (Level l = g.start_level();; l = l.deeper()) {
    if (!mm.contains(table) || mm.is_freed(table)) return Pte::invalid();
    const Pte d = entry::load(static_cast<const u64*>(mm.raw(table)) + g.index(ipa, l));
    if (l == level) return d;
    if (!d.is_table(l)) return Pte::invalid();
    table = d.table_address(t.geometry.oa_layout());
  }
}

// A cached translation is still right if the live table maps its region with a leaf of the same
// level, output and memory type, and grants at least its permissions (a TLB that grants less
// only faults spuriously). The access flag may differ: aging clears it without invalidation.
inline bool still_matches_live(SimMm& mm, const AttachedTable& t, const TlbEntry& e) {
  const Pte live = live_descriptor(mm, t, e.base, e.level);
  if (!live.is_leaf(e.level) || !t.geometry.leaf_allowed(e.level)) return false;
  if (live.output_address(t.geometry.oa_layout()) != e.pa) return false;
  const Result<MemType> mem = decode_memattr(live.memattr(), t.format);
  if (!mem.ok() || mem.value() != e.mem) return false;
  return (live.perm() & e.perm) == e.perm;
}

inline bool still_matches_live(SimMm& mm, const AttachedTable& t, const WalkEntry& w) {
  const Pte live = live_descriptor(mm, t, w.base, w.level);
  return live.is_table(w.level) && live.table_address(t.geometry.oa_layout()) == w.next;
}

// Calls visit(page_pa, level, base, slots, entries, is_root) for every table page reachable from
// the root whose region `wanted(base, bytes)` accepts, parents before children. Pages that are
// freed or outside the pool are passed to `bad`.
template <class Visit, class Bad, class Wanted>
void for_each_live_page(SimMm& mm, const AttachedTable& t, Visit&& visit, Bad&& bad,
                        Wanted&& wanted) {
  const Geometry& g = t.geometry;
  struct Walk {
    SimMm& mm;
    const Geometry& g;
    Visit& visit;
    Bad& bad;
    Wanted& wanted;
    void page(Pa pa, Level level, Ipa base, u64 entries, bool root) {
      if (!mm.contains(pa) || mm.is_freed(pa)) {
        bad(pa, level, base);
        return;
      }
      const u64* slots = static_cast<const u64*>(mm.raw(pa));
      visit(pa, level, base, slots, entries, root);
      if (level.is_last()) return;
      for (u64 i = 0; i < entries; ++i) {
        const Pte d = entry::load(slots + i);
        const Ipa child_base = base + i * g.level_bytes(level);
        if (d.is_table(level) && wanted(child_base, g.level_bytes(level))) {
          page(d.table_address(g.oa_layout()), level.deeper(), child_base, g.entries_per_table(),
               false);
        }
      }
    }
  };
  Walk w{mm, g, visit, bad, wanted};
  w.page(t.root, g.start_level(), Ipa{0}, g.root_entries(), true);
}

template <class Visit, class Bad>
void for_each_live_page(SimMm& mm, const AttachedTable& t, Visit&& visit, Bad&& bad) {
  for_each_live_page(mm, t, visit, bad, [](Ipa, u64) { return true; });
}

}  // namespace s2pt::sim
