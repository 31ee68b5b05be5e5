#include "support/audit.hpp"

#include <cstdio>

#include "core_access.hpp"

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
  const u64* slots = core.table(table);
  on_table(table, level, root, slots, entries);
  if (level.is_last()) return;
  for (u64 i = 0; i < entries; ++i) {
    const Pte e = Pte::from_raw(slots[i]);
    if (e.is_table(level)) visit_tables(core, e.table_address(), level.deeper(), false, on_table);
  }
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
  visit_tables(
      core, core.root_pa(), g.start_level(), true,
      [&](Pa pa, Level level, bool root, const u64* slots, u64 entries) {
        report.table_pages += root ? g.root_pages() : 1;
        u32 non_zero = 0;
        for (u64 i = 0; i < entries; ++i) {
          const Pte e = Pte::from_raw(slots[i]);
          non_zero += e.is_zero() ? 0 : 1;
          if (e.is_leaf(level)) {
            ++report.leaves;
            if (!e.output_address().aligned(g.level_bytes(level))) {
              report.problems.push_back("leaf output address " + hex(e.output_address().raw) +
                                        " not aligned to its level " +
                                        std::to_string(level.value()));
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
        const u32 refs = core.refs(pa);
        if (refs != non_zero + 1) {
          report.problems.push_back("table " + hex(pa.raw) + " refcount " + std::to_string(refs) +
                                    " != 1 + " + std::to_string(non_zero) + " non-zero entries");
        }
      });
  if (report.table_pages != table.stats().table_pages) {
    report.problems.push_back("reachable pages " + std::to_string(report.table_pages) +
                              " != accounted " + std::to_string(table.stats().table_pages));
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
                 if (!root) snap.refcounts[pa.raw] = core.refs(pa);
               });
  return snap;
}

}  // namespace s2pt::test
