// Stage-2 descriptors as value types: attributes, their two MemAttr encodings (with and without
// FEAT_S2FWB), and the predicate that says which live changes need break-before-make.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

// Stage-2 access permissions. `exec` clears XN.
enum class Perm : u8 {
  none = 0,
  read = 1,
  write = 2,
  exec = 4,
  rw = read | write,
  rx = read | exec,
  rwx = read | write | exec,
};
inline constexpr u8 kPermMask = 7;

constexpr Perm operator|(Perm a, Perm b) {
  return Perm(static_cast<u8>(a) | static_cast<u8>(b));
}
constexpr Perm operator&(Perm a, Perm b) {
  return Perm(static_cast<u8>(a) & static_cast<u8>(b));
}
constexpr Perm without(Perm a, Perm b) {
  return Perm(static_cast<u8>(a) & ~static_cast<u8>(b));
}
constexpr bool has(Perm set, Perm p) {
  return (set & p) == p;
}

enum class MemType : u8 { normal_wb, normal_nc, device_ngnre, device_ngnrne };
inline constexpr u8 kMemTypeCount = 4;

enum class Shareability : u8 { non = 0, outer = 2, inner = 3 };

// How MemAttr[3:0] is interpreted: HCR_EL2.FWB chooses, for the whole VM.
enum class MemAttrFormat : u8 { classic, fwb };

// Everything a table's descriptors are encoded by: the MemAttr interpretation and where the
// output address lives.
struct DescriptorFormat {
  MemAttrFormat memattr = MemAttrFormat::classic;
  OaLayout oa = OaLayout::bits48;
  constexpr bool operator==(const DescriptorFormat&) const = default;
};

struct Attrs {
  Perm perm = Perm::rw;
  MemType mem = MemType::normal_wb;
  Shareability sh = Shareability::inner;
  bool af = true;
  bool contiguous = false;
  u8 sw = 0;  // the four software bits [58:55]

  static constexpr Attrs normal(Perm perm) { return Attrs{.perm = perm}; }
  static constexpr Attrs device(Perm perm) {
    return Attrs{.perm = perm, .mem = MemType::device_ngnre};
  }

  // False if any field holds a value outside its encoding (bad input from a caller).
  constexpr bool well_formed() const {
    return (static_cast<u8>(perm) & ~kPermMask) == 0 && static_cast<u8>(mem) < kMemTypeCount &&
           (sh == Shareability::non || sh == Shareability::outer || sh == Shareability::inner) &&
           sw < 16;
  }
  // Needs cleaning to PoC around (un)mapping when FWB is not in use.
  constexpr bool cacheable() const { return mem == MemType::normal_wb; }
  constexpr bool is_device() const {
    return mem == MemType::device_ngnre || mem == MemType::device_ngnrne;
  }
  // Device memory that is not execute-never: the PE may fetch instructions from it
  // speculatively (Arm ARM B2, "Device memory"), which for MMIO means side-effecting reads
  // nobody asked for. Never mapped so: refused as exec_on_device. Normal-NC may be executable.
  constexpr bool executable_device() const { return is_device() && has(perm, Perm::exec); }

  constexpr bool operator==(const Attrs&) const = default;
};

// Owner of an annotated invalid entry (pKVM-style ownership tracking); 0 means none.
struct OwnerId {
  u8 raw = 0;
  constexpr auto operator<=>(const OwnerId&) const = default;
};

