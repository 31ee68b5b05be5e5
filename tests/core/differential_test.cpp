// The table against the plain reference model: random map / unmap / write-protect / relax over a
// window big enough for blocks, every lookup of the touched range checked after every step, the
// whole window and the table's own invariants checked periodically.
#include <gtest/gtest.h>

#include <iterator>
#include <ostream>
#include <random>

#include "support/audit.hpp"
#include "support/fixture.hpp"
#include "support/reference_model.hpp"

namespace s2pt {
namespace {

struct DifferentialCase {
  Granule granule;
  unsigned ipa_bits;
  Features features;
  int block_level;    // the largest blocks the window exercises
  u64 window_blocks;  // window size in those blocks
  int steps = 10'000;
  // 52-bit cases: the PA size, the root's concatenation limit, and where the window is centred
  // (0: on a boundary of the level above the blocks; kTop: at the top of the IPA space). The
  // window must hold at least three of the largest blocks.
  unsigned pa_bits = 48;
  unsigned max_root_pages = 16;
  u64 center = 0;
};

constexpr u64 kTop = ~u64{0};
constexpr Features kAll52{.fwb = true, .tlbi_range = true, .ttl = true, .lpa2 = true, .lpa = true};
constexpr Features kNo52{.lpa2 = true, .lpa = true};

// Short names in test listings instead of a byte dump.
void PrintTo(const DifferentialCase& c, std::ostream* os) {
  *os << (granule_bytes(c.granule) >> 10) << "K/" << c.ipa_bits << "-bit";
}

constexpr int kFullCheckEvery = 500;
// Ranges up to this many pages are checked page by page; larger ones at every page of their
// first and last blocks' edges, every block boundary, and a random sample.
constexpr u64 kExhaustivePages = 4096;
constexpr u64 kSampledPages = 1024;

class Differential : public ::testing::TestWithParam<DifferentialCase> {};

std::string explain(Ipa ipa, const Result<Translation>& got,
                    const std::optional<test::ReferenceModel::Mapping>& want) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "IPA 0x%llx: table %s 0x%llx perm %u, model %s 0x%llx perm %u",
                static_cast<unsigned long long>(ipa.raw), got.ok() ? "maps" : "unmapped",
                got.ok() ? static_cast<unsigned long long>(got->pa.raw) : 0ull,
                got.ok() ? static_cast<unsigned>(got->attrs.perm) : 0u, want ? "maps" : "unmapped",
                want ? static_cast<unsigned long long>(want->pa.raw) : 0ull,
                want ? static_cast<unsigned>(want->attrs.perm) : 0u);
  return buf;
}

