#include "support/audit.hpp"

#include <cstdio>

#include "core_access.hpp"
#include "markers.hpp"
#include "retired_pages.hpp"

namespace s2pt::test {
namespace {

std::string hex(u64 v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

template <class OnTable>
void visit_tables(TableCore& core, Pa table, Level level, bool root, OnTable&& on_table) {
  const Geometry& g = core.geometry();
  const u64 entries = root ? g.root_entries() : g.entries_per_table();
  const u64* slots = core.pages().table(table);
  on_table(table, level, root, slots, entries);
  if (level.is_last()) return;
  for (u64 i = 0; i < entries; ++i) {
    const Pte e = Pte::from_raw(slots[i]);
    if (e.is_table(level))
      visit_tables(core, e.table_address(core.oa()), level.deeper(), false, on_table);
  }
}

// Table pages in the subtree below `table`, the entries before `first` left out (freed already,
// or holding a retired list's link).
u64 subtree_pages(TableCore& core, Pa table, Level level, u64 first, u64 entries) {
  u64 pages = 1;
  if (level.is_last()) return pages;
  const u64* slots = core.pages().table(table);
  for (u64 i = first; i < entries; ++i) {
    const Pte e = marker::original(Pte::from_raw(slots[i]));
    if (e.is_table(level)) {
      pages += subtree_pages(core, e.table_address(core.oa()), level.deeper(), 0,
                             core.geometry().entries_per_table());
    }
  }
  return pages;
}

// Table pages of the subtree being freed that are not freed yet: its top, the tables on the way
// down to the freeing walk's cursor `from`, and every subtree after it.
u64 unfreed_pages(TableCore& core, Pa table, Level level, Ipa base, Ipa from, bool root) {
  const Geometry& g = core.geometry();
  const u64 entries = root ? g.root_entries() : g.entries_per_table();
  u64 pages = root ? g.root_pages() : 1;
  if (level.is_last()) return pages;
  const u64* slots = core.pages().table(table);
  for (u64 i = 0; i < entries; ++i) {
    const Ipa start = base + i * g.level_bytes(level);
    if (start + g.level_bytes(level) <= from) continue;  // freed
    const Pte e = marker::original(Pte::from_raw(slots[i]));
    if (!e.is_table(level)) continue;
    const Pa child = e.table_address(core.oa());
    pages += start < from ? unfreed_pages(core, child, level.deeper(), start, from, false)
                          : subtree_pages(core, child, level.deeper(), 0, g.entries_per_table());
  }
  return pages;
}

// The subtrees a retire-log page names from `slot` on.
u64 logged_subtree_pages(TableCore& core, Pa log, u64 slot) {
  const u64 slots = core.geometry().entries_per_table();
  u64 pages = 0;
  for (const u64* links = core.pages().table(log); slot < slots && links[slot] != 0; ++slot) {
    pages += subtree_pages(core, marker::link_page(links[slot]), marker::link_level(links[slot]), 0,
                           slots);
  }
  return pages;
}

// Pages unlinked from the table and not yet freed: the retired lists (log pages naming whole
// subtrees; table pages whose entry 0 is the link, what it replaced retired on its own), the log
// and the subtree being freed, and a destroyed root.
u64 retired_pages(TableCore& core) {
  const RetiredPages& r = core.retired();
  const Geometry& g = core.geometry();
  u64 pages = 0;
  for (const RetiredPages::Batch* batch : {&r.current, &r.waiting, &r.ready}) {
    for (u64 link = batch->head; link != 0;) {
      const Pa page = marker::link_page(link);
      pages += marker::link_is_log(link)
                   ? logged_subtree_pages(core, page, 1)
                   : subtree_pages(core, page, marker::link_level(link), 1, g.entries_per_table());
      const u64 next = core.pages().table(page)[0];
      link = marker::link_has_next(next) ? next : 0;
    }
  }
  if (r.freeing_log != Pa{}) pages += logged_subtree_pages(core, r.freeing_log, r.freeing_slot);
  if (r.freeing.table != Pa{}) {
    pages += unfreed_pages(core, r.freeing.table, r.freeing.level, r.freeing.base, r.freeing_from,
                           r.freeing.level == g.start_level());
  }
  if (r.owed != Pa{}) ++pages;
  if (r.teardown_pending) {
    pages += subtree_pages(core, r.teardown_root, g.start_level(), 0, g.root_entries()) - 1 +
             g.root_pages();
  }
  return pages;
}

}  // namespace

std::string AuditReport::summary() const {
  std::string s =
      std::to_string(table_pages) + " table pages, " + std::to_string(leaves) + " leaves";
  for (const std::string& p : problems)
    s += "\n  " + p;
  return s;
}

AuditReport audit(Table& table) {
  AuditReport report;
  if (table.destroyed()) return report;
  TableCore& core = CoreAccess::core(table);
  const Geometry& g = core.geometry();
  visit_tables(core, core.root_pa(), g.start_level(), true,
               [&](Pa pa, Level level, bool root, const u64* slots, u64 entries) {
                 report.table_pages += root ? g.root_pages() : 1;
                 u32 non_zero = 0;
                 for (u64 i = 0; i < entries; ++i) {
                   const Pte e = Pte::from_raw(slots[i]);
                   non_zero += e.is_zero() ? 0 : 1;
                   if (e.is_leaf(level)) {
                     ++report.leaves;
                     if (!e.output_address(core.oa()).aligned(g.level_bytes(level))) {
                       report.problems.push_back(
                           "leaf output address " + hex(e.output_address(core.oa()).raw) +
                           " not aligned to its level " + std::to_string(level.value()));
                     }
                     if (!g.leaf_allowed(level)) {
                       report.problems.push_back("leaf at level " + std::to_string(level.value()) +
                                                 " where none is allowed, table " + hex(pa.raw));
                     }
                   }
                   if (e.is_valid() && !e.is_leaf(level) && !e.is_table(level)) {
                     report.problems.push_back("reserved descriptor in table " + hex(pa.raw));
                   }
                   if (e.is_locked()) {
                     report.problems.push_back("locked entry left behind in " + hex(pa.raw));
                   }
                 }
                 if (root) return;
                 if (non_zero == 0) report.problems.push_back("empty table " + hex(pa.raw));
                 const u32 refs = core.pages().refs(pa);
                 if (refs != non_zero + 1) {
                   report.problems.push_back("table " + hex(pa.raw) + " refcount " +
                                             std::to_string(refs) + " != 1 + " +
                                             std::to_string(non_zero) + " non-zero entries");
                 }
               });
  report.retired_pages = retired_pages(core);
  if (report.table_pages + report.retired_pages != table.stats().table_pages) {
    report.problems.push_back("reachable pages " + std::to_string(report.table_pages) + " + " +
                              std::to_string(report.retired_pages) + " retired != accounted " +
                              std::to_string(table.stats().table_pages));
  }
  return report;
}

TableSnapshot snapshot(Table& table) {
  TableSnapshot snap;
  if (table.destroyed()) return snap;
  TableCore& core = CoreAccess::core(table);
  visit_tables(core, core.root_pa(), core.geometry().start_level(), true,
               [&](Pa pa, Level, bool root, const u64* slots, u64 entries) {
                 snap.pages[pa.raw] = std::vector<u64>(slots, slots + entries);
                 if (!root) snap.refcounts[pa.raw] = core.pages().refs(pa);
               });
  return snap;
}

}  // namespace s2pt::test
