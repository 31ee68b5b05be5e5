// The caches of one modelled CPU: a TLB of final translations (stage-2-only and combined
// stage-1+2 entries) and a walk cache of intermediate table entries. Bounded; what happens when
// full is the machine's choice (drop the fill, or evict).
#pragma once

#include <unordered_map>
#include <vector>

#include "s2pt/pte.hpp"

namespace s2pt::sim {

struct TlbEntry {
  Vmid vmid{};
  bool combined = false;  // a stage-1+2 entry (the guest's stage 1 is the identity in the model)
  Level level{kLastLevel};
  Ipa base{};  // start of the leaf's region
  u64 bytes = 0;
  Pa pa{};  // output address of `base`
  Perm perm = Perm::none;
  MemType mem = MemType::normal_wb;
  u64 descriptor = 0;  // the descriptor it was filled from
  u64 fill_time = 0;
  bool stale = false;  // reported stale by an oracle: later accesses through it are reported

  bool contains(Ipa ipa) const { return ipa >= base && ipa - base < bytes; }
};

struct WalkEntry {
  Vmid vmid{};
  Level level{0};  // level of the table descriptor it caches
  Ipa base{};      // start of the region the descriptor translates
  u64 bytes = 0;
  Pa next{};  // the next-level table page
  u64 fill_time = 0;
  bool stale = false;

  bool contains(Ipa ipa) const { return ipa >= base && ipa - base < bytes; }
};

// Keyed by VMID, level and base: one lookup per possible level finds an entry. Stage-2-only and
// combined entries are kept apart (they answer to different TLBIs).
class Tlb {
 public:
  using Map = std::unordered_map<u64, TlbEntry>;
  using WalkMap = std::unordered_map<u64, WalkEntry>;

  static u64 key(Vmid vmid, Level level, Ipa base) {
    return (u64{vmid.raw} << 48) | (static_cast<u64>(level.value() & 7) << 44) |
           ((base.raw >> 12) & ((u64{1} << 44) - 1));
  }

  Map& entries(bool combined) { return combined ? combined_ : stage2_; }
  const Map& entries(bool combined) const { return combined ? combined_ : stage2_; }
  WalkMap& walks() { return walks_; }
  const WalkMap& walks() const { return walks_; }
  std::size_t size() const { return stage2_.size() + combined_.size(); }

  TlbEntry* find(Vmid vmid, bool combined, Level level, Ipa ipa, u64 level_bytes) {
    Map& map = entries(combined);
    auto it = map.find(key(vmid, level, ipa.align_down(level_bytes)));
    return it == map.end() ? nullptr : &it->second;
  }
  WalkEntry* find_walk(Vmid vmid, Level level, Ipa ipa, u64 level_bytes) {
    auto it = walks_.find(key(vmid, level, ipa.align_down(level_bytes)));
    return it == walks_.end() ? nullptr : &it->second;
  }

 private:
  Map stage2_;
  Map combined_;
  WalkMap walks_;
};

}  // namespace s2pt::sim
