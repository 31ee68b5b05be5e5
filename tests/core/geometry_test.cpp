#include "s2pt/geometry.hpp"

#include <gtest/gtest.h>

#include <ostream>

namespace s2pt {
namespace {

struct GeometryCase {
  Granule granule;
  unsigned ipa_bits;
  unsigned levels;
  int start_level;
  unsigned root_pages;
  u64 sl0;
  u64 tg0;
};

// Short names in test listings instead of a byte dump.
void PrintTo(const GeometryCase& c, std::ostream* os) {
  *os << (granule_bytes(c.granule) >> 10) << "K/" << c.ipa_bits << "-bit";
}

// Derived by hand from the Arm ARM rules (D8.2, "Concatenated translation tables"): the start
// level is the lowest that resolves the IPA with at most 16 concatenated root tables, keeping at
// least two levels.
constexpr GeometryCase kCases[] = {
    {Granule::k4, 32, 2, 2, 4, 0, 0},   {Granule::k4, 36, 3, 1, 1, 1, 0},
    {Granule::k4, 40, 3, 1, 2, 1, 0},   {Granule::k4, 42, 3, 1, 8, 1, 0},
    {Granule::k4, 44, 4, 0, 1, 2, 0},   {Granule::k4, 48, 4, 0, 1, 2, 0},
    {Granule::k16, 32, 2, 2, 1, 1, 2},  {Granule::k16, 36, 2, 2, 1, 1, 2},
    {Granule::k16, 40, 2, 2, 16, 1, 2}, {Granule::k16, 42, 3, 1, 1, 2, 2},
    {Granule::k16, 44, 3, 1, 1, 2, 2},  {Granule::k16, 48, 3, 1, 2, 2, 2},
    {Granule::k64, 32, 2, 2, 1, 1, 1},  {Granule::k64, 36, 2, 2, 1, 1, 1},
    {Granule::k64, 40, 2, 2, 1, 1, 1},  {Granule::k64, 42, 2, 2, 1, 1, 1},
    {Granule::k64, 44, 2, 2, 4, 1, 1},  {Granule::k64, 48, 3, 1, 1, 2, 1},
};

class GeometryTable : public ::testing::TestWithParam<GeometryCase> {};

TEST_P(GeometryTable, LevelsStartLevelRootAndVtcr) {
  const GeometryCase c = GetParam();
  const Result<Geometry> r = Geometry::make(c.granule, c.ipa_bits, 48);
  ASSERT_TRUE(r.ok()) << describe(r.status());
  const Geometry& g = r.value();
  EXPECT_EQ(g.levels(), c.levels);
  EXPECT_EQ(g.start_level(), Level{c.start_level});
  EXPECT_EQ(g.root_pages(), c.root_pages);
  // The root resolves exactly the IPA bits the lower levels leave.
  EXPECT_EQ(g.root_entries() * g.level_bytes(g.start_level()), g.ipa_limit());
  EXPECT_EQ(g.root_bytes(), c.root_pages * granule_bytes(c.granule));

  const u64 vtcr = g.vtcr();
  EXPECT_EQ(vtcr & 0x3F, 64u - c.ipa_bits) << "T0SZ";
  EXPECT_EQ((vtcr >> 6) & 3, c.sl0) << "SL0";
  EXPECT_EQ((vtcr >> 8) & 3, 1u) << "IRGN0 write-back";
  EXPECT_EQ((vtcr >> 10) & 3, 1u) << "ORGN0 write-back";
  EXPECT_EQ((vtcr >> 12) & 3, 3u) << "SH0 inner shareable";
  EXPECT_EQ((vtcr >> 14) & 3, c.tg0) << "TG0";
  EXPECT_EQ((vtcr >> 16) & 7, 5u) << "PS 48 bits";
  EXPECT_EQ((vtcr >> 19) & 1, 1u) << "VS 16-bit VMID";
  EXPECT_EQ((vtcr >> 31) & 1, 1u) << "RES1";
}

INSTANTIATE_TEST_SUITE_P(EveryGranuleAndIpaSize, GeometryTable, ::testing::ValuesIn(kCases),
                         [](const auto& param_info) {
                           return std::to_string(granule_bytes(param_info.param.granule) >> 10) +
                                  "K_" + std::to_string(param_info.param.ipa_bits) + "bit";
                         });

TEST(Geometry, PsFollowsPaSizeAndVmidWidth) {
  constexpr std::pair<unsigned, u64> kPs[] = {{32, 0}, {36, 1}, {40, 2}, {42, 3}, {44, 4}, {48, 5}};
  for (auto [pa_bits, ps] : kPs) {
    const Result<Geometry> g = Geometry::make(Granule::k4, 32, pa_bits, 8);
    ASSERT_TRUE(g.ok());
    EXPECT_EQ((g->vtcr() >> 16) & 7, ps) << pa_bits;
    EXPECT_EQ((g->vtcr() >> 19) & 1, 0u) << "8-bit VMID";
  }
}

TEST(Geometry, RefusesImpossibleCombinations) {
  EXPECT_EQ(Geometry::make(Granule::k4, 44, 40).status(), Status::bad_geometry) << "IPA > PA";
  EXPECT_EQ(Geometry::make(Granule::k64, 48, 42).status(), Status::bad_geometry) << "IPA > PA";
  EXPECT_EQ(Geometry::make(Granule::k4, 31, 40).status(), Status::bad_geometry) << "IPA < 32";
  EXPECT_EQ(Geometry::make(Granule::k4, 40, 39).status(), Status::bad_geometry)
      << "PA not a PARange";
  EXPECT_EQ(Geometry::make(Granule::k4, 49, 48).status(), Status::bad_geometry);
  EXPECT_EQ(Geometry::make(Granule::k4, 53, 52).status(), Status::bad_geometry) << "IPA > 52";
  EXPECT_EQ(Geometry::make(Granule::k4, 40, 40, 12).status(), Status::bad_geometry) << "VMID";
  EXPECT_EQ(Geometry::make(Granule(13), 40, 40).status(), Status::bad_geometry) << "granule";
  for (unsigned roots : {0u, 3u, 32u}) {
    EXPECT_EQ(Geometry::make(Granule::k4, 40, 40, 16, roots).status(), Status::bad_geometry)
        << roots << " root pages";
  }
  // Without concatenation, 40 bits of 16K need level 0, which only DS (52-bit PA) can encode;
  // 4K beyond 48 bits with one root page needs level -1, the same.
  EXPECT_EQ(Geometry::make(Granule::k16, 40, 48, 16, 1).status(), Status::ok);
  EXPECT_EQ(Geometry::make(Granule::k16, 48, 48, 16, 1).status(), Status::bad_geometry);
  EXPECT_EQ(Geometry::make(Granule::k16, 48, 52, 16, 1)->start_level(), Level{0});
}

// 52-bit geometries (FEAT_LPA2 for 4K and 16K, FEAT_LPA for 64K), each with its whole VTCR_EL2
// value worked out by hand from the field layout: T0SZ 12 (52 bits), IRGN0/ORGN0 write-back,
// SH0 inner, PS 6 (52 bits), VS, RES1, plus SL0/SL2/TG0/DS per case.
struct Geometry52Case {
  Granule granule;
  unsigned ipa_bits;
  unsigned max_root_pages;
  int start_level;
  unsigned root_pages;
  u64 root_entries;
  OaLayout layout;
  u64 vtcr;
};

void PrintTo(const Geometry52Case& c, std::ostream* os) {
  *os << (granule_bytes(c.granule) >> 10) << "K/" << c.ipa_bits << "-bit/" << c.max_root_pages;
}

constexpr Geometry52Case k52Cases[] = {
    // 4K: 16 concatenated level-0 pages (SL0 2), or one level -1 page of 16 entries (SL2 1).
    {Granule::k4, 52, 16, 0, 16, 8192, OaLayout::lpa2, 0x1'800E'358C},
    {Granule::k4, 52, 1, -1, 1, 16, OaLayout::lpa2, 0x3'800E'350C},
    {Granule::k4, 49, 16, 0, 2, 1024, OaLayout::lpa2, 0x1'800E'358F},
    {Granule::k4, 48, 16, 0, 1, 512, OaLayout::lpa2, 0x1'800E'3590},
    // 16K: level 0 with 32 entries (SL0 3), no concatenation fits; 51 bits: 16 level-1 pages.
    {Granule::k16, 52, 16, 0, 1, 32, OaLayout::lpa2, 0x1'800E'B5CC},
    {Granule::k16, 51, 16, 1, 16, 32768, OaLayout::lpa2, 0x1'800E'B58D},
    // 64K: level 1 with 1024 entries (SL0 2); no DS, the LPA layout.
    {Granule::k64, 52, 16, 1, 1, 1024, OaLayout::lpa, 0x800E'758C},
};

class Geometry52Table : public ::testing::TestWithParam<Geometry52Case> {};

TEST_P(Geometry52Table, StartLevelRootLayoutAndExactVtcr) {
  const Geometry52Case c = GetParam();
  const Result<Geometry> r = Geometry::make(c.granule, c.ipa_bits, 52, 16, c.max_root_pages);
  ASSERT_TRUE(r.ok()) << describe(r.status());
  const Geometry& g = r.value();
  EXPECT_EQ(g.start_level(), Level{c.start_level});
  EXPECT_EQ(g.root_pages(), c.root_pages);
  EXPECT_EQ(g.root_entries(), c.root_entries);
  EXPECT_EQ(g.root_entries() * g.level_bytes(g.start_level()), g.ipa_limit());
  EXPECT_EQ(g.oa_layout(), c.layout);
  EXPECT_EQ(g.vtcr(), c.vtcr) << std::hex << g.vtcr();
}

INSTANTIATE_TEST_SUITE_P(FiftyTwoBit, Geometry52Table, ::testing::ValuesIn(k52Cases),
                         [](const auto& param_info) {
                           const Geometry52Case& c = param_info.param;
                           return std::to_string(granule_bytes(c.granule) >> 10) + "K_" +
                                  std::to_string(c.ipa_bits) + "bit_" +
                                  std::to_string(c.max_root_pages) + "roots";
                         });

TEST(Geometry, FiftyTwoBitLayoutsAllowBlocksOneLevelHigher) {
  const Geometry g4 = Geometry::make(Granule::k4, 52, 52).value();
  EXPECT_TRUE(g4.block_allowed(Level{0})) << "512 GiB";
  EXPECT_EQ(g4.level_bytes(Level{0}), u64{1} << 39);
  const Geometry g4_deep = Geometry::make(Granule::k4, 52, 52, 16, 1).value();
  EXPECT_FALSE(g4_deep.block_allowed(Level{-1}));
  EXPECT_EQ(g4_deep.level_bytes(Level{-1}), u64{1} << 48);
  EXPECT_EQ(g4_deep.index(Ipa{(u64{1} << 52) - 1}, Level{-1}), 15u);
  const Geometry g16 = Geometry::make(Granule::k16, 52, 52).value();
  EXPECT_FALSE(g16.block_allowed(Level{0}));
  EXPECT_TRUE(g16.block_allowed(Level{1})) << "64 GiB";
  EXPECT_EQ(g16.level_bytes(Level{1}), u64{64} << 30);
  const Geometry g64 = Geometry::make(Granule::k64, 52, 52).value();
  EXPECT_TRUE(g64.block_allowed(Level{1})) << "4 TiB";
  EXPECT_EQ(g64.level_bytes(Level{1}), u64{4} << 40);
  EXPECT_FALSE(Geometry::make(Granule::k64, 48, 48)->block_allowed(Level{1}));
}

TEST(Geometry, BlocksOnlyWhereTheGranuleAllowsThem) {
  const Geometry g4 = Geometry::make(Granule::k4, 48, 48).value();
  EXPECT_FALSE(g4.block_allowed(Level{0}));
  EXPECT_TRUE(g4.block_allowed(Level{1}));
  EXPECT_TRUE(g4.block_allowed(Level{2}));
  EXPECT_FALSE(g4.block_allowed(Level{3}));
  EXPECT_TRUE(g4.leaf_allowed(Level{3}));
  EXPECT_EQ(g4.level_bytes(Level{1}), u64{1} << 30);
  EXPECT_EQ(g4.level_bytes(Level{0}), u64{1} << 39);

  const Geometry g4_small = Geometry::make(Granule::k4, 32, 32).value();
  EXPECT_FALSE(g4_small.block_allowed(Level{1})) << "level 1 does not exist from a level-2 start";
  EXPECT_TRUE(g4_small.block_allowed(Level{2}));

  for (Granule gr : {Granule::k16, Granule::k64}) {
    const Geometry g = Geometry::make(gr, 48, 48).value();
    EXPECT_FALSE(g.block_allowed(Level{1}));
    EXPECT_TRUE(g.block_allowed(Level{2}));
  }
  EXPECT_EQ(Geometry::make(Granule::k16, 48, 48)->level_bytes(Level{2}), u64{32} << 20);
  EXPECT_EQ(Geometry::make(Granule::k64, 48, 48)->level_bytes(Level{2}), u64{512} << 20);
}

TEST(Geometry, RootIndexSpansConcatenatedPages) {
  // 4K, 40 bits: two level-1 root pages; IPA 512 GiB is the first entry of the second page.
  const Geometry g = Geometry::make(Granule::k4, 40, 40).value();
  EXPECT_EQ(g.index(Ipa{u64{512} << 30}, Level{1}), 512u);
  EXPECT_EQ(g.index(Ipa{(u64{1} << 40) - 1}, Level{1}), 1023u);
  EXPECT_EQ(g.index(Ipa{(u64{1} << 40) - 1}, Level{3}), 511u);
}

}  // namespace
}  // namespace s2pt
