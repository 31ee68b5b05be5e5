// The ranges of a table under dirty logging, each with the caller's bitmap. Changed only by
// exclusive operations; read by the fault path (which no exclusive operation overlaps).
#pragma once

#include "s2pt/dirty_log.hpp"
#include "s2pt/geometry.hpp"

namespace s2pt {

struct LoggedRange {
  IpaRange range;
  DirtyBitmap bitmap;
  DirtyTracking tracking = DirtyTracking::write_protect;

  // Marks the page holding `ipa` dirty.
  void mark(Ipa ipa, u64 page_bytes) const { bitmap.set((ipa - range.start) / page_bytes); }
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
  void add(const LoggedRange& logged) { ranges_[count_++] = logged; }
  // Removes the logged range that is exactly `range`; false if there is none.
  bool remove(IpaRange range) {
    for (unsigned i = 0; i < count_; ++i) {
      if (ranges_[i].range == range) {
        ranges_[i] = ranges_[--count_];
        return true;
      }
    }
    return false;
  }

 private:
  LoggedRange ranges_[kMaxLoggedRanges] = {};
  unsigned count_ = 0;
};

}  // namespace s2pt
