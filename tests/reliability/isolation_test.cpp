// Isolation between guests, as a property of random operation sequences on two tables (two
// VMIDs) sharing one page pool, each guest given its own host memory:
//  - no lookup ever returns a PA that the sequence did not map at that IPA in that table (no
//    aliasing into another guest's or the host's memory, no stale or shifted output address);
//  - no leaf of either table points into the other guest's memory or at a table page;
//  - the two tables never share a table page.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "support/audit.hpp"
#include "support/fixture.hpp"
#include "support/leaves.hpp"
#include "support/unmap_strategies.hpp"

namespace s2pt {
namespace {

struct MapCall {
  IpaRange range;
  Pa pa;
};

// One guest: its table and every map call made on it.
struct Guest {
  Table* table;
  Pa memory;  // its host memory: [memory, memory + kGuestMemory)
  std::vector<MapCall> history;
};

constexpr u64 kGuestMemory = u64{1} << 36;

// Whether some map call of the sequence put `pa` at `ipa`.
bool was_mapped(const Guest& guest, Ipa ipa, Pa pa) {
  for (const MapCall& call : guest.history) {
    if (call.range.contains(ipa) && call.pa + (ipa - call.range.start) == pa) return true;
  }
  return false;
}

std::set<u64> table_pages(Table& table) {
  std::set<u64> pages;
  for (const auto& [pa, entries] : test::snapshot(table).pages)
    pages.insert(pa);
  return pages;
}

class Isolation : public ::testing::TestWithParam<Granule> {};

TEST_P(Isolation, RandomSequencesNeverAliasAcrossGuests) {
  const Geometry g = test::make_geometry(GetParam(), 48, 48);
  const u64 page = g.page_bytes();
  const u64 block = g.level_bytes(Level{2});
  const u64 window = 4 * block;
  const Ipa window_start{g.level_bytes(Level{1}) - window / 2};
  const std::vector<UnmapStrategy> strategies = test::all_unmap_strategies();

  hosted::PagePool pool;
  counting::CountingArch arch(test::kAllFeatures, false);
  Result<Table> a = Table::create({.geometry = g, .vmid = Vmid{1}}, pool, arch);
  Result<Table> b = Table::create({.geometry = g, .vmid = Vmid{2}}, pool, arch);
  ASSERT_TRUE(a.ok() && b.ok());
  Guest guests[] = {{&a.value(), Pa{u64{1} << 40}, {}}, {&b.value(), Pa{u64{2} << 40}, {}}};

  std::mt19937_64 rng(0x15017 + static_cast<unsigned>(GetParam()));
  auto below = [&](u64 n) { return std::uniform_int_distribution<u64>(0, n - 1)(rng); };
  // Ranges that start and end near block boundaries as often as anywhere else.
  auto pick_range = [&]() {
    auto point = [&]() -> u64 {
      const u64 pages = window / page;
      if (below(2) == 0) return below(pages + 1);
      const u64 at = below(5) * (block / page) + below(5);
      return std::min(at >= 2 ? at - 2 : 0, pages);
    };
    u64 first = point();
    u64 last = point();
    if (first > last) std::swap(first, last);
    if (first == last) {
      if (last < window / page) {
        ++last;
      } else {
        --first;
      }
    }
    return IpaRange{window_start + first * page, (last - first) * page};
  };

  // Fewer steps where a block holds more pages, to keep the sanitizer builds quick.
  const int steps = GetParam() == Granule::k4 ? 1000 : GetParam() == Granule::k16 ? 500 : 250;
  for (int step = 0; step < steps; ++step) {
    Guest& guest = guests[below(2)];
    Table& table = *guest.table;
    const IpaRange range = pick_range();
    switch (below(6)) {
      case 0:
      case 1: {
        // Inside the guest's memory; keeping the IPA's offset in a block half of the time.
        u64 offset = below(kGuestMemory / block - 8) * block;
        offset += below(2) ? (range.start.raw & (block - 1)) : below(block / page) * page;
        const Pa pa = guest.memory + offset;
        const Progress p = table.map(range, pa, Attrs::normal(Perm::rw), MapFlags::replace);
        ASSERT_TRUE(p.ok()) << describe(p.status);
        guest.history.push_back({range, pa});
        break;
      }
      case 2:
        ASSERT_TRUE(table.unmap(range, strategies[below(strategies.size())]).ok());
        break;
      case 3:
        ASSERT_TRUE(table.write_protect(range).ok());
        break;
      case 4:
        ASSERT_TRUE(table.relax(range, Perm::exec).ok());
        break;
      default:
        ASSERT_TRUE(table.mkold(range).ok());
    }

    // The operated range, at its edges and a sample inside, for both guests.
    for (Guest& each : guests) {
      for (const Ipa ipa :
           {range.start, range.end() - page, range.start + below(range.size / page) * page,
            window_start + below(window / page) * page}) {
        const Result<Translation> t = each.table->lookup(ipa);
        if (!t.ok()) continue;
        ASSERT_TRUE(was_mapped(each, ipa, t->pa))
            << "step " << step << ": IPA 0x" << std::hex << ipa.raw << " translates to 0x"
            << t->pa.raw << ", which no call mapped there";
      }
    }
    if (step % 50 != 0 && step != steps - 1) continue;

    // Every leaf of both tables: inside its own guest's memory, and mapped there by some call.
    const std::set<u64> pages_a = table_pages(*guests[0].table);
    const std::set<u64> pages_b = table_pages(*guests[1].table);
    for (u64 p : pages_b)
      ASSERT_FALSE(pages_a.contains(p)) << "table page shared: 0x" << std::hex << p;
    for (Guest& each : guests) {
      ASSERT_TRUE(test::audit(*each.table).clean());
      const std::vector<test::LeafEntry> leaves = test::leaf_entries(*each.table);
      // Where every leaf points is checked; whether some call mapped it there, on a sample.
      const std::size_t stride = std::max<std::size_t>(1, leaves.size() / 128);
      for (std::size_t i = 0; i < leaves.size(); ++i) {
        const test::LeafEntry& leaf = leaves[i];
        if (!leaf.pte.is_leaf(leaf.level)) continue;
        const Pa out = leaf.pte.output_address(OaLayout::bits48);
        if (out < each.memory || out + leaf.size > each.memory + kGuestMemory ||
            pool.contains(out)) {
          FAIL() << "leaf at IPA 0x" << std::hex << leaf.base.raw
                 << " points outside its guest's memory: 0x" << out.raw;
        }
        if (i % stride != 0) continue;
        for (const u64 off : {u64{0}, leaf.size - page}) {
          ASSERT_TRUE(was_mapped(each, leaf.base + off, out + off))
              << "leaf at IPA 0x" << std::hex << (leaf.base + off).raw << " -> 0x"
              << (out + off).raw << " never mapped";
        }
      }
    }
  }
  guests[0].table->destroy();
  guests[1].table->destroy();
  for (Guest& each : guests)
    each.table->reclaim_all();  // destroy() hands the pages over
  EXPECT_EQ(pool.bytes_in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(EachGranule, Isolation,
                         ::testing::Values(Granule::k4, Granule::k16, Granule::k64),
                         [](const auto& param_info) {
                           return std::to_string(granule_bytes(param_info.param) >> 10) + "K";
                         });

}  // namespace
}  // namespace s2pt
