// A set of physical address ranges, merged as they are added: which memory a maintenance
// instruction has reached (cleaned to PoC, I-cache invalidated) at some point.
#pragma once

#include <iterator>
#include <map>

#include "s2pt/types.hpp"

namespace s2pt::sim {

class PaRanges {
 public:
  // Adds [start, end), merging it with the ranges it touches.
  void add(u64 start, u64 end) {
    if (start >= end) return;
    auto it = ranges_.upper_bound(start);
    if (it != ranges_.begin() && std::prev(it)->second >= start) {
      --it;
      start = it->first;
      if (it->second > end) end = it->second;
    }
    while (it != ranges_.end() && it->first <= end) {
      if (it->second > end) end = it->second;
      it = ranges_.erase(it);
    }
    ranges_.emplace(start, end);
  }
  // Whether every byte of [start, end) was added.
  bool covers(u64 start, u64 end) const {
    auto it = ranges_.upper_bound(start);
    if (it == ranges_.begin()) return false;
    --it;
    return it->first <= start && it->second >= end;
  }

 private:
  std::map<u64, u64> ranges_;  // start -> end, disjoint and not touching
};

}  // namespace s2pt::sim
