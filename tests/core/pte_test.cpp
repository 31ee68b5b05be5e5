#include "s2pt/pte.hpp"

#include <gtest/gtest.h>

namespace s2pt {
namespace {

constexpr MemAttrFormat kFormats[] = {MemAttrFormat::classic, MemAttrFormat::fwb};
constexpr MemType kMemTypes[] = {MemType::normal_wb, MemType::normal_nc, MemType::device_ngnre,
                                 MemType::device_ngnrne};
constexpr Shareability kShares[] = {Shareability::non, Shareability::outer, Shareability::inner};

TEST(Pte, EveryAttributeRoundTripsInBothFormats) {
  const Pa out{0x0000'1234'5678'9000};
  int checked = 0;
  for (MemAttrFormat f : kFormats) {
    for (u8 perm = 0; perm <= kPermMask; ++perm) {
      for (MemType mem : kMemTypes) {
        for (Shareability sh : kShares) {
          for (bool af : {false, true}) {
            for (u8 sw : {u8{0}, u8{5}, u8{15}}) {
              const Attrs a{.perm = Perm(perm), .mem = mem, .sh = sh, .af = af, .sw = sw};
              for (Level level : {Level{1}, Level{2}, Level{3}}) {
                const Pte p = Pte::leaf(out, a, f, level);
                ASSERT_TRUE(p.is_leaf(level));
                ASSERT_FALSE(p.is_table(level));
                ASSERT_EQ(p.output_address(), out);
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
  EXPECT_EQ(checked, 2 * 8 * 4 * 3 * 2 * 3 * 3);
}

TEST(Pte, KnownEncodings) {
  // Normal-WB, read/write, not executable, inner shareable, AF, page at level 3.
  const Attrs rw = Attrs::normal(Perm::rw);
  EXPECT_EQ(Pte::page(Pa{0x1234000}, rw, MemAttrFormat::classic).raw(), 0x0040'0000'0123'47FFull);
  // The same with FWB: MemAttr 0b0110 (force Normal-WB) instead of 0b1111.
  EXPECT_EQ(Pte::page(Pa{0x1234000}, rw, MemAttrFormat::fwb).raw(), 0x0040'0000'0123'47DBull);
  // A 2 MiB block has bit 1 clear.
  EXPECT_EQ(Pte::block(Pa{0x4020'0000}, rw, MemAttrFormat::classic).raw(),
            0x0040'0000'4020'07FDull);
  // Device-nGnRE, executable (XN clear), read only.
  EXPECT_EQ(Pte::page(Pa{0x9000000}, Attrs::device(Perm::rx), MemAttrFormat::classic).raw(),
            0x0000'0000'0900'0747ull);
  EXPECT_EQ(Pte::table(Pa{0x8000'1000}).raw(), 0x8000'1003ull);
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
  const Pte page = Pte::page(Pa{0x1000}, Attrs::normal(Perm::rw), MemAttrFormat::classic);
  EXPECT_FALSE(page.is_annotated());
  EXPECT_EQ(page.owner(), OwnerId{});
}

TEST(Pte, LastLevelBit1ClearIsReserved) {
  const Pte block = Pte::block(Pa{0x20'0000}, Attrs::normal(Perm::rw), MemAttrFormat::classic);
  EXPECT_TRUE(block.is_leaf(Level{2}));
  EXPECT_FALSE(block.is_leaf(Level{3}));
  EXPECT_FALSE(block.is_table(Level{3}));
  EXPECT_FALSE(Pte::table(Pa{0x1000}).is_table(Level{3})) << "level 3 has no tables";
  EXPECT_TRUE(Pte::table(Pa{0x1000}).is_leaf(Level{3})) << "same bits are a page at level 3";
}

TEST(Pte, BreakBeforeMakeIsNeededExactlyForTheArchitecturalCases) {
  const MemAttrFormat f = MemAttrFormat::classic;
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
  EXPECT_TRUE(needs_break_before_make(rw, rw.with_output(Pa{0x2000}), l3));
  EXPECT_TRUE(needs_break_before_make(rw, Pte::page(Pa{0x1000}, Attrs::device(Perm::rw), f), l3));
  EXPECT_TRUE(
      needs_break_before_make(rw, Pte::page(Pa{0x1000}, Attrs{.sh = Shareability::outer}, f), l3));
  EXPECT_TRUE(needs_break_before_make(rw, Pte::page(Pa{0x1000}, Attrs{.contiguous = true}, f), l3));
  const Pte block = Pte::block(Pa{0x20'0000}, Attrs::normal(Perm::rw), f);
  EXPECT_TRUE(needs_break_before_make(block, Pte::table(Pa{0x5000}), l2));
  EXPECT_TRUE(needs_break_before_make(Pte::table(Pa{0x5000}), block, l2));
  EXPECT_TRUE(needs_break_before_make(Pte::table(Pa{0x5000}), Pte::table(Pa{0x6000}), l2));
  EXPECT_FALSE(needs_break_before_make(Pte::table(Pa{0x5000}), Pte::table(Pa{0x5000}), l2));
}

TEST(Pte, SplittingABlockKeepsAttributes) {
  const Attrs a{.perm = Perm::rx, .mem = MemType::normal_nc, .sh = Shareability::outer, .sw = 3};
  const Pte block = Pte::block(Pa{0x4000'0000}, a, MemAttrFormat::fwb);
  const Pte page = block.as_leaf_at(Level{3}, Pa{0x4000'5000});
  EXPECT_TRUE(page.is_leaf(Level{3}));
  EXPECT_EQ(page.output_address(), Pa{0x4000'5000});
  EXPECT_EQ(page.attrs(MemAttrFormat::fwb).value(), a);
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