namespace bits {
inline constexpr u64 kValid = u64{1} << 0;
inline constexpr u64 kTableOrPage = u64{1} << 1;
inline constexpr unsigned kMemAttrShift = 2;
inline constexpr u64 kMemAttr = u64{0xF} << kMemAttrShift;
inline constexpr u64 kS2apRead = u64{1} << 6;
inline constexpr u64 kS2apWrite = u64{1} << 7;
inline constexpr unsigned kShShift = 8;
inline constexpr u64 kSh = u64{3} << kShShift;
inline constexpr u64 kAf = u64{1} << 10;
inline constexpr u64 kDbm = u64{1} << 51;
inline constexpr u64 kContiguous = u64{1} << 52;
inline constexpr u64 kXn = u64{1} << 54;
inline constexpr unsigned kSwShift = 55;
inline constexpr u64 kSw = u64{0xF} << kSwShift;
// Output address bits [47:12]; the granule's low bits are zero in an aligned address.
inline constexpr u64 kOutputAddress = 0x0000'FFFF'FFFF'F000;
// With LPA2: OA[49:12] in place, OA[51:50] in bits [9:8]. With LPA (64K): OA[47:16] in place,
// OA[51:48] in bits [15:12], inside kOutputAddress.
inline constexpr u64 kOutputAddressLpa2 = 0x0003'FFFF'FFFF'F000;
inline constexpr unsigned kLpa2HighShift = 8;
inline constexpr unsigned kLpaHighShift = 12;
// The bits that hold an output address in some layout: equal bits, equal address (and SH).
inline constexpr u64 kAnyOutputAddress = kOutputAddressLpa2 | kSh;
// Invalid entries are ignored by hardware, so software owns all their other bits.
inline constexpr u64 kLocked = u64{1} << 10;
inline constexpr unsigned kOwnerShift = 2;
inline constexpr u64 kOwner = u64{0xFF} << kOwnerShift;
inline constexpr u64 kLeafAttrs =
    kMemAttr | kS2apRead | kS2apWrite | kSh | kAf | kDbm | kContiguous | kXn | kSw;

// The descriptor bits holding `pa` in `layout` (pa aligned to at least the granule).
constexpr u64 encode_address(Pa pa, OaLayout layout) {
  switch (layout) {
    case OaLayout::lpa2:
      return (pa.raw & kOutputAddressLpa2) | (((pa.raw >> 50) & 3) << kLpa2HighShift);
    case OaLayout::lpa:
      return (pa.raw & kOutputAddress & ~u64{0xFFFF}) | (((pa.raw >> 48) & 0xF) << kLpaHighShift);
    case OaLayout::bits48:
      break;
  }
  return pa.raw & kOutputAddress;
}
constexpr Pa decode_address(u64 raw, OaLayout layout) {
  switch (layout) {
    case OaLayout::lpa2:
      return Pa{(raw & kOutputAddressLpa2) | (((raw >> kLpa2HighShift) & 3) << 50)};
    case OaLayout::lpa:
      return Pa{(raw & kOutputAddress & ~u64{0xFFFF}) | (((raw >> kLpaHighShift) & 0xF) << 48)};
    case OaLayout::bits48:
      break;
  }
  return Pa{raw & kOutputAddress};
}
// The bits of a descriptor that hold its address in `layout`.
constexpr u64 address_bits(OaLayout layout) {
  return layout == OaLayout::lpa2 ? kOutputAddressLpa2 | kSh : kOutputAddress;
}
}  // namespace bits

constexpr u64 encode_memattr(MemType mem, MemAttrFormat format) {
  if (format == MemAttrFormat::fwb) {
    // MemAttr[2:0] with FWB: 0b110 force Normal-WB, 0b101 Normal-NC, 0b00x Device.
    switch (mem) {
      case MemType::normal_wb:
        return 0b0110;
      case MemType::normal_nc:
        return 0b0101;
      case MemType::device_ngnre:
        return 0b0001;
      case MemType::device_ngnrne:
        return 0b0000;
    }
  }
  // Classic: [3:2] outer, [1:0] inner cacheability; [3:2] == 0 selects Device.
  switch (mem) {
    case MemType::normal_wb:
      return 0b1111;
    case MemType::normal_nc:
      return 0b0101;
    case MemType::device_ngnre:
      return 0b0001;
    case MemType::device_ngnrne:
      return 0b0000;
  }
  return 0;
}

// The memory type an encoding stands for, or bad_attributes for one s2pt never writes.
constexpr Result<MemType> decode_memattr(u64 memattr, MemAttrFormat format) {
  for (u8 m = 0; m < kMemTypeCount; ++m) {
    if (encode_memattr(MemType(m), format) == memattr) return MemType(m);
  }
  return Status::bad_attributes;
}

class Pte {
 public:
  constexpr Pte() = default;
  static constexpr Pte from_raw(u64 raw) { return Pte{raw}; }

