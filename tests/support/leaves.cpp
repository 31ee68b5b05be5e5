#include "support/leaves.hpp"

#include "core_access.hpp"

namespace s2pt::test {
namespace {

void collect(TableCore& core, Pa table, Level level, Ipa base, bool root,
             std::vector<LeafEntry>& out) {
  const Geometry& g = core.geometry();
  const u64 entries = root ? g.root_entries() : g.entries_per_table();
  const u64* slots = core.pages().table(table);
  for (u64 i = 0; i < entries; ++i) {
    const Pte e = Pte::from_raw(slots[i]);
    const Ipa at = base + i * g.level_bytes(level);
    if (e.is_table(level)) {
      collect(core, e.table_address(core.oa()), level.deeper(), at, false, out);
    } else if (!e.is_zero()) {
      out.push_back(LeafEntry{at, g.level_bytes(level), level, e});
    }
  }
}

}  // namespace

std::vector<LeafEntry> leaf_entries(Table& table) {
  std::vector<LeafEntry> out;
  if (table.destroyed()) return out;
  TableCore& core = CoreAccess::core(table);
  collect(core, core.root_pa(), core.geometry().start_level(), Ipa{0}, true, out);
  return out;
}

}  // namespace s2pt::test
