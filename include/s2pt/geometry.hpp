// Shape of a stage-2 table: granule x IPA size -> levels, start level, concatenated root pages,
// where blocks may live, and the VTCR_EL2 value that describes it to the hardware.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

class Geometry {
 public:
  // Refuses combinations the architecture (or s2pt) does not support with bad_geometry: IPA
  // larger than the PA size, PA size not one of the PARange sizes, IPA smaller than 32 or larger
  // than 52 bits, VMID width other than 8 or 16, `max_root_pages` not a power of two from 1 to 16.
  // A 52-bit PA size selects the 52-bit descriptor layout of the granule (oa_layout()); whether
  // the CPU has it is Table::create's question. The root concatenates up to `max_root_pages`
  // tables where that saves a level (16, the architecture's limit, as KVM does; 1 never does,
  // which for 4K and more than 48 IPA bits means a start at level -1).
  static constexpr Result<Geometry> make(Granule granule, unsigned ipa_bits, unsigned pa_bits,
                                         unsigned vmid_bits = 16, unsigned max_root_pages = 16);

  constexpr Granule granule() const { return granule_; }
  constexpr unsigned ipa_bits() const { return ipa_bits_; }
  constexpr unsigned pa_bits() const { return pa_bits_; }
  constexpr unsigned vmid_bits() const { return vmid_bits_; }
  constexpr unsigned levels() const { return levels_; }
  constexpr Level start_level() const { return Level{start_level_}; }
  constexpr unsigned root_pages() const { return root_pages_; }
  constexpr u64 root_bytes() const { return u64{root_pages_} * page_bytes(); }
  constexpr u64 page_bytes() const { return granule_bytes(granule_); }
  constexpr u64 entries_per_table() const { return u64{1} << table_bits_; }
  // Entries of the (possibly concatenated) root table at the start level.
  constexpr u64 root_entries() const { return u64{1} << root_bits_; }
  constexpr u64 ipa_limit() const { return u64{1} << ipa_bits_; }
  constexpr u64 pa_limit() const { return u64{1} << pa_bits_; }
  constexpr OaLayout oa_layout() const { return oa_layout_; }

  // log2 of the bytes one entry at `level` maps (any level from -1 to the last).
  constexpr unsigned level_shift(Level level) const { return level_shift_[level.value() + 1]; }
  constexpr u64 level_bytes(Level level) const { return u64{1} << level_shift(level); }

  // Index of the entry translating `ipa` in the table at `level` (the root spans all its pages).
  constexpr u64 index(Ipa ipa, Level level) const {
    const u64 entries = level == start_level() ? root_entries() : entries_per_table();
    return (ipa.raw >> level_shift(level)) & (entries - 1);
  }

  constexpr bool has_level(Level level) const {
    return level >= start_level() && level <= kLastLevel;
  }
  // Whether a block (not a page) descriptor is architecturally valid at `level` for this granule
  // (Arm ARM D8.3.1): 4K at levels 1 and 2, 16K and 64K at level 2; one level higher with the
  // 52-bit layouts (4K: 512 GiB at level 0, 16K: 64 GiB and 64K: 4 TiB at level 1).
  constexpr bool block_allowed(Level level) const {
    return has_level(level) && block_levels_.contains(level);
  }
  constexpr bool leaf_allowed(Level level) const { return level.is_last() || block_allowed(level); }
  // Whether one leaf (a page, or a block at a level that allows blocks) maps exactly `bytes`.
  constexpr bool is_leaf_size(u64 bytes) const {
    for (Level level = start_level(); level <= kLastLevel; level = level.deeper()) {
      if (leaf_allowed(level) && level_bytes(level) == bytes) return true;
    }
    return false;
  }
  // Entries in one contiguous-hint group at `level` (D8.6.1 of the Arm ARM).
  constexpr u64 contiguous_entries(Level level) const {
    if (granule_ == Granule::k16) return level.is_last() ? 128 : 32;
    return granule_ == Granule::k4 ? 16 : 32;
  }

  // VTCR_EL2 for this geometry: inner-shareable write-back table walks, 8/16-bit VMID.
  constexpr u64 vtcr() const;