::testing::AssertionResult agrees_at(Table& table, const test::ReferenceModel& model, Ipa ipa) {
  const Result<Translation> got = table.lookup(ipa);
  const auto want = model.lookup(ipa);
  const bool same =
      got.ok() == want.has_value() && (!want || (got->pa == want->pa && got->attrs == want->attrs));
  if (!same) return ::testing::AssertionFailure() << explain(ipa, got, want);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult agrees(Table& table, const test::ReferenceModel& model, IpaRange range,
                                  std::mt19937_64& rng) {
  const u64 page = model.page_bytes();
  const u64 pages = range.size / page;
  if (pages <= kExhaustivePages) {
    for (u64 i = 0; i < pages; ++i) {
      if (auto r = agrees_at(table, model, range.start + i * page); !r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  const Geometry& g = table.geometry();
  const u64 block = g.level_bytes(Level{2});
  for (u64 off = 0; off < range.size; off += block) {
    for (u64 edge : {off, off + page, off + block - page}) {
      if (auto r = agrees_at(table, model, range.start + edge); !r) return r;
    }
  }
  for (u64 i = 0; i < kSampledPages; ++i) {
    const u64 n = std::uniform_int_distribution<u64>(0, pages - 1)(rng);
    if (auto r = agrees_at(table, model, range.start + n * page); !r) return r;
  }
  return ::testing::AssertionSuccess();
}

// A range that starts on a table's boundary, or one entry before or after it, and ends on the
// table's end, or one entry before or after that: the entry is a page (a last-level table) or a
// level-2 block (a level-2 table). Clipped to the window.
template <class Pick>
IpaRange around_a_table(const Geometry& g, Ipa window_start, u64 window, Pick& pick) {
  const int table_level = pick(2) == 0 ? Level::kLast : 2;
  const u64 entry = g.level_bytes(Level{table_level});
  const u64 span = g.level_bytes(Level{table_level - 1});
  const Ipa window_end = window_start + window;
  // A boundary inside the window with room for the span after it.
  const Ipa first_boundary = (window_start + span - 1).align_down(span);
  if (first_boundary + span > window_end) return IpaRange{window_start, entry};
  const u64 boundaries = (window_end - span - first_boundary) / span + 1;
  const Ipa t = first_boundary + span * pick(boundaries);
  const u64 before = pick(3);  // 0: on the boundary, 1: one entry before, 2: one entry after
  const u64 after = pick(3);
  Ipa start = before == 1 ? t - entry : before == 2 ? t + entry : t;
  Ipa end = after == 1 ? t + span - entry : after == 2 ? t + span + entry : t + span;
  if (start < window_start) start = window_start;
  if (end > window_end) end = window_end;
  return IpaRange{start, end - start};
}

TEST_P(Differential, RandomOperationsAgreeWithTheReferenceModel) {
  const DifferentialCase c = GetParam();
  const Geometry g = Geometry::make(c.granule, c.ipa_bits, c.pa_bits, 16, c.max_root_pages).value();
  test::Rig rig(g, c.features, /*record=*/false);
  Table& table = rig.table();

  const u64 page = g.page_bytes();
  const u64 block = g.level_bytes(Level{c.block_level});
  // Straddle a boundary of the level above the largest blocks.
  const u64 window = c.window_blocks * block;
  const Ipa window_start{c.center == kTop ? g.ipa_limit() - window
                         : c.center != 0  ? c.center - window / 2
                                          : g.level_bytes(Level{c.block_level - 1}) - window / 2};
  test::ReferenceModel model(window_start, window, page);

  std::mt19937_64 rng(0x5eed0000 + static_cast<u64>(c.granule) * 100 + c.ipa_bits);
  auto pick = [&](u64 n) { return std::uniform_int_distribution<u64>(0, n - 1)(rng); };
  constexpr Perm kPerms[] = {Perm::read, Perm::rw, Perm::rx, Perm::rwx, Perm::write};
  constexpr MemType kMems[] = {MemType::normal_wb, MemType::normal_nc, MemType::device_ngnre};

  int mapped_ok = 0;
  int refused = 0;
  std::mt19937_64 check_rng(7);
  for (int step = 0; step < c.steps; ++step) {
    // Ranges aligned to a page, 16 pages, a level-2 block or the largest block, 1 to 3 units;
    // or a table's span give or take one of its entries at either end.
    const std::array<u64, 4> units{page, 16 * page, g.level_bytes(Level{2}), block};
    const u64 roll = pick(24);
    IpaRange range{};
    u64 unit = page;
    if (roll < 20) {
      unit = units[roll < 10 ? 0 : roll < 14 ? 1 : roll < 18 ? 2 : 3];
      const u64 size = unit * (1 + pick(3));
      const u64 slots = (window - size) / unit + 1;
      range = IpaRange{window_start + unit * pick(slots), size};
    } else {
      range = around_a_table(g, window_start, window, pick);
    }
    const int kind = static_cast<int>(pick(10));
    SCOPED_TRACE("step " + std::to_string(step));

    if (kind < 5) {
      // Mostly sharing the IPA's alignment (so blocks are possible), sometimes not.
      // With 52-bit PAs, output addresses whose top bits need the 52-bit layout.
      const u64 pa_base = c.pa_bits == 52 ? u64{0xF} << 48 : u64{1} << 32;
      const Pa pa{pa_base + (pick(4) == 0 ? page : unit) * pick(1024)};
      const Attrs attrs{.perm = kPerms[pick(5)], .mem = kMems[pick(3)]};
      const bool replace = pick(3) == 0;
      const MapFlags flags = (replace ? MapFlags::replace : MapFlags::none) |
                             (pick(8) == 0 ? MapFlags::no_blocks : MapFlags::none);
      const Progress p = table.map(range, pa, attrs, flags);
      if (attrs.executable_device()) {
        ASSERT_EQ(p.status, Status::exec_on_device);
        ++refused;
      } else if (!replace && model.any_mapped(range)) {
        ASSERT_EQ(p.status, Status::exists);
        ++refused;
      } else {
        ASSERT_TRUE(p.ok()) << describe(p.status);
        model.map(range, pa, attrs);
        ++mapped_ok;
      }
    } else if (kind < 7) {
      const UnmapStrategy strategy = kAllUnmapStrategies[pick(std::size(kAllUnmapStrategies))];
      ASSERT_TRUE(table.unmap(range, strategy).ok()) << name(strategy);
      model.unmap(range);
    } else if (kind < 9) {
      ASSERT_TRUE(table.write_protect(range).ok());
      model.change_perm(range, Perm::write, Perm::none);
    } else {
      const Perm add = kPerms[pick(5)];
      const Progress p = table.relax(range, add);
      if (has(add, Perm::exec) && model.any_device(range)) {
        ASSERT_EQ(p.status, Status::exec_on_device);
      } else {
        ASSERT_TRUE(p.ok()) << describe(p.status);
        model.change_perm(range, Perm::none, add);
      }
    }
    const IpaRange touched{range.start - (range.start > window_start ? page : 0),
                           range.size + page * (range.start > window_start ? 2 : 1)};
    ASSERT_TRUE(agrees(
        table, model,
        {touched.start, std::min(touched.size, window_start + window - touched.start)}, check_rng));
    if (step % kFullCheckEvery == kFullCheckEvery - 1) {
      ASSERT_TRUE(agrees(table, model, {window_start, window}, check_rng));
      const test::AuditReport report = test::audit(table);
      ASSERT_TRUE(report.clean()) << report.summary();
    }
  }
  // Both outcomes of map were exercised.
  EXPECT_GT(mapped_ok, c.steps / 10);
  EXPECT_GT(refused, c.steps / 50);

  ASSERT_TRUE(table.unmap({window_start, window}).ok());
  table.reclaim_all();  // unmap(fast) leaves what it detached to the reclaimer
  EXPECT_EQ(table.stats().table_pages, g.root_pages()) << "empty tables left after unmapping all";
  table.destroy();
  table.reclaim_all();  // destroy() hands the pages to the reclaimer
  EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    EachGranule, Differential,
    ::testing::Values(DifferentialCase{Granule::k4, 40, test::kAllFeatures, 2, 16},
                      DifferentialCase{Granule::k4, 36, test::kNoFeatures, 2, 16},
                      DifferentialCase{Granule::k4, 42, test::kAllFeatures, 1, 4, 2'000},
                      DifferentialCase{Granule::k16, 40, test::kAllFeatures, 2, 8},
                      DifferentialCase{Granule::k16, 47, test::kNoFeatures, 2, 8},
                      DifferentialCase{Granule::k64, 48, test::kAllFeatures, 2, 4},
                      DifferentialCase{Granule::k64, 44, test::kNoFeatures, 2, 4},
                      // 52 bits: across the seam of the 16 concatenated level-0 root pages (4K)
                      // and of the 16 level-1 root pages (16K at 51 bits), at the top of a
                      // level -1 table (4K, one root page), 16K and 64K at the top of the space.
                      DifferentialCase{Granule::k4, 52, kAll52, 1, 4, 5'000, 52, 16, u64{1} << 48},
                      DifferentialCase{Granule::k4, 52, kNo52, 2, 16, 5'000, 52, 1, kTop},
                      DifferentialCase{Granule::k16, 51, kAll52, 2, 8, 5'000, 52, 16, u64{1} << 47},
                      DifferentialCase{Granule::k16, 52, kNo52, 2, 8, 5'000, 52, 16, kTop},
                      DifferentialCase{Granule::k64, 52, kAll52, 2, 4, 5'000, 52, 16, kTop}),
    [](const auto& param_info) {
      return std::to_string(granule_bytes(param_info.param.granule) >> 10) + "K_" +
             std::to_string(param_info.param.ipa_bits) + "bit_L" +
             std::to_string(param_info.param.block_level) + "blocks_" +
             (param_info.param.features.fwb ? "fwb_range" : "nofeatures") +
             (param_info.param.max_root_pages == 1 ? "_oneroot" : "") +
             (param_info.param.center == kTop ? "_top" : "");
    });

}  // namespace
}  // namespace s2pt
