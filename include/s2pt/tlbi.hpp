// TLBI operand encodings for stage-2 maintenance, exactly as the architecture defines the Xt
// register (Arm ARM C5.5, "TLBI IPAS2E1IS", "TLBI RIPAS2E1IS"), and their decoders. The decoders
// serve the hardware model and the tests: a wrongly encoded operand decodes to what the hardware
// would really invalidate.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

enum class TlbiOp : u8 {
  ipas2e1is,     // stage-2 entries (leaf and walk cache) for one IPA, inner shareable
  ipas2le1is,    // the same, last-level (leaf) entries only
  ripas2e1is,    // stage-2 entries for an IPA range (FEAT_TLBIRANGE)
  ripas2le1is,   // the same, leaf entries only
  vmalle1is,     // stage-1 (and combined) entries of the current VMID
  vmalls12e1is,  // stage-1 and stage-2 entries of the current VMID
  // Non-shareable: this CPU's TLB only, complete at its next DSB NSH. For a change that only adds
  // permissions, where another CPU's stale entry can cause at most a spurious fault.
  ipas2e1,  // IPAS2E1IS's scope on this CPU
  vmalle1,  // VMALLE1IS's scope on this CPU
};

constexpr const char* name(TlbiOp op) {
  switch (op) {
    case TlbiOp::ipas2e1is:
      return "IPAS2E1IS";
    case TlbiOp::ipas2le1is:
      return "IPAS2LE1IS";
    case TlbiOp::ripas2e1is:
      return "RIPAS2E1IS";
    case TlbiOp::ripas2le1is:
      return "RIPAS2LE1IS";
    case TlbiOp::vmalle1is:
      return "VMALLE1IS";
    case TlbiOp::vmalls12e1is:
      return "VMALLS12E1IS";
    case TlbiOp::ipas2e1:
      return "IPAS2E1";
    case TlbiOp::vmalle1:
      return "VMALLE1";
  }
  return "?";
}
constexpr bool is_range(TlbiOp op) {
  return op == TlbiOp::ripas2e1is || op == TlbiOp::ripas2le1is;
}
constexpr bool is_by_ipa(TlbiOp op) {
  return op == TlbiOp::ipas2e1is || op == TlbiOp::ipas2le1is || op == TlbiOp::ipas2e1;
}
// Reaches only the issuing CPU (non-shareable).
constexpr bool is_local(TlbiOp op) {
  return op == TlbiOp::ipas2e1 || op == TlbiOp::vmalle1;
}
constexpr bool is_leaf_only(TlbiOp op) {
  return op == TlbiOp::ipas2le1is || op == TlbiOp::ripas2le1is;
}

// A translation-table-level hint: where the leaf entries being invalidated live, if known.
class LevelHint {
 public:
  static constexpr LevelHint none() { return LevelHint{kNone}; }
  // Leaves live at levels 0 to 3 (level 0 only in 4K tables with LPA2); nothing is hinted at
  // level -1, which holds tables only.
  static constexpr LevelHint at(Level level) {
    return level.value() >= 0 && level.value() <= 3 ? LevelHint{level.value()} : none();
  }
  // The level of a set of leaves that are all at one level; none() for mixed levels.
  static constexpr LevelHint of(LevelSet leaves) {
    return leaves.single() ? at(leaves.lowest()) : none();
  }
  constexpr bool known() const { return level_ != kNone; }
  constexpr Level level() const { return Level{level_}; }
  constexpr bool operator==(const LevelHint&) const = default;

 private:
  static constexpr int kNone = -128;
  constexpr explicit LevelHint(int level) : level_(static_cast<std::int8_t>(level)) {}
  std::int8_t level_;
};