  constexpr bool operator==(const Geometry&) const = default;

 private:
  constexpr Geometry() = default;

  Granule granule_ = Granule::k4;
  u8 ipa_bits_ = 0;
  u8 pa_bits_ = 0;
  u8 vmid_bits_ = 16;
  u8 levels_ = 0;
  u8 root_bits_ = 0;
  u8 root_pages_ = 0;
  OaLayout oa_layout_ = OaLayout::bits48;
  // Derived from the above once, in make(): every step of every walk asks for them.
  std::int8_t start_level_ = 0;
  u8 table_bits_ = 0;       // log2 of a (non-root) table's entries
  LevelSet block_levels_;   // where blocks are allowed (if the level exists)
  u8 level_shift_[5] = {};  // by level + 1, levels -1 to 3
};

namespace vtcr {
inline constexpr unsigned kT0szShift = 0;
inline constexpr unsigned kSl0Shift = 6;
inline constexpr unsigned kIrgn0Shift = 8;
inline constexpr unsigned kOrgn0Shift = 10;
inline constexpr unsigned kSh0Shift = 12;
inline constexpr unsigned kTg0Shift = 14;
inline constexpr unsigned kPsShift = 16;
inline constexpr u64 kVs16BitVmid = u64{1} << 19;
// HA, HD: hardware management of the access flag, and of the dirty state of leaves with DBM set
// (FEAT_HAFDBS). HD takes effect only with HA (QEMU's behaviour, el2 scenario "hafdbs").
inline constexpr u64 kHa = u64{1} << 21;
inline constexpr u64 kHd = u64{1} << 22;
inline constexpr u64 kRes1 = u64{1} << 31;
// DS: the FEAT_LPA2 descriptor layout (and 52-bit addresses) with 4K and 16K granules. SL2: with
// DS and 4K, SL2 = 1 and SL0 = 0 start the walk at level -1.
inline constexpr u64 kDs = u64{1} << 32;
inline constexpr u64 kSl2 = u64{1} << 33;
inline constexpr u64 kWriteBackCacheable = 1;  // IRGN0/ORGN0 = Normal WB RA WA
inline constexpr u64 kInnerShareable = 3;

constexpr u64 tg0(Granule g) {
  switch (g) {
    case Granule::k4:
      return 0;
    case Granule::k64:
      return 1;
    case Granule::k16:
      return 2;
  }
  return 0;
}

// PARange / VTCR_EL2.PS encoding of a physical address size, or -1.
constexpr int ps(unsigned pa_bits) {
  switch (pa_bits) {
    case 32:
      return 0;
    case 36:
      return 1;
    case 40:
      return 2;
    case 42:
      return 3;
    case 44:
      return 4;
    case 48:
      return 5;
    case 52:
      return 6;
    default:
      return -1;
  }
}
}  // namespace vtcr

