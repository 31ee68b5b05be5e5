// The ranges of a table under dirty logging, each with the caller's bitmap. Changed only by
// exclusive operations; read by the fault path (which no exclusive operation overlaps).
#pragma once

#include "s2pt/dirty_log.hpp"
#include "s2pt/geometry.hpp"
#include "s2pt/pte.hpp"

namespace s2pt {

// What a writable leaf becomes in a logged range so that its next write is seen: read-only (the
// write faults), or writable-clean (the hardware records the write).
constexpr Pte armed_for_logging(Pte leaf, DirtyTracking tracking) {
  return tracking == DirtyTracking::hardware
             ? leaf.writable_clean()
             : leaf.with_dbm(false).with_perm(without(leaf.perm(), Perm::write));
}

struct LoggedRange {
  IpaRange range;
  DirtyBitmap bitmap;
  DirtyTracking tracking = DirtyTracking::write_protect;

  // Marks the page holding `ipa` dirty.
  void mark(Ipa ipa, u64 page_bytes) const { bitmap.set((ipa - range.start) / page_bytes); }
  // Marks every page of `span` that lies in this range.
  void mark(IpaRange span, u64 page_bytes) const {
    const Ipa first = span.start < range.start ? range.start : span.start;
    const Ipa last = span.end() < range.end() ? span.end() : range.end();
    for (Ipa page = first; page < last; page = page + page_bytes)
      mark(page, page_bytes);
  }
};

class LoggedRanges {
 public:
  // The logged range holding `ipa`, if any.
  const LoggedRange* find(Ipa ipa) const {
    for (unsigned i = 0; i < count_; ++i) {
      if (ranges_[i].range.contains(ipa)) return &ranges_[i];
    }
    return nullptr;
  }
  // The logged range that holds all of `range`, if one does.
  const LoggedRange* holding(IpaRange range) const {
    const LoggedRange* first = find(range.start);
    return first != nullptr && range.end() <= first->range.end() ? first : nullptr;
  }
  bool overlaps(IpaRange range) const {
    for (unsigned i = 0; i < count_; ++i) {
      if (ranges_[i].range.overlaps(range)) return true;
    }
    return false;
  }
  bool full() const { return count_ == kMaxLoggedRanges; }
  bool empty() const { return count_ == 0; }
  // Whether any range is logged by the hardware's dirty state, which lives in the leaves: then a
  // leaf that goes (or stops being dirty) must hand its state to the bitmap.
  bool any_by_hardware() const { return by_hardware_ != 0; }
  // Marks the pages of `span` that any logged range holds.
  void mark(IpaRange span, u64 page_bytes) const {
    for (unsigned i = 0; i < count_; ++i) {
      if (ranges_[i].range.overlaps(span)) ranges_[i].mark(span, page_bytes);
    }
  }
  void add(const LoggedRange& logged) {
    ranges_[count_++] = logged;
    if (logged.tracking == DirtyTracking::hardware) ++by_hardware_;
  }
  // Removes the logged range that is exactly `range`; false if there is none.
  bool remove(IpaRange range) {
    for (unsigned i = 0; i < count_; ++i) {
      if (ranges_[i].range == range) {
        if (ranges_[i].tracking == DirtyTracking::hardware) --by_hardware_;
        ranges_[i] = ranges_[--count_];
        return true;
      }
    }
    return false;
  }

 private:
  LoggedRange ranges_[kMaxLoggedRanges] = {};
  unsigned count_ = 0;
  unsigned by_hardware_ = 0;
};

}  // namespace s2pt
