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
  static constexpr LevelHint none() { return LevelHint{0}; }
  // Only levels 1 to 3 can be hinted without LPA2 (no leaf exists at level 0).
  static constexpr LevelHint at(Level level) {
    return level.value() >= 1 && level.value() <= 3 ? LevelHint{level.value()} : none();
  }
  constexpr bool known() const { return level_ != 0; }
  constexpr Level level() const { return Level{level_}; }
  constexpr bool operator==(const LevelHint&) const = default;

 private:
  constexpr explicit LevelHint(int level) : level_(static_cast<std::int8_t>(level)) {}
  std::int8_t level_;
};

namespace tlbi {

inline constexpr unsigned kTtlShift = 44;                // IPAS2: TTL in Xt[47:44]
inline constexpr u64 kIpaPageMask = (u64{1} << 36) - 1;  // IPAS2: IPA[47:12] in Xt[35:0]
// RIPAS2 fields.
inline constexpr unsigned kRangeTgShift = 46;
inline constexpr unsigned kRangeScaleShift = 44;
inline constexpr unsigned kRangeNumShift = 39;
inline constexpr unsigned kRangeTtlShift = 37;
inline constexpr u64 kRangeBaseMask = (u64{1} << 37) - 1;
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

// IPAS2E1IS / IPAS2LE1IS: the IPA is always shifted by 12, whatever the granule.
constexpr u64 ipa_operand(Ipa ipa, Granule g, LevelHint hint) {
  u64 operand = (ipa.raw >> 12) & kIpaPageMask;
  if (hint.known()) {
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
  const bool hinted = tg == tg_field(g) && (ttl & 3) != 0;
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
  LevelHint hint = LevelHint::none();
  u64 base_page = 0;  // BaseADDR, in units of the granule

  constexpr Ipa start() const { return Ipa{base_page << granule_shift(granule)}; }
  constexpr u64 pages() const { return range_pages(scale, num); }
  constexpr u64 bytes() const { return pages() << granule_shift(granule); }
  constexpr bool operator==(const RangeOperand&) const = default;
};

constexpr u64 range_operand(const RangeOperand& r) {
  u64 operand = tg_field(r.granule) << kRangeTgShift;
  operand |= u64{r.scale & 3} << kRangeScaleShift;
  operand |= u64{r.num & 31} << kRangeNumShift;
  if (r.hint.known()) operand |= static_cast<u64>(r.hint.level().value() & 3) << kRangeTtlShift;
  operand |= r.base_page & kRangeBaseMask;
  return operand;
}
constexpr RangeOperand decode_range(u64 operand) {
  const u64 ttl = (operand >> kRangeTtlShift) & 3;
  return RangeOperand{
      .granule = granule_of_tg((operand >> kRangeTgShift) & 3),
      .scale = static_cast<unsigned>((operand >> kRangeScaleShift) & 3),
      .num = static_cast<unsigned>((operand >> kRangeNumShift) & 31),
      .hint = ttl != 0 ? LevelHint::at(Level{static_cast<int>(ttl)}) : LevelHint::none(),
      .base_page = operand & kRangeBaseMask,
  };
}

static_assert(decode_range(range_operand(RangeOperand{Granule::k16, 2, 17, LevelHint::at(Level{2}),
                                                      12345})) ==
              RangeOperand{Granule::k16, 2, 17, LevelHint::at(Level{2}), 12345});
static_assert(decode_ipa(ipa_operand(Ipa{0x1234'5000}, Granule::k4, LevelHint::at(Level{3})),
                         Granule::k4)
                  .hint == LevelHint::at(Level{3}));
static_assert(decode_ipa(ipa_operand(Ipa{0x1234'5000}, Granule::k4, LevelHint::at(Level{3})),
                         Granule::k16)
                  .other_granule);

}  // namespace tlbi
}  // namespace s2pt