  static constexpr Pte invalid() { return Pte{0}; }
  // Held by a walker that is changing this entry; others must retry.
  static constexpr Pte locked() { return Pte{bits::kLocked}; }
  // Invalid, but records who owns the IPA range (the hardware faults on it as on any invalid).
  static constexpr Pte owned_by(OwnerId owner) { return Pte{u64{owner.raw} << bits::kOwnerShift}; }
  static constexpr Pte table(Pa next, OaLayout layout) {
    return Pte{bits::encode_address(next, layout) | bits::kTableOrPage | bits::kValid};
  }
  static constexpr Pte block(Pa out, const Attrs& a, DescriptorFormat f) {
    return leaf_bits(out, a, f);
  }
  static constexpr Pte page(Pa out, const Attrs& a, DescriptorFormat f) {
    return Pte{leaf_bits(out, a, f).raw_ | bits::kTableOrPage};
  }
  // A block below the last level, a page at it.
  static constexpr Pte leaf(Pa out, const Attrs& a, DescriptorFormat f, Level level) {
    return level.is_last() ? page(out, a, f) : block(out, a, f);
  }

  constexpr u64 raw() const { return raw_; }
  constexpr bool is_zero() const { return raw_ == 0; }
  constexpr bool is_valid() const { return (raw_ & bits::kValid) != 0; }
  constexpr bool is_locked() const { return raw_ == bits::kLocked; }
  // Locked, or invalid with the lock bit and a payload (an unmap in progress parks the old entry
  // there): a shared walker meeting a busy entry backs off and retries.
  constexpr bool is_busy() const { return !is_valid() && (raw_ & bits::kLocked) != 0; }
  constexpr bool is_annotated() const {
    return !is_valid() && (raw_ & bits::kOwner) != 0 && (raw_ & ~bits::kOwner) == 0;
  }
  constexpr OwnerId owner() const {
    return is_annotated() ? OwnerId{static_cast<u8>(raw_ >> bits::kOwnerShift)} : OwnerId{};
  }
  constexpr bool is_table(Level level) const {
    return is_valid() && (raw_ & bits::kTableOrPage) != 0 && !level.is_last();
  }
  // A valid block or page. At the last level bit 1 clear is a reserved (faulting) encoding.
  constexpr bool is_leaf(Level level) const {
    if (!is_valid()) return false;
    const bool bit1 = (raw_ & bits::kTableOrPage) != 0;
    return level.is_last() ? bit1 : !bit1;
  }
  constexpr Pa output_address(OaLayout layout) const { return bits::decode_address(raw_, layout); }
  constexpr Pa table_address(OaLayout layout) const { return output_address(layout); }

  constexpr Perm perm() const {
    Perm p = Perm::none;
    if (raw_ & bits::kS2apRead) p = p | Perm::read;
    if (raw_ & bits::kS2apWrite) p = p | Perm::write;
    if (!(raw_ & bits::kXn)) p = p | Perm::exec;
    return p;
  }
  constexpr bool af() const { return (raw_ & bits::kAf) != 0; }
  // DBM (Arm ARM D8.4.7, "Hardware management of the dirty state"): with VTCR_EL2.HD set, a
  // write through this leaf while it is read-only makes the walker set S2AP[1] atomically
  // instead of faulting. Read-only with DBM is "writable-clean"; writable with DBM, "dirty".
  constexpr bool dbm() const { return (raw_ & bits::kDbm) != 0; }
  constexpr bool hw_dirty() const { return is_valid() && dbm() && (raw_ & bits::kS2apWrite) != 0; }
  constexpr Pte with_dbm(bool dbm) const {
    return Pte{dbm ? raw_ | bits::kDbm : raw_ & ~bits::kDbm};
  }
  // A writable leaf made writable-clean: the next write is recorded by the hardware.
  constexpr Pte writable_clean() const { return Pte{(raw_ & ~bits::kS2apWrite) | bits::kDbm}; }
  constexpr bool contiguous() const { return (raw_ & bits::kContiguous) != 0; }
  constexpr u64 memattr() const { return (raw_ & bits::kMemAttr) >> bits::kMemAttrShift; }
  constexpr bool has_memtype(MemType mem, DescriptorFormat format) const {
    return memattr() == encode_memattr(mem, format.memattr);
  }
  // With LPA2 bits [9:8] belong to the address: the memory is inner shareable (VTCR_EL2.SH0).
  constexpr Shareability sh(OaLayout layout) const {
    if (layout == OaLayout::lpa2) return Shareability::inner;
    return Shareability((raw_ & bits::kSh) >> bits::kShShift);
  }
  constexpr u8 sw() const { return static_cast<u8>((raw_ & bits::kSw) >> bits::kSwShift); }

