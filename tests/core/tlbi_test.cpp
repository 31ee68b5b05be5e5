#include <gtest/gtest.h>

#include <vector>

#include "s2pt/tlbi_plan.hpp"

namespace s2pt {
namespace {

TEST(TlbiOperand, IpaFormShiftsBy12WithTtlInBits47To44) {
  EXPECT_EQ(tlbi::ipa_operand(Ipa{0x8000'0000}, Granule::k4, LevelHint::none()), 0x8'0000ull);
  // TTL 0b0111: 4K granule, level 3.
  EXPECT_EQ(tlbi::ipa_operand(Ipa{0x8000'0000}, Granule::k4, LevelHint::at(Level{3})),
            0x0000'7000'0008'0000ull);
  // TTL 0b1110: 64K granule, level 2; the IPA is still shifted by 12.
  EXPECT_EQ(tlbi::ipa_operand(Ipa{0x2000'0000}, Granule::k64, LevelHint::at(Level{2})),
            0x0000'E000'0002'0000ull);
  // Level 0 holds leaves only in 4K tables with LPA2 (512 GiB blocks): TTL 0b0100. No other
  // granule has a TTL encoding for it, and nothing at all is hinted at level -1.
  EXPECT_EQ(tlbi::ipa_operand(Ipa{0x80'0000'0000}, Granule::k4, LevelHint::at(Level{0})),
            0x0000'4000'0800'0000ull);
  EXPECT_EQ(tlbi::ipa_operand(Ipa{0x80'0000'0000}, Granule::k16, LevelHint::at(Level{0})),
            0x0800'0000ull);
  EXPECT_FALSE(LevelHint::at(Level{-1}).known());
  // IPA[51:12] in bits [39:0].
  EXPECT_EQ(tlbi::ipa_operand(Ipa{0x000F'0000'0000'1000}, Granule::k4, LevelHint::none()),
            0xF0'0000'0001ull);
}

TEST(TlbiOperand, RangeFormFields) {
  // 512 pages of 4K from IPA 0: TG=1, SCALE=1, NUM=7.
  const tlbi::RangeOperand r{.granule = Granule::k4, .scale = 1, .num = 7, .base_page = 0};
  EXPECT_EQ(tlbi::range_operand(r), 0x0000'5380'0000'0000ull);
  EXPECT_EQ(r.pages(), 512u);
  EXPECT_EQ(tlbi::decode_range(tlbi::range_operand(r)), r);
  EXPECT_EQ(tlbi::range_pages(3, 31), u64{1} << 21);
  EXPECT_EQ(tlbi::range_pages(0, 0), 2u);
}

TEST(TlbiOperand, DecodingAWrongGranuleDropsTheHint) {
  const u64 op = tlbi::ipa_operand(Ipa{0x1000}, Granule::k16, LevelHint::at(Level{3}));
  EXPECT_FALSE(tlbi::decode_ipa(op, Granule::k4).hint.known());
  EXPECT_EQ(tlbi::decode_ipa(op, Granule::k16).hint, LevelHint::at(Level{3}));
}

std::vector<TlbiInstr> plan(const Geometry& g, Features f, InvalidationScope scope,
                            PlannerLimits limits = {}) {
  std::vector<TlbiInstr> out;
  TlbiPlanner(g, f, limits).for_each(scope, [&](TlbiInstr i) { out.push_back(i); });
  return out;
}

const Geometry k4 = Geometry::make(Granule::k4, 48, 48).value();
constexpr Features kRange{.tlbi_range = true, .ttl = true};

TEST(TlbiPlanner, OneGibibyteIsOneRangeOp) {
  const auto ops =
      plan(k4, kRange, {.range = {Ipa{1ull << 30}, 1ull << 30}, .tables_removed = true});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op, TlbiOp::ripas2e1is);
  const tlbi::RangeOperand r = tlbi::decode_range(ops[0].operand);
  EXPECT_EQ(r.start(), Ipa{1ull << 30});
  EXPECT_EQ(r.bytes(), 1ull << 30);
  EXPECT_FALSE(r.hint.known()) << "tables removed: level unknown";
}

TEST(TlbiPlanner, ExactlyTheMaximumIsClampedNotWrapped) {
  const u64 bytes = tlbi::kMaxRangePages << 12;
  const auto ops = plan(k4, kRange, {.range = {Ipa{0}, bytes}, .tables_removed = true});
  ASSERT_EQ(ops.size(), 1u);
  const tlbi::RangeOperand r = tlbi::decode_range(ops[0].operand);
  EXPECT_EQ(r.scale, 3u);
  EXPECT_EQ(r.num, 31u);
  EXPECT_EQ(r.pages(), tlbi::kMaxRangePages);
}

TEST(TlbiPlanner, OddPageCountTakesOneSinglePageOp) {
  const auto ops =
      plan(k4, kRange, {.range = {Ipa{0x1000}, 3 * u64{0x1000}}, .tables_removed = true});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].op, TlbiOp::ipas2e1is);
  EXPECT_EQ(tlbi::decode_ipa(ops[0].operand, Granule::k4).ipa, Ipa{0x1000});
  EXPECT_EQ(ops[1].op, TlbiOp::ripas2e1is);
  EXPECT_EQ(tlbi::decode_range(ops[1].operand).start(), Ipa{0x2000});
  EXPECT_EQ(tlbi::decode_range(ops[1].operand).pages(), 2u);
}

TEST(TlbiPlanner, LeafOnlyAndHintOnlyWhenCertain) {
  const auto leaves =
      plan(k4, kRange,
           {.range = {Ipa{0}, 64 << 12}, .leaf_level = LevelHint::at(Level{3}), .leaf_only = true});
  ASSERT_EQ(leaves.size(), 1u);
  EXPECT_EQ(leaves[0].op, TlbiOp::ripas2le1is);
  EXPECT_EQ(tlbi::decode_range(leaves[0].operand).hint, LevelHint::at(Level{3}));

  const auto no_ttl = plan(k4, Features{.tlbi_range = true},
                           {.range = {Ipa{0}, 64 << 12}, .leaf_level = LevelHint::at(Level{3})});
  EXPECT_FALSE(tlbi::decode_range(no_ttl[0].operand).hint.known()) << "no FEAT_TTL";
}

TEST(TlbiPlanner, OneBlockIsOneHintedIpaOp) {
  const auto ops = plan(
      k4, kRange, {.range = {Ipa{2ull << 20}, 2ull << 20}, .leaf_level = LevelHint::at(Level{2})});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op, TlbiOp::ipas2e1is);
  EXPECT_EQ(tlbi::decode_ipa(ops[0].operand, Granule::k4).hint, LevelHint::at(Level{2}));
}

TEST(TlbiPlanner, WithoutRangePerPageUpToTheThresholdThenWholeVmid) {
  const PlannerLimits limits{.max_ipa_ops = 8};
  const auto few =
      plan(k4, Features{}, {.range = {Ipa{0}, 8 << 12}, .tables_removed = true}, limits);
  ASSERT_EQ(few.size(), 8u);
  for (std::size_t i = 0; i < few.size(); ++i) {
    EXPECT_EQ(few[i].op, TlbiOp::ipas2e1is);
    EXPECT_EQ(tlbi::decode_ipa(few[i].operand, Granule::k4).ipa, Ipa{i << 12});
  }
  const auto many =
      plan(k4, Features{}, {.range = {Ipa{0}, 9 << 12}, .tables_removed = true}, limits);
  ASSERT_EQ(many.size(), 1u);
  EXPECT_EQ(many[0].op, TlbiOp::vmalls12e1is);
}

TEST(TlbiPlanner, TooManyRangeOpsBecomeWholeVmid) {
  const PlannerLimits limits{.max_range_ops = 2};
  // 2^21 + 2^21 + 3 pages: 2 maximal ops, one single, one SCALE-0 op = 4 > 2.
  const u64 pages = 2 * tlbi::kMaxRangePages + 3;
  const auto ops =
      plan(k4, kRange, {.range = {Ipa{0}, pages << 12}, .tables_removed = true}, limits);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op, TlbiOp::vmalls12e1is);
  EXPECT_EQ(TlbiPlanner::range_ops_for(pages), 4u);
}

TEST(TlbiPlanner, EmptyTablesNeedOneOpForTheirWalkCacheEntries) {
  const auto ops =
      plan(k4, Features{},
           {.range = {Ipa{1ull << 30}, 1ull << 30}, .tables_removed = true, .empty_tables = true});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op, TlbiOp::ipas2e1is);
  EXPECT_FALSE(tlbi::decode_ipa(ops[0].operand, Granule::k4).hint.known());
}

}  // namespace
}  // namespace s2pt
