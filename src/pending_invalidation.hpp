// Collects the leaves an operation changed without break-before-make (permissions), so that one
// planned invalidation covers all of them before the operation returns.
#pragma once

#include "walker.hpp"

namespace s2pt {

class PendingInvalidation {
 public:
  void add(const WalkContext& ctx) {
    const Ipa base = ctx.entry_base();
    const Ipa end = ctx.entry_end();
    if (empty_ || base < start_) start_ = base;
    if (empty_ || end > end_) end_ = end;
    empty_ = false;
    levels_.add(ctx.level);
  }

  // Completes the invalidation of everything added; nothing if nothing was.
  void complete(Maintenance& m) {
    if (empty_) return;
    m.invalidate(InvalidationScope{
        .range = IpaRange{start_, end_ - start_},
        .leaf_level = LevelHint::of(levels_),
        .leaf_only = true,
    });
    empty_ = true;
    levels_ = LevelSet{};
  }

 private:
  bool empty_ = true;
  Ipa start_;
  Ipa end_;
  LevelSet levels_;
};

}  // namespace s2pt