constexpr Result<Geometry> Geometry::make(Granule granule, unsigned ipa_bits, unsigned pa_bits,
                                          unsigned vmid_bits, unsigned max_root_pages) {
  if (granule != Granule::k4 && granule != Granule::k16 && granule != Granule::k64) {
    return Status::bad_geometry;
  }
  if (ipa_bits < 32 || ipa_bits > 52 || vtcr::ps(pa_bits) < 0 || ipa_bits > pa_bits) {
    return Status::bad_geometry;
  }
  if (vmid_bits != 8 && vmid_bits != 16) return Status::bad_geometry;
  if (max_root_pages == 0 || max_root_pages > 16 || (max_root_pages & (max_root_pages - 1)) != 0) {
    return Status::bad_geometry;
  }

  const unsigned stride = bits_per_level(granule);
  const unsigned table_bits = ipa_bits - granule_shift(granule);
  unsigned levels = (table_bits + stride - 1) / stride;
  const unsigned top_bits = table_bits - (levels - 1) * stride;
  // Concatenate root tables whenever that saves a level, but keep at least two levels so that
  // blocks stay possible (as KVM does).
  const unsigned concatenation_bits = static_cast<unsigned>(__builtin_ctz(max_root_pages));
  if (levels > 2 && top_bits <= concatenation_bits) --levels;

  Geometry g;
  g.granule_ = granule;
  g.ipa_bits_ = static_cast<u8>(ipa_bits);
  g.pa_bits_ = static_cast<u8>(pa_bits);
  g.vmid_bits_ = static_cast<u8>(vmid_bits);
  g.levels_ = static_cast<u8>(levels);
  g.root_bits_ = static_cast<u8>(table_bits - (levels - 1) * stride);
  g.root_pages_ = static_cast<u8>(g.root_bits_ > stride ? 1u << (g.root_bits_ - stride) : 1u);
  if (pa_bits == 52) g.oa_layout_ = granule == Granule::k64 ? OaLayout::lpa : OaLayout::lpa2;
  g.start_level_ = static_cast<std::int8_t>(Level::kLast + 1 - static_cast<int>(levels));
  g.table_bits_ = static_cast<u8>(stride);
  // Where blocks may live: see block_allowed().
  const int lowest_block = (granule == Granule::k4 ? 1 : 2) - (g.oa_layout_ != OaLayout::bits48);
  for (int level = -1; level <= Level::kLast; ++level) {
    g.level_shift_[level + 1] = static_cast<u8>(
        granule_shift(granule) + static_cast<unsigned>(Level::kLast - level) * stride);
    if (level >= lowest_block && level < Level::kLast) g.block_levels_.add(Level{level});
  }

  // The start levels VTCR_EL2 can encode (Arm ARM, AArch64.S2InvalidSL): level 0 for 4K only
  // with a PA range over 42 bits, for 16K only with DS; level -1 only for 4K with DS.
  const int start = g.start_level().value();
  const bool ds = g.oa_layout_ == OaLayout::lpa2;
  if (start == 0 && !(granule == Granule::k4 ? pa_bits > 42 : granule == Granule::k16 && ds)) {
    return Status::bad_geometry;
  }
  if (start < 0 && !(granule == Granule::k4 && ds)) return Status::bad_geometry;
  return g;
}

constexpr u64 Geometry::vtcr() const {
  const int start = start_level().value();
  u64 value = vtcr::kRes1;
  if (granule_ == Granule::k4) {
    value |= start < 0 ? vtcr::kSl2 : static_cast<u64>(2 - start) << vtcr::kSl0Shift;
  } else {
    value |= static_cast<u64>(3 - start) << vtcr::kSl0Shift;
  }
  if (oa_layout_ == OaLayout::lpa2) value |= vtcr::kDs;
  value |= u64{64u - ipa_bits_} << vtcr::kT0szShift;
  value |= vtcr::kWriteBackCacheable << vtcr::kIrgn0Shift;
  value |= vtcr::kWriteBackCacheable << vtcr::kOrgn0Shift;
  value |= vtcr::kInnerShareable << vtcr::kSh0Shift;
  value |= vtcr::tg0(granule_) << vtcr::kTg0Shift;
  value |= static_cast<u64>(vtcr::ps(pa_bits_)) << vtcr::kPsShift;
  if (vmid_bits_ == 16) value |= vtcr::kVs16BitVmid;
  return value;
}

// Worked examples of VTCR_EL2.SL0 with concatenated roots (Arm ARM D8.2), checked at compile time:
// 4K, 40-bit IPA -> start level 1 with two concatenated root pages; 16K, 40-bit -> 16 root pages at
// level 2.
static_assert(Geometry::make(Granule::k4, 40, 40).value().start_level() == Level{1});
static_assert(Geometry::make(Granule::k4, 40, 40).value().root_pages() == 2);
static_assert(Geometry::make(Granule::k16, 40, 40).value().root_pages() == 16);
static_assert(Geometry::make(Granule::k4, 40, 40).value().level_bytes(Level{2}) == (u64{1} << 21));
// 52 bits with 4K: level 0 with 16 concatenated pages, or level -1 (SL2) with one root page.
static_assert(Geometry::make(Granule::k4, 52, 52).value().root_pages() == 16);
static_assert(Geometry::make(Granule::k4, 52, 52, 16, 1).value().start_level() == Level{-1});

}  // namespace s2pt
