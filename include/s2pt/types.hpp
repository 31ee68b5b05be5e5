// Vocabulary types of the core: addresses, levels, granules, VMIDs and the status codes every
// fallible operation returns. Freestanding: only compiler-provided headers.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <new>

namespace s2pt {

using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;

// An address in one address space. The tag keeps an IPA from being passed where a PA is wanted.
template <class Space>
struct Address {
  u64 raw = 0;

  constexpr Address() = default;
  constexpr explicit Address(u64 value) : raw(value) {}

  constexpr auto operator<=>(const Address&) const = default;  // NOLINT(modernize-use-nullptr)
  constexpr Address operator+(u64 bytes) const { return Address{raw + bytes}; }
  constexpr Address operator-(u64 bytes) const { return Address{raw - bytes}; }
  constexpr u64 operator-(Address other) const { return raw - other.raw; }
  constexpr Address align_down(u64 alignment) const { return Address{raw & ~(alignment - 1)}; }
  constexpr bool aligned(u64 alignment) const { return (raw & (alignment - 1)) == 0; }
};

struct IpaSpace {};
struct PaSpace {};
using Ipa = Address<IpaSpace>;  // guest intermediate physical address (stage-2 input)
using Pa = Address<PaSpace>;    // host physical address (stage-2 output, table pages)

// A half-open IPA interval [start, start + size).
struct IpaRange {
  Ipa start;
  u64 size = 0;

  constexpr Ipa end() const { return start + size; }
  constexpr bool contains(Ipa ipa) const { return ipa >= start && ipa - start < size; }
  constexpr bool overlaps(const IpaRange& other) const {
    return start < other.end() && other.start < end();
  }
  constexpr bool operator==(const IpaRange&) const = default;
};

// A translation table lookup level. Level 3 holds pages; LPA2 adds level -1, hence signed.
class Level {
 public:
  constexpr explicit Level(int value) : value_(static_cast<std::int8_t>(value)) {}
  constexpr int value() const { return value_; }
  constexpr Level deeper() const { return Level{value_ + 1}; }
  constexpr bool is_last() const { return value_ == kLast; }
  constexpr auto operator<=>(const Level&) const = default;  // NOLINT(modernize-use-nullptr)

  static constexpr int kLast = 3;

