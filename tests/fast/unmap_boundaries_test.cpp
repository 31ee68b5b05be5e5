// Unmap ranges that start or end one entry away from a table's boundary: the entries just outside
// must stay mapped and the ones just inside must go, for every granule, strategy and feature set,
// both for pages under a last-level table and for blocks under a level-1 table entry.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

// Where the table sits and what it holds: a table at `level` spans one entry of the level above;
// it is filled with leaves one level below the span.
struct Layout {
  Granule granule;
  unsigned ipa_bits;
  int span_level;  // the entry whose region one table covers
  const char* name;
};

// Offsets of a range's start and end from the table boundary T, in leaves (`unit`), with the
// span S = entries_per_table units: [T + first, T + S + last).
struct Shape {
  long long first;
  long long last;
  const char* name;
};

constexpr Layout kLayouts[] = {
    {Granule::k4, 40, 2, "4K pages under a 2M entry"},
    {Granule::k4, 40, 1, "4K 2M blocks under a 1G entry"},
    {Granule::k16, 40, 2, "16K pages under a 32M entry"},
    {Granule::k16, 47, 1, "16K 32M blocks under a 64G entry"},
    {Granule::k64, 42, 2, "64K pages under a 512M entry"},
    {Granule::k64, 48, 1, "64K 512M blocks under a 4T entry"},
};

constexpr Shape kShapes[] = {
    {0, -1, "ends one entry short of the next table"},
    {1, 0, "starts one entry after the boundary"},
    {0, 0, "exactly the table"},
    {-1, 1, "one entry past both boundaries"},
    {0, 1, "one entry into the next table"},
    {-1, 0, "starts one entry into the previous table"},
    {1, -1, "all but the first and last entry"},
};

struct Case {
  Layout layout;
  UnmapStrategy strategy;
  Features features;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.layout.name << ", " << name(c.strategy) << (c.features.fwb ? ", FWB+range" : ", none");
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const Layout& layout : kLayouts) {
    for (UnmapStrategy strategy : kAllUnmapStrategies) {
      for (const Features& features : {test::kAllFeatures, test::kNoFeatures})
        cases.push_back({layout, strategy, features});
    }
  }
  return cases;
}

class UnmapBoundaries : public ::testing::TestWithParam<Case> {};

TEST_P(UnmapBoundaries, OnlyTheRangeGoes) {
  const Case c = GetParam();
  const Geometry g = test::make_geometry(c.layout.granule, c.layout.ipa_bits, 48);
  const Level span_level{c.layout.span_level};
  const u64 span = g.level_bytes(span_level);
  const u64 unit = g.level_bytes(span_level.deeper());
  const u64 page = g.page_bytes();
  // Three whole tables of leaves, the middle one's start being the boundary T.
  const Ipa boundary{span * 2};
  const IpaRange mapped{boundary - span, 3 * span};
  // Aligned to the leaves, not to the span: no larger block can be built over a whole table.
  const Pa backing{(u64{1} << 44) + unit};

  for (const Shape& shape : kShapes) {
    SCOPED_TRACE(shape.name);
    test::Rig rig(g, c.features, /*record=*/false);
    Table& table = rig.table();
    const MapFlags flags = unit == page ? MapFlags::no_blocks : MapFlags::none;
    ASSERT_TRUE(table.map(mapped, backing, Attrs::normal(Perm::rw), flags).ok());

    const Ipa start{boundary.raw + static_cast<u64>(shape.first * static_cast<long long>(unit))};
    const Ipa end{boundary.raw + span +
                  static_cast<u64>(shape.last * static_cast<long long>(unit))};
    const IpaRange range{start, end - start};
    ASSERT_TRUE(table.unmap(range, c.strategy).ok());

    // Every leaf of the three tables, and the pages on either side of each edge of the range.
    std::vector<Ipa> probes;
    for (u64 off = 0; off < mapped.size; off += unit)
      probes.push_back(mapped.start + off);
    for (Ipa edge : {start, end}) {
      probes.push_back(edge - page);
      probes.push_back(edge);
      probes.push_back(edge + page);
    }
    for (Ipa ipa : probes) {
      const bool inside = ipa >= start && ipa < end;
      const Result<Translation> t = table.lookup(ipa);
      ASSERT_EQ(t.ok(), !inside) << std::hex << "IPA 0x" << ipa.raw;
      if (t.ok()) {
        ASSERT_EQ(t->pa, backing + (ipa - mapped.start)) << std::hex << "IPA 0x" << ipa.raw;
      }
    }
    const test::AuditReport report = test::audit(table);
    ASSERT_TRUE(report.clean()) << report.summary();
    // Unmapping the rest leaves only the root, once the reclaimer has run.
    ASSERT_TRUE(table.unmap(mapped, c.strategy).ok());
    table.reclaim_all();
    EXPECT_EQ(table.stats().table_pages, g.root_pages());
  }
}

INSTANTIATE_TEST_SUITE_P(All, UnmapBoundaries, ::testing::ValuesIn(all_cases()));

}  // namespace
}  // namespace s2pt
