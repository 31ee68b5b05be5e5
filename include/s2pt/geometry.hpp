// Shape of a stage-2 table: granule x IPA size -> levels, start level, concatenated root pages,
// where blocks may live, and the VTCR_EL2 value that describes it to the hardware.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

class Geometry {
 public:
  // Refuses combinations the architecture (or s2pt) does not support:
  //  - bad_geometry: IPA larger than the PA size, PA size not one of the PARange sizes, IPA
  //    smaller than 32 bits, VMID width other than 8 or 16;
  //  - unsupported: 52-bit IPA/PA (needs LPA/LPA2, not implemented yet).
  static constexpr Result<Geometry> make(Granule granule, unsigned ipa_bits, unsigned pa_bits,
                                         unsigned vmid_bits = 16);

  constexpr Granule granule() const { return granule_; }
  constexpr unsigned ipa_bits() const { return ipa_bits_; }
  constexpr unsigned pa_bits() const { return pa_bits_; }
  constexpr unsigned vmid_bits() const { return vmid_bits_; }
  constexpr unsigned levels() const { return levels_; }
  constexpr Level start_level() const {
    return Level{Level::kLast + 1 - static_cast<int>(levels_)};
  }
  constexpr unsigned root_pages() const { return root_pages_; }
  constexpr u64 root_bytes() const { return u64{root_pages_} * page_bytes(); }
  constexpr u64 page_bytes() const { return granule_bytes(granule_); }
  constexpr u64 entries_per_table() const { return u64{1} << bits_per_level(granule_); }
  // Entries of the (possibly concatenated) root table at the start level.
  constexpr u64 root_entries() const { return u64{1} << root_bits_; }
  constexpr u64 ipa_limit() const { return u64{1} << ipa_bits_; }
  constexpr u64 pa_limit() const { return u64{1} << pa_bits_; }

  // log2 of the bytes one entry at `level` maps.
  constexpr unsigned level_shift(Level level) const {
    return granule_shift(granule_) +
           static_cast<unsigned>(Level::kLast - level.value()) * bits_per_level(granule_);
  }
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
  // without LPA/LPA2: 4K at levels 1 and 2, 16K and 64K at level 2.
  constexpr bool block_allowed(Level level) const {
    if (!has_level(level) || level.is_last()) return false;
    if (granule_ == Granule::k4) return level.value() == 1 || level.value() == 2;
    return level.value() == 2;
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
                                          unsigned vmid_bits) {
  if (granule != Granule::k4 && granule != Granule::k16 && granule != Granule::k64) {
    return Status::bad_geometry;
  }
  if (ipa_bits > 48 || pa_bits > 48) {
    // 52-bit output/input needs FEAT_LPA (64K) or FEAT_LPA2 (4K/16K) descriptors.
    return (ipa_bits == 52 || pa_bits == 52) ? Status::unsupported : Status::bad_geometry;
  }
  if (ipa_bits < 32 || vtcr::ps(pa_bits) < 0 || ipa_bits > pa_bits) return Status::bad_geometry;
  if (vmid_bits != 8 && vmid_bits != 16) return Status::bad_geometry;

  const unsigned stride = bits_per_level(granule);
  const unsigned table_bits = ipa_bits - granule_shift(granule);
  unsigned levels = (table_bits + stride - 1) / stride;
  const unsigned top_bits = table_bits - (levels - 1) * stride;
  // Up to 16 root pages may be concatenated (4 extra bits at the start level); do so whenever
  // it saves a level, but keep at least two levels so blocks stay possible (as KVM does).
  if (levels > 2 && top_bits <= 4) --levels;

  Geometry g;
  g.granule_ = granule;
  g.ipa_bits_ = static_cast<u8>(ipa_bits);
  g.pa_bits_ = static_cast<u8>(pa_bits);
  g.vmid_bits_ = static_cast<u8>(vmid_bits);
  g.levels_ = static_cast<u8>(levels);
  g.root_bits_ = static_cast<u8>(table_bits - (levels - 1) * stride);
  g.root_pages_ = static_cast<u8>(g.root_bits_ > stride ? 1u << (g.root_bits_ - stride) : 1u);

  // A level-0 start is only encodable for 4K, and only when the PA range exceeds 42 bits; 16K and
  // 64K cannot start at level 0 without LPA2/LPA.
  const int start = g.start_level().value();
  if (start == 0 && (granule != Granule::k4 || pa_bits <= 42)) return Status::bad_geometry;
  return g;
}

constexpr u64 Geometry::vtcr() const {
  const int start = start_level().value();
  const u64 sl0 =
      granule_ == Granule::k4 ? static_cast<u64>(2 - start) : static_cast<u64>(3 - start);
  u64 value = vtcr::kRes1;
  value |= u64{64u - ipa_bits_} << vtcr::kT0szShift;
  value |= sl0 << vtcr::kSl0Shift;
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

}  // namespace s2pt
