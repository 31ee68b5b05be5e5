#include "bbm_tracker.hpp"

#include <algorithm>

#include "live_table.hpp"

namespace s2pt::sim {

void BbmTracker::observe(Machine& m) {
  diff(m, nullptr);
}

void BbmTracker::observe(Machine& m, const std::vector<TlbiScope>& scopes) {
  std::vector<std::pair<u64, u64>> regions;
  for (const TlbiScope& s : scopes) {
    if (s.kind == TlbiScope::Kind::vmid_all) return observe(m);
    // A stage-1 invalidation completes no stage-2 break.
    if (s.kind != TlbiScope::Kind::stage1_all)
      regions.emplace_back(s.start.raw, s.start.raw + s.bytes);
  }
  if (!regions.empty()) diff(m, &regions);
}

void BbmTracker::diff(Machine& m, const std::vector<std::pair<u64, u64>>* regions) {
  std::lock_guard lock(mutex_);
  ++epoch_;
  auto wanted = [&](Ipa base, u64 bytes) {
    if (regions == nullptr) return true;
    for (auto [lo, hi] : *regions) {
      if (lo < base.raw + bytes && base.raw < hi) return true;
    }
    return false;
  };
  for (const AttachedTable& t : m.tables_) {
    const Geometry& g = t.geometry;
    auto compare = [&](Pa pa, Level level, Ipa base, const u64* slots, Shadow& s, u64 lo, u64 hi) {
      for (u64 i = lo; i < hi; ++i) {
        const Pte now = entry::load(slots + i);
        if (now.raw() == s.seen[i]) continue;
        transition(m, t, pa, pa + i * sizeof(u64), level, base + i * g.level_bytes(level),
                   Pte::from_raw(s.seen[i]), now);
        s.seen[i] = now.raw();
      }
    };
    auto visit = [&](Pa pa, Level level, Ipa base, const u64* slots, u64 entries, bool) {
      auto [it, fresh] = pages_.try_emplace(pa.raw);
      Shadow& s = it->second;
      // A page first seen (newly linked), or seen in a new place, has no history to check.
      if (!fresh && (s.level != level || s.base != base || s.seen.size() != entries)) fresh = true;
      s.epoch = epoch_;
      if (fresh) {
        s.level = level;
        s.base = base;
        s.seen.assign(entries, 0);
        for (u64 i = 0; i < entries; ++i)
          s.seen[i] = entry::load(slots + i).raw();
        return;
      }
      if (regions != nullptr) {
        // Only the entries whose region the completing TLBIs touch.
        const unsigned shift = g.level_shift(level);
        for (auto [lo, hi] : *regions) {
          const u64 first = lo <= base.raw ? 0 : (lo - base.raw) >> shift;
          const u64 last = hi <= base.raw ? 0 : ((hi - base.raw - 1) >> shift) + 1;
          compare(pa, level, base, slots, s, first, std::min(last, entries));
        }
        return;
      }
      // Entry by entry, atomically: the model's walker may be updating a DBM leaf meanwhile.
      u64 first_change = 0;
      while (first_change < entries &&
             entry::load(slots + first_change).raw() == s.seen[first_change])
        ++first_change;
      if (first_change == entries) return;
      compare(pa, level, base, slots, s, first_change, entries);
    };
    for_each_live_page(
        m.mm_, t, visit, [](Pa, Level, Ipa) {}, wanted);
  }
  if (regions != nullptr) return;
  // Pages no longer reachable (unlinked subtrees) and the breaks recorded in them are forgotten.
  std::erase_if(pages_, [&](const auto& p) { return p.second.epoch != epoch_; });
  std::erase_if(breaks_, [&](const auto& b) { return pages_.count(b.second.page.raw) == 0; });
}

void BbmTracker::transition(Machine& m, const AttachedTable& t, Pa page, Pa slot, Level level,
                            Ipa base, Pte before, Pte now) {
  const u64 bytes = t.geometry.level_bytes(level);
  if (before.is_valid() && now.is_valid()) {
    if (needs_break_before_make(before, now, level)) {
      m.report(Violation{.kind = ViolationKind::break_before_make,
                         .ipa = base,
                         .pa = slot,
                         .time = m.now(),
                         .detail = "valid-to-valid change with no completed TLBI between"});
    }
    return;
  }
  if (before.is_valid()) {
    breaks_[slot.raw] = Break{
        .vmid = t.vmid, .page = page, .old = before, .level = level, .base = base, .bytes = bytes};
    return;
  }
  if (!now.is_valid()) return;
  auto it = breaks_.find(slot.raw);
  if (it == breaks_.end()) return;
  if (needs_break_before_make(it->second.old, now, level)) {
    m.report(Violation{.kind = ViolationKind::break_before_make,
                       .ipa = base,
                       .pa = slot,
                       .time = m.now(),
                       .detail = "entry made valid again before the TLBI of its break completed"});
  }
  breaks_.erase(it);
}

void BbmTracker::completed(const TlbiScope& scope) {
  std::lock_guard lock(mutex_);
  // A completed break allows any new value: nothing about the slot needs remembering.
  std::erase_if(breaks_, [&](const auto& entry) {
    const Break& b = entry.second;
    return scope.covers(b.vmid, b.base, b.bytes, b.level, b.old.is_table(b.level));
  });
}

}  // namespace s2pt::sim