 private:
  std::int8_t value_;
};

inline constexpr Level kLastLevel{Level::kLast};

// A set of levels, -1 to 3: the one way levels are collected into a mask.
class LevelSet {
 public:
  constexpr void add(Level level) { bits_ = static_cast<u8>(bits_ | bit(level)); }
  constexpr bool contains(Level level) const { return (bits_ & bit(level)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  // Holds exactly one level, which lowest() then is.
  constexpr bool single() const { return bits_ != 0 && (bits_ & (bits_ - 1)) == 0; }
  constexpr Level lowest() const { return Level{__builtin_ctz(bits_) - 1}; }
  constexpr bool operator==(const LevelSet&) const = default;

 private:
  static constexpr u8 bit(Level level) { return static_cast<u8>(1u << (level.value() + 1)); }
  u8 bits_ = 0;
};
static_assert([] {
  LevelSet s;
  s.add(Level{-1});
  s.add(Level{3});
  return s.contains(Level{-1}) && s.contains(Level{3}) && !s.contains(Level{0}) && !s.single() &&
         s.lowest() == Level{-1};
}());

// Where descriptors keep the output address, and a table descriptor the next table's address
// (Arm ARM D8.3, "Translation table descriptor formats"). A 52-bit physical address space needs
// one of the two 52-bit layouts, and the CPU feature behind it.
enum class OaLayout : u8 {
  bits48,  // OA[47:granule] in bits [47:granule]; bits [9:8] hold SH
  // FEAT_LPA2 with VTCR_EL2.DS = 1 (4K and 16K granules): OA[49:granule] in place and OA[51:50]
  // in bits [9:8]; shareability comes from VTCR_EL2.SH0.
  lpa2,
  lpa,  // FEAT_LPA (64K granule): OA[47:16] in place, OA[51:48] in bits [15:12]
};

// Translation granule; the enumerator value is log2 of its size in bytes.
enum class Granule : u8 { k4 = 12, k16 = 14, k64 = 16 };

constexpr unsigned granule_shift(Granule g) {
  return static_cast<unsigned>(g);
}
constexpr u64 granule_bytes(Granule g) {
  return u64{1} << granule_shift(g);
}
// Each level of a table resolves log2(granule / 8) bits: one 64-bit entry per 8 bytes.
constexpr unsigned bits_per_level(Granule g) {
  return granule_shift(g) - 3;
}

struct Vmid {
  u16 raw = 0;
  constexpr auto operator<=>(const Vmid&) const = default;
};

// Why an operation did not (fully) happen. Every code names one cause.
enum class Status : u8 {
  ok = 0,
  unaligned,         // address or size not a multiple of the granule (or of the PA alignment)
  empty_range,       // size 0
  wraps,             // start + size overflows
  ipa_out_of_range,  // beyond the table's IPA size
  pa_out_of_range,   // output address beyond the configured PA size
  bad_attributes,    // unknown permission, memory-type or software bits
  exists,            // a mapping is already there and the caller did not ask to replace it
  no_memory,         // a table page could not be allocated
  again,             // a concurrent walker holds the entry; retry
  unsupported,       // the feature or geometry is not supported
  bad_geometry,      // impossible granule / IPA / PA combination
  not_mapped,        // lookup found no translation
  budget_exhausted,  // the call's work budget ran out first: call again with the rest
  destroyed,         // the table was destroyed
  mismatched_cache,  // the page cache holds pages of another granule, or its walker slot is invalid
  bad_flags,         // unknown operation flags
  exec_on_device,    // execute permission asked for Device memory
  missing_feature,   // the geometry or operation needs a CPU feature the table was not given
  bitmap_too_small,  // the caller's dirty bitmap does not cover the range
  not_logging,       // dirty logging is not enabled on (all of) the range
  already_logging,   // dirty logging is enabled on (part of) the range already
  too_many_logged_ranges,  // kMaxLoggedRanges ranges are logged already
};

constexpr const char* describe(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::unaligned:
      return "unaligned address or size";
    case Status::empty_range:
      return "empty range";
    case Status::wraps:
      return "range wraps around the address space";
    case Status::ipa_out_of_range:
      return "IPA beyond the table's input size";
    case Status::pa_out_of_range:
      return "PA beyond the configured output size";
    case Status::bad_attributes:
      return "unknown or unsupported attribute bits";
    case Status::exists:
      return "a mapping already exists";
    case Status::no_memory:
      return "out of table pages";
    case Status::again:
      return "entry busy, retry";
    case Status::unsupported:
      return "unsupported";
    case Status::bad_geometry:
      return "impossible geometry";
    case Status::not_mapped:
      return "not mapped";
    case Status::budget_exhausted:
      return "budget exhausted, call again with the rest";
    case Status::destroyed:
      return "the table was destroyed";
    case Status::mismatched_cache:
      return "page cache of another granule or walker slot out of range";
    case Status::bad_flags:
      return "unknown flags";
    case Status::exec_on_device:
      return "execute permission on Device memory";
    case Status::missing_feature:
      return "needs a CPU feature the table was not given";
    case Status::bitmap_too_small:
      return "dirty bitmap smaller than the range";
    case Status::not_logging:
      return "dirty logging is not enabled there";
    case Status::already_logging:
      return "dirty logging is already enabled there";
    case Status::too_many_logged_ranges:
      return "too many ranges under dirty logging";
  }
  return "unknown status";
}

// A value or the reason there is none. T needs no default constructor.
template <class T>
class Result {
 public:
  constexpr Result(T value) : status_(Status::ok), value_(static_cast<T&&>(value)) {}  // NOLINT
  constexpr Result(Status status) : status_(status), empty_{} {}                       // NOLINT
  constexpr Result(const Result& other) : status_(other.status_), empty_{} {
    if (ok()) new (&value_) T(other.value_);
  }
  constexpr Result(Result&& other) noexcept : status_(other.status_), empty_{} {
    if (ok()) new (&value_) T(static_cast<T&&>(other.value_));
  }
  Result& operator=(const Result& other) {
    if (this != &other) {
      this->~Result();
      new (this) Result(other);
    }
    return *this;
  }
  Result& operator=(Result&& other) noexcept {
    if (this != &other) {
      this->~Result();
      new (this) Result(static_cast<Result&&>(other));
    }
    return *this;
  }
  constexpr ~Result() {
    if (ok()) value_.~T();
  }

  constexpr bool ok() const { return status_ == Status::ok; }
  constexpr Status status() const { return status_; }
  constexpr T& value() & { return value_; }
  constexpr const T& value() const& { return value_; }
  constexpr T&& value() && { return static_cast<T&&>(value_); }
  constexpr T* operator->() { return &value_; }
  constexpr const T* operator->() const { return &value_; }

 private:
  struct Empty {};
  Status status_;
  union {
    Empty empty_;
    T value_;
  };
};

// What a ranged operation achieved: the status, and how many bytes from the start of the range
// were processed before it stopped (all of them when ok).
struct Progress {
  Status status = Status::ok;
  u64 bytes_done = 0;

  constexpr bool ok() const { return status == Status::ok; }
};

}  // namespace s2pt
