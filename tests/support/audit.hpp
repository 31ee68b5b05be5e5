// Independent checks of a table's memory, written without the core's walker so that a walker bug
// cannot hide itself: reference counts, no empty tables, page accounting, byte snapshots.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "s2pt/table.hpp"

namespace s2pt::test {

struct AuditReport {
  u64 table_pages = 0;    // reachable table pages, root pages included
  u64 retired_pages = 0;  // unlinked, waiting for reclaim()
  u64 leaves = 0;
  std::vector<std::string> problems;

  bool clean() const { return problems.empty(); }
  std::string summary() const;
};

// Walks every reachable table page: each non-root table's count is 1 + its non-zero entries,
// no non-root table is empty, and the reachable pages plus the retired ones (unlinked, waiting
// for reclaim()) equal the table's own count.
AuditReport audit(Table& table);

// Every reachable table page's bytes and reference count, keyed by PA.
struct TableSnapshot {
  std::map<u64, std::vector<u64>> pages;
  std::map<u64, u32> refcounts;
  bool operator==(const TableSnapshot&) const = default;
};
TableSnapshot snapshot(Table& table);

}  // namespace s2pt::test