  // The attributes of a leaf; bad_attributes if its MemAttr is not one s2pt writes.
  constexpr Result<Attrs> attrs(DescriptorFormat format) const {
    Result<MemType> mem = decode_memattr(memattr(), format.memattr);
    if (!mem.ok()) return mem.status();
    return Attrs{.perm = perm(),
                 .mem = mem.value(),
                 .sh = sh(format.oa),
                 .af = af(),
                 .contiguous = contiguous(),
                 .sw = sw()};
  }

  constexpr Pte with_perm(Perm p) const {
    u64 raw = raw_ & ~(bits::kS2apRead | bits::kS2apWrite | bits::kXn);
    if (has(p, Perm::read)) raw |= bits::kS2apRead;
    if (has(p, Perm::write)) raw |= bits::kS2apWrite;
    if (!has(p, Perm::exec)) raw |= bits::kXn;
    return Pte{raw};
  }
  constexpr Pte with_af(bool af) const { return Pte{af ? raw_ | bits::kAf : raw_ & ~bits::kAf}; }
  // A leaf of the same attributes at `level` (block -> block or page) mapping `out`.
  constexpr Pte as_leaf_at(Level level, Pa out, OaLayout layout) const {
    const u64 attrs = raw_ & bits::kLeafAttrs & ~bits::address_bits(layout);
    const u64 type = level.is_last() ? bits::kTableOrPage : 0;
    return Pte{attrs | type | bits::kValid | bits::encode_address(out, layout)};
  }

  constexpr bool operator==(const Pte&) const = default;

 private:
  constexpr explicit Pte(u64 raw) : raw_(raw) {}

  static constexpr Pte leaf_bits(Pa out, const Attrs& a, DescriptorFormat f) {
    u64 raw = bits::kValid | bits::encode_address(out, f.oa);
    raw |= encode_memattr(a.mem, f.memattr) << bits::kMemAttrShift;
    if (f.oa != OaLayout::lpa2) raw |= static_cast<u64>(a.sh) << bits::kShShift;
    if (a.af) raw |= bits::kAf;
    if (a.contiguous) raw |= bits::kContiguous;
    raw |= static_cast<u64>(a.sw & 0xF) << bits::kSwShift;
    return Pte{raw}.with_perm(a.perm);
  }

  u64 raw_ = 0;
};

// Whether replacing live entry `old` by `next` at `level` requires break-before-make: a change of
// output address, of block/table/page type, of memory type, shareability or the contiguous hint
// (Arm ARM D8.16, "TLB maintenance requirements and the break-before-make sequence"). Permission,
// access-flag, DBM and software-bit changes do not.
constexpr bool needs_break_before_make(Pte old, Pte next, Level level) {
  if (!old.is_valid() || !next.is_valid()) return false;
  if (old.is_table(level) != next.is_table(level)) return true;
  // Whatever the layout, the same address has the same bits (and with LPA2 the SH bits are
  // address bits).
  if ((old.raw() & bits::kAnyOutputAddress) != (next.raw() & bits::kAnyOutputAddress)) return true;
  if (old.is_table(level)) return false;
  constexpr u64 kMustMatch = bits::kMemAttr | bits::kSh | bits::kContiguous;
  return (old.raw() & kMustMatch) != (next.raw() & kMustMatch);
}

static_assert(Pte::locked().is_locked() && !Pte::locked().is_valid());
static_assert(Pte::owned_by(OwnerId{7}).owner() == OwnerId{7});
static_assert(!Pte::locked().is_annotated());

}  // namespace s2pt
