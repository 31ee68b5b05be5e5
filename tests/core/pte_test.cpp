#include "s2pt/pte.hpp"

#include <gtest/gtest.h>

namespace s2pt {
namespace {

constexpr DescriptorFormat kClassic{MemAttrFormat::classic, OaLayout::bits48};
constexpr DescriptorFormat kFwb{MemAttrFormat::fwb, OaLayout::bits48};
constexpr MemType kMemTypes[] = {MemType::normal_wb, MemType::normal_nc, MemType::device_ngnre,
                                 MemType::device_ngnrne};
constexpr Shareability kShares[] = {Shareability::non, Shareability::outer, Shareability::inner};

// Every layout with an output address that uses its top bits: 48 bits, and 52 bits with LPA2 (4K,
// 16K) and LPA (64K, addresses 64 KiB aligned).
struct LayoutCase {
  OaLayout layout;
  Pa out;
};
constexpr LayoutCase kLayouts[] = {
    {OaLayout::bits48, Pa{0x0000'F234'5678'9000}},
    {OaLayout::lpa2, Pa{0x000F'F234'5678'9000}},
    {OaLayout::lpa, Pa{0x000F'F234'5678'0000}},
};

TEST(Pte, EveryAttributeRoundTripsInEveryFormat) {
  int checked = 0;
  for (const LayoutCase& layout : kLayouts) {
    for (MemAttrFormat memattr : {MemAttrFormat::classic, MemAttrFormat::fwb}) {
      const DescriptorFormat f{memattr, layout.layout};
      for (u8 perm = 0; perm <= kPermMask; ++perm) {
        for (MemType mem : kMemTypes) {
          for (Shareability sh : kShares) {
            // With LPA2 the shareability is VTCR_EL2.SH0's (inner): no descriptor holds another.
            if (layout.layout == OaLayout::lpa2 && sh != Shareability::inner) continue;
            for (bool af : {false, true}) {
              for (u8 sw : {u8{0}, u8{5}, u8{15}}) {
                const Attrs a{.perm = Perm(perm), .mem = mem, .sh = sh, .af = af, .sw = sw};
                for (Level level : {Level{1}, Level{2}, Level{3}}) {
                  const Pte p = Pte::leaf(layout.out, a, f, level);
                  ASSERT_TRUE(p.is_leaf(level));
                  ASSERT_FALSE(p.is_table(level));
                  ASSERT_EQ(p.output_address(layout.layout), layout.out);
                  const Result<Attrs> back = p.attrs(f);
                  ASSERT_TRUE(back.ok());
                  ASSERT_EQ(back.value(), a);
                  ++checked;
                }
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, (3 + 3 + 1) * 2 * 8 * 4 * 2 * 3 * 3);
}

// The 52-bit layouts put the top address bits where the architecture says (Arm ARM D8.3): LPA2
// OA[51:50] in bits [9:8] (SH's place), LPA OA[51:48] in bits [15:12]; table descriptors too.
TEST(Pte, FiftyTwoBitAddressesSitWhereTheLayoutSays) {
  const Attrs rw = Attrs::normal(Perm::rw);
  const Pa high{0x000C'0000'0000'0000};  // OA[51:50] = 0b11
  EXPECT_EQ(Pte::page(high, rw, DescriptorFormat{MemAttrFormat::fwb, OaLayout::lpa2}).raw(),
            0x0040'0000'0000'07DBull)
      << "bits [9:8] = OA[51:50], no SH";
  EXPECT_EQ(Pte::table(Pa{0x0006'0000'0000'4000}, OaLayout::lpa2).raw(), 0x0002'0000'0000'4103ull);
  EXPECT_EQ(Pte::table(Pa{0x000A'0000'0001'0000}, OaLayout::lpa).raw(), 0x0000'0000'0001'A003ull);
  EXPECT_EQ(Pte::table(Pa{0x000A'0000'0001'0000}, OaLayout::lpa).table_address(OaLayout::lpa),
            (Pa{0x000A'0000'0001'0000}));
  // Splitting a block carries the attributes, not the old address bits.
  const DescriptorFormat lpa2{MemAttrFormat::classic, OaLayout::lpa2};
  const Pte block = Pte::block(Pa{0x0004'0000'4000'0000}, rw, lpa2);
  const Pte page = block.as_leaf_at(Level{3}, Pa{0x0008'0000'4000'5000}, OaLayout::lpa2);
  EXPECT_EQ(page.output_address(OaLayout::lpa2), (Pa{0x0008'0000'4000'5000}));
  EXPECT_EQ(page.attrs(lpa2).value(), rw);
  // An address change in the top bits alone needs break-before-make.
  EXPECT_TRUE(
      needs_break_before_make(block, Pte::block(Pa{0x0008'0000'4000'0000}, rw, lpa2), Level{2}));
}

TEST(Pte, KnownEncodings) {
  // Normal-WB, read/write, not executable, inner shareable, AF, page at level 3.
  const Attrs rw = Attrs::normal(Perm::rw);
  EXPECT_EQ(Pte::page(Pa{0x1234000}, rw, kClassic).raw(), 0x0040'0000'0123'47FFull);
  // The same with FWB: MemAttr 0b0110 (force Normal-WB) instead of 0b1111.
  EXPECT_EQ(Pte::page(Pa{0x1234000}, rw, kFwb).raw(), 0x0040'0000'0123'47DBull);
  // A 2 MiB block has bit 1 clear.
  EXPECT_EQ(Pte::block(Pa{0x4020'0000}, rw, kClassic).raw(), 0x0040'0000'4020'07FDull);
  // Device-nGnRE, executable (XN clear), read only.
  EXPECT_EQ(Pte::page(Pa{0x9000000}, Attrs::device(Perm::rx), kClassic).raw(),
            0x0000'0000'0900'0747ull);
  EXPECT_EQ(Pte::table(Pa{0x8000'1000}, OaLayout::bits48).raw(), 0x8000'1003ull);
}

TEST(Pte, MemAttrEncodingsDifferByFormat) {
  EXPECT_EQ(encode_memattr(MemType::normal_wb, MemAttrFormat::classic), 0xFu);
  EXPECT_EQ(encode_memattr(MemType::normal_nc, MemAttrFormat::classic), 0x5u);
  EXPECT_EQ(encode_memattr(MemType::device_ngnre, MemAttrFormat::classic), 0x1u);
  EXPECT_EQ(encode_memattr(MemType::device_ngnrne, MemAttrFormat::classic), 0x0u);
  EXPECT_EQ(encode_memattr(MemType::normal_wb, MemAttrFormat::fwb), 0x6u);
  EXPECT_EQ(encode_memattr(MemType::normal_nc, MemAttrFormat::fwb), 0x5u);
  EXPECT_EQ(decode_memattr(0xF, MemAttrFormat::fwb).status(), Status::bad_attributes);
  EXPECT_EQ(decode_memattr(0x6, MemAttrFormat::classic).status(), Status::bad_attributes);
}

TEST(Pte, InvalidLockedAndAnnotatedEntries) {
  EXPECT_TRUE(Pte::invalid().is_zero());
  EXPECT_FALSE(Pte::locked().is_valid());
  EXPECT_TRUE(Pte::locked().is_locked());
  EXPECT_EQ(Pte::locked().owner(), OwnerId{});
  for (unsigned o = 1; o < 256; ++o) {
    const Pte p = Pte::owned_by(OwnerId{static_cast<u8>(o)});
    ASSERT_FALSE(p.is_valid());
    ASSERT_FALSE(p.is_locked());
    ASSERT_TRUE(p.is_annotated());
    ASSERT_EQ(p.owner().raw, o);
  }
  EXPECT_TRUE(Pte::owned_by(OwnerId{0}).is_zero());
  const Pte page = Pte::page(Pa{0x1000}, Attrs::normal(Perm::rw), kClassic);
  EXPECT_FALSE(page.is_annotated());
  EXPECT_EQ(page.owner(), OwnerId{});
}

TEST(Pte, LastLevelBit1ClearIsReserved) {
  const Pte block = Pte::block(Pa{0x20'0000}, Attrs::normal(Perm::rw), kClassic);
  EXPECT_TRUE(block.is_leaf(Level{2}));
  EXPECT_FALSE(block.is_leaf(Level{3}));
  EXPECT_FALSE(block.is_table(Level{3}));
  EXPECT_FALSE(Pte::table(Pa{0x1000}, OaLayout::bits48).is_table(Level{3}))
      << "level 3 has no tables";
  EXPECT_TRUE(Pte::table(Pa{0x1000}, OaLayout::bits48).is_leaf(Level{3}))
      << "same bits are a page at level 3";
}

TEST(Pte, BreakBeforeMakeIsNeededExactlyForTheArchitecturalCases) {
  const DescriptorFormat f = kClassic;
  const Level l3{3};
  const Level l2{2};
  const Pte rw = Pte::page(Pa{0x1000}, Attrs::normal(Perm::rw), f);
  // No BBM: permissions, access flag, software bits, making or breaking a mapping.
  EXPECT_FALSE(needs_break_before_make(rw, rw.with_perm(Perm::read), l3));
  EXPECT_FALSE(needs_break_before_make(rw, rw.with_perm(Perm::rwx), l3));
  EXPECT_FALSE(needs_break_before_make(rw, rw.with_af(false), l3));
  EXPECT_FALSE(needs_break_before_make(rw, Pte::page(Pa{0x1000}, Attrs{.sw = 9}, f), l3));
  EXPECT_FALSE(needs_break_before_make(Pte::invalid(), rw, l3));
  EXPECT_FALSE(needs_break_before_make(rw, Pte::invalid(), l3));
  EXPECT_FALSE(needs_break_before_make(Pte::owned_by(OwnerId{3}), rw, l3));
  // BBM: output address, memory type, shareability, contiguous hint, block <-> table.
  EXPECT_TRUE(needs_break_before_make(rw, Pte::page(Pa{0x2000}, Attrs::normal(Perm::rw), f), l3));
  EXPECT_TRUE(needs_break_before_make(rw, Pte::page(Pa{0x1000}, Attrs::device(Perm::rw), f), l3));
  EXPECT_TRUE(
      needs_break_before_make(rw, Pte::page(Pa{0x1000}, Attrs{.sh = Shareability::outer}, f), l3));
  EXPECT_TRUE(needs_break_before_make(rw, Pte::page(Pa{0x1000}, Attrs{.contiguous = true}, f), l3));
  const Pte block = Pte::block(Pa{0x20'0000}, Attrs::normal(Perm::rw), f);
  EXPECT_TRUE(needs_break_before_make(block, Pte::table(Pa{0x5000}, OaLayout::bits48), l2));
  EXPECT_TRUE(needs_break_before_make(Pte::table(Pa{0x5000}, OaLayout::bits48), block, l2));
  EXPECT_TRUE(needs_break_before_make(Pte::table(Pa{0x5000}, OaLayout::bits48),
                                      Pte::table(Pa{0x6000}, OaLayout::bits48), l2));
  EXPECT_FALSE(needs_break_before_make(Pte::table(Pa{0x5000}, OaLayout::bits48),
                                       Pte::table(Pa{0x5000}, OaLayout::bits48), l2));
}

TEST(Pte, SplittingABlockKeepsAttributes) {
  const Attrs a{.perm = Perm::rx, .mem = MemType::normal_nc, .sh = Shareability::outer, .sw = 3};
  const Pte block = Pte::block(Pa{0x4000'0000}, a, kFwb);
  const Pte page = block.as_leaf_at(Level{3}, Pa{0x4000'5000}, OaLayout::bits48);
  EXPECT_TRUE(page.is_leaf(Level{3}));
  EXPECT_EQ(page.output_address(OaLayout::bits48), Pa{0x4000'5000});
  EXPECT_EQ(page.attrs(kFwb).value(), a);
}

TEST(Attrs, WellFormedRejectsUnknownBits) {
  EXPECT_TRUE(Attrs{}.well_formed());
  EXPECT_FALSE(Attrs{.perm = Perm(8)}.well_formed());
  EXPECT_FALSE(Attrs{.mem = MemType(4)}.well_formed());
  EXPECT_FALSE(Attrs{.sh = Shareability(1)}.well_formed());
  EXPECT_FALSE(Attrs{.sw = 16}.well_formed());
}

}  // namespace
}  // namespace s2pt
