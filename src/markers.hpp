// Software encodings in invalid descriptors used while entries are being torn down.
//
// The hardware ignores every bit of an invalid descriptor (bit 0 clear), so software may park
// information there. All encodings below also set the lock bit: to a shared walker they are busy
// entries (Pte::is_busy) and it backs off, never mistaking them for annotations or empty slots.
#pragma once

#include "s2pt/pte.hpp"

namespace s2pt::marker {

inline constexpr u64 kParked = u64{1} << 63;   // a removed entry, parked until its TLBI completed
inline constexpr u64 kSavedAf = u64{1} << 62;  // the parked leaf's AF (bit 10 holds the lock)
inline constexpr u64 kLink = u64{1} << 61;     // a retire-list link (first entry of a retired page)

// The removed entry `old` (a leaf or a table), invalid to the hardware, its payload kept.
constexpr Pte park(Pte old) {
  u64 raw = (old.raw() & ~(bits::kValid | bits::kAf)) | bits::kLocked | kParked;
  if (old.af()) raw |= kSavedAf;
  return Pte::from_raw(raw);
}
constexpr bool is_parked(Pte p) {
  return !p.is_valid() && (p.raw() & kParked) != 0;
}
// The entry as it was before park().
constexpr Pte unpark(Pte p) {
  u64 raw = (p.raw() & ~(kParked | kSavedAf | bits::kLocked)) | bits::kValid;
  if ((p.raw() & kSavedAf) != 0) raw |= bits::kAf;
  return Pte::from_raw(raw);
}
// What an entry of a detached table was, parked or not (detached subtrees hold both kinds).
constexpr Pte original(Pte p) {
  return is_parked(p) ? unpark(p) : p;
}

static_assert(unpark(park(Pte::from_raw(0x0040'0000'4000'07C7))).raw() == 0x0040'0000'4000'07C7);
static_assert(unpark(park(Pte::from_raw(0x0040'0000'4000'03C7))).raw() == 0x0040'0000'4000'03C7);
static_assert(park(Pte::from_raw(0x4000'0003)).is_busy());
static_assert(!park(Pte::from_raw(0x4000'0003)).is_annotated());

// A retire-list link: the next retired page and its level (stored +2 so that level -1 fits),
// or the end of the list. Pages are at least 4 KiB aligned, so bits [11:1] are free.
inline constexpr unsigned kLevelShift = 1;
inline constexpr u64 kLevelMask = u64{7} << kLevelShift;
inline constexpr u64 kHasNext = u64{1} << 4;

constexpr u64 link_to(Pa next, Level level) {
  return (next.raw & bits::kOutputAddress) | (u64(level.value() + 2) << kLevelShift) | kHasNext |
         bits::kLocked | kLink;
}
inline constexpr u64 kEndOfList = bits::kLocked | kLink;
constexpr bool link_has_next(u64 link) {
  return (link & kHasNext) != 0;
}
constexpr Pa link_page(u64 link) {
  return Pa{link & bits::kOutputAddress};
}
constexpr Level link_level(u64 link) {
  return Level{static_cast<int>((link & kLevelMask) >> kLevelShift) - 2};
}
// A link to a retire-log page (a page of links to retired subtrees, not a table): the level
// field holds 7, which no level uses.
constexpr u64 link_to_log(Pa log) {
  return (log.raw & bits::kOutputAddress) | kLevelMask | kHasNext | bits::kLocked | kLink;
}
constexpr bool link_is_log(u64 link) {
  return (link & kLevelMask) == kLevelMask;
}
static_assert(link_level(link_to(Pa{0x1234'5000}, Level{3})) == Level{3});
static_assert(link_page(link_to(Pa{0x1234'5000}, Level{-1})) == Pa{0x1234'5000});
static_assert(Pte::from_raw(kEndOfList).is_busy());
static_assert(link_is_log(link_to_log(Pa{0x1234'5000})) && !link_is_log(link_to(Pa{0}, Level{3})));
static_assert(link_page(link_to_log(Pa{0x1234'5000})) == Pa{0x1234'5000});

}  // namespace s2pt::marker