namespace tlbi {

inline constexpr unsigned kTtlShift = 44;  // IPAS2: TTL in Xt[47:44]
// IPAS2: IPA[51:12] in Xt[39:0] (bits [39:36] are RES0 where IPAs have at most 48 bits).
inline constexpr u64 kIpaPageMask = (u64{1} << 40) - 1;
// RIPAS2 fields.
inline constexpr unsigned kRangeTgShift = 46;
inline constexpr unsigned kRangeScaleShift = 44;
inline constexpr unsigned kRangeNumShift = 39;
inline constexpr unsigned kRangeTtlShift = 37;
inline constexpr u64 kRangeBaseMask = (u64{1} << 37) - 1;
inline constexpr unsigned kDsBaseShift = 16;  // with DS, BaseADDR counts 64 KiB units
inline constexpr unsigned kMaxScale = 3;
inline constexpr unsigned kMaxNum = 31;

// TTL[3:2] and RIPAS2 TG: 1 = 4K, 2 = 16K, 3 = 64K.
constexpr u64 tg_field(Granule g) {
  switch (g) {
    case Granule::k4:
      return 1;
    case Granule::k16:
      return 2;
    case Granule::k64:
      return 3;
  }
  return 0;
}
constexpr Granule granule_of_tg(u64 tg) {
  return tg == 3 ? Granule::k64 : tg == 2 ? Granule::k16 : Granule::k4;
}

// Pages covered by one range operation.
constexpr u64 range_pages(unsigned scale, unsigned num) {
  return u64{num + 1} << (5 * scale + 1);
}
inline constexpr u64 kMaxRangePages = range_pages(kMaxScale, kMaxNum);  // 2^21
static_assert(kMaxRangePages == (u64{1} << 21));

// Whether TTL can name a leaf at `hint` in this granule: levels 1 to 3, and level 0 for 4K (whose
// level-0 blocks exist only with LPA2; TTL 0b0100 names them there).
constexpr bool ttl_expresses(LevelHint hint, Granule g) {
  return hint.known() && (hint.level().value() >= 1 || g == Granule::k4);
}

// IPAS2E1IS / IPAS2LE1IS: the IPA is always shifted by 12, whatever the granule.
constexpr u64 ipa_operand(Ipa ipa, Granule g, LevelHint hint) {
  u64 operand = (ipa.raw >> 12) & kIpaPageMask;
  if (ttl_expresses(hint, g)) {
    operand |= ((tg_field(g) << 2) | static_cast<u64>(hint.level().value())) << kTtlShift;
  }
  return operand;
}

struct IpaOperand {
  Ipa ipa;                             // the 4K-aligned IPA the operand names
  LevelHint hint = LevelHint::none();  // none when TTL is 0 or names another granule
  // TTL[3:2] names a granule other than the table's: a wrong TTL, with which "no entries are
  // required by the architecture to be invalidated" (Arm ARM, TLBI IPAS2E1IS, TTL field).
  bool other_granule = false;
};
constexpr IpaOperand decode_ipa(u64 operand, Granule g) {
  const u64 ttl = (operand >> kTtlShift) & 0xF;
  const u64 tg = ttl >> 2;
  const bool hinted = tg == tg_field(g) && ((ttl & 3) != 0 || g == Granule::k4);
  return IpaOperand{
      Ipa{(operand & kIpaPageMask) << 12},
      hinted ? LevelHint::at(Level{static_cast<int>(ttl & 3)}) : LevelHint::none(),
      tg != 0 && tg != tg_field(g),
  };
}

struct RangeOperand {
  Granule granule = Granule::k4;
  unsigned scale = 0;
  unsigned num = 0;
  LevelHint hint = LevelHint::none();  // levels 1 to 3: TTL has no encoding for level 0
  u64 base_page = 0;                   // where the range starts, in units of the granule
  // VTCR_EL2.DS = 1 (LPA2): BaseADDR is in units of 64 KiB whatever the granule, so the range
  // must start 64 KiB aligned (Arm ARM, TLBI RIPAS2E1IS, BaseADDR).
  bool ds = false;

  constexpr Ipa start() const { return Ipa{base_page << granule_shift(granule)}; }
  constexpr u64 pages() const { return range_pages(scale, num); }
  constexpr u64 bytes() const { return pages() << granule_shift(granule); }
  constexpr bool operator==(const RangeOperand&) const = default;
};

constexpr u64 range_operand(const RangeOperand& r) {
  u64 operand = tg_field(r.granule) << kRangeTgShift;
  operand |= u64{r.scale & 3} << kRangeScaleShift;
  operand |= u64{r.num & 31} << kRangeNumShift;
  if (r.hint.known() && r.hint.level().value() >= 1) {
    operand |= static_cast<u64>(r.hint.level().value() & 3) << kRangeTtlShift;
  }
  const unsigned shift = granule_shift(r.granule);
  operand |= (r.ds ? (r.base_page << shift) >> kDsBaseShift : r.base_page) & kRangeBaseMask;
  return operand;
}
// `ds`: the table's VTCR_EL2.DS, which decides BaseADDR's unit.
constexpr RangeOperand decode_range(u64 operand, bool ds = false) {
  const u64 ttl = (operand >> kRangeTtlShift) & 3;
  const Granule g = granule_of_tg((operand >> kRangeTgShift) & 3);
  const u64 field = operand & kRangeBaseMask;
  return RangeOperand{
      .granule = g,
      .scale = static_cast<unsigned>((operand >> kRangeScaleShift) & 3),
      .num = static_cast<unsigned>((operand >> kRangeNumShift) & 31),
      .hint = ttl != 0 ? LevelHint::at(Level{static_cast<int>(ttl)}) : LevelHint::none(),
      .base_page = ds ? (field << kDsBaseShift) >> granule_shift(g) : field,
      .ds = ds,
  };
}

static_assert(decode_range(range_operand(RangeOperand{Granule::k16, 2, 17, LevelHint::at(Level{2}),
                                                      12345})) ==
              RangeOperand{Granule::k16, 2, 17, LevelHint::at(Level{2}), 12345});
static_assert(decode_ipa(ipa_operand(Ipa{0x1234'5000}, Granule::k4, LevelHint::at(Level{3})),
                         Granule::k4)
                  .hint == LevelHint::at(Level{3}));
// With DS the base counts 64 KiB units: a 4K range at page 0x10 (64 KiB) has BaseADDR 1.
static_assert((range_operand(RangeOperand{.base_page = 0x10, .ds = true}) & kRangeBaseMask) == 1);
static_assert(decode_range(range_operand(RangeOperand{Granule::k16, 1, 3, LevelHint::none(),
                                                      u64{1} << 36, true}),
                           true)
                  .base_page == u64{1} << 36);
static_assert(decode_ipa(ipa_operand(Ipa{0x1234'5000}, Granule::k4, LevelHint::at(Level{3})),
                         Granule::k16)
                  .other_granule);

}  // namespace tlbi
}  // namespace s2pt
