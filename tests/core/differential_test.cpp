// The table against the plain reference model: random map / unmap / write-protect / relax over a
// window big enough for blocks, every lookup of the touched range checked after every step, the
// whole window and the table's own invariants checked periodically.
#include <gtest/gtest.h>

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
  u64 window_blocks;  // window size in level-2 blocks
};

// Short names in test listings instead of a byte dump.
void PrintTo(const DifferentialCase& c, std::ostream* os) {
  *os << (granule_bytes(c.granule) >> 10) << "K/" << c.ipa_bits << "-bit";
}

constexpr int kSteps = 10'000;
constexpr int kFullCheckEvery = 500;

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

::testing::AssertionResult agrees(Table& table, const test::ReferenceModel& model, IpaRange range) {
  for (u64 off = 0; off < range.size; off += model.page_bytes()) {
    const Ipa ipa = range.start + off;
    const Result<Translation> got = table.lookup(ipa);
    const auto want = model.lookup(ipa);
    const bool same = got.ok() == want.has_value() &&
                      (!want || (got->pa == want->pa && got->attrs == want->attrs));
    if (!same) return ::testing::AssertionFailure() << explain(ipa, got, want);
  }
  return ::testing::AssertionSuccess();
}

TEST_P(Differential, RandomOperationsAgreeWithTheReferenceModel) {
  const DifferentialCase c = GetParam();
  const Geometry g = test::make_geometry(c.granule, c.ipa_bits, 48);
  test::Rig rig(g, c.features, /*record=*/false);
  Table& table = rig.table();

  const u64 page = g.page_bytes();
  const u64 block = g.level_bytes(Level{2});
  // Straddle a level-1 boundary (or, where level 1 is the root, a root entry boundary).
  const u64 window = c.window_blocks * block;
  const Ipa window_start{g.level_bytes(Level{1}) - window / 2};
  test::ReferenceModel model(window_start, window, page);

  std::mt19937_64 rng(0x5eed0000 + static_cast<u64>(c.granule) * 100 + c.ipa_bits);
  auto pick = [&](u64 n) { return std::uniform_int_distribution<u64>(0, n - 1)(rng); };
  constexpr Perm kPerms[] = {Perm::read, Perm::rw, Perm::rx, Perm::rwx, Perm::write};
  constexpr MemType kMems[] = {MemType::normal_wb, MemType::normal_nc, MemType::device_ngnre};

  int mapped_ok = 0;
  int refused = 0;
  for (int step = 0; step < kSteps; ++step) {
    // Ranges aligned to a page, 16 pages or a block, 1 to 3 units long, inside the window.
    const u64 unit = std::array<u64, 3>{page, 16 * page, block}[pick(10) < 6   ? 0
                                                                : pick(10) < 7 ? 1
                                                                               : 2];
    const u64 size = unit * (1 + pick(3));
    const u64 slots = (window - size) / unit + 1;
    const IpaRange range{window_start + unit * pick(slots), size};
    const int kind = static_cast<int>(pick(10));
    SCOPED_TRACE("step " + std::to_string(step));

    if (kind < 5) {
      const Pa pa{(u64{1} << 32) + unit * pick(1024)};
      const Attrs attrs{.perm = kPerms[pick(5)], .mem = kMems[pick(3)]};
      const bool replace = pick(3) == 0;
      const MapFlags flags = (replace ? MapFlags::replace : MapFlags::none) |
                             (pick(8) == 0 ? MapFlags::no_blocks : MapFlags::none);
      const Progress p = table.map(range, pa, attrs, flags);
      if (!replace && model.any_mapped(range)) {
        ASSERT_EQ(p.status, Status::exists);
        ++refused;
      } else {
        ASSERT_TRUE(p.ok()) << describe(p.status);
        model.map(range, pa, attrs);
        ++mapped_ok;
      }
    } else if (kind < 7) {
      ASSERT_TRUE(table.unmap(range).ok());
      model.unmap(range);
    } else if (kind < 9) {
      ASSERT_TRUE(table.write_protect(range).ok());
      model.change_perm(range, Perm::write, Perm::none);
    } else {
      const Perm add = kPerms[pick(5)];
      ASSERT_TRUE(table.relax(range, add).ok());
      model.change_perm(range, Perm::none, add);
    }
    const IpaRange touched{range.start - (range.start > window_start ? page : 0),
                           range.size + page * (range.start > window_start ? 2 : 1)};
    ASSERT_TRUE(
        agrees(table, model,
               {touched.start, std::min(touched.size, window_start + window - touched.start)}));
    if (step % kFullCheckEvery == kFullCheckEvery - 1) {
      ASSERT_TRUE(agrees(table, model, {window_start, window}));
      const test::AuditReport report = test::audit(table);
      ASSERT_TRUE(report.clean()) << report.summary();
    }
  }
  // Both outcomes of map were exercised.
  EXPECT_GT(mapped_ok, kSteps / 10);
  EXPECT_GT(refused, kSteps / 50);

  ASSERT_TRUE(table.unmap({window_start, window}).ok());
  EXPECT_EQ(table.stats().table_pages, g.root_pages()) << "empty tables left after unmapping all";
  table.destroy();
  EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    EachGranule, Differential,
    ::testing::Values(DifferentialCase{Granule::k4, 40, test::kAllFeatures, 16},
                      DifferentialCase{Granule::k4, 36, test::kNoFeatures, 16},
                      DifferentialCase{Granule::k16, 40, test::kAllFeatures, 8},
                      DifferentialCase{Granule::k16, 47, test::kNoFeatures, 8},
                      DifferentialCase{Granule::k64, 48, test::kAllFeatures, 4},
                      DifferentialCase{Granule::k64, 44, test::kNoFeatures, 4}),
    [](const auto& param_info) {
      return std::to_string(granule_bytes(param_info.param.granule) >> 10) + "K_" +
             std::to_string(param_info.param.ipa_bits) + "bit_" +
             (param_info.param.features.fwb ? "fwb_range" : "nofeatures");
    });

}  // namespace
}  // namespace s2pt
