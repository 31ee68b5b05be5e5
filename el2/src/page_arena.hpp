// The Mm of the EL2 harness: 4 KiB units of RAM handed out first-fit, each block aligned to its
// size, with reference-count storage per unit. Calls come from the core's exclusive operations,
// which the harness serialises, so the arena needs no lock of its own.
#pragma once

#include "platform.hpp"
#include "s2pt/mm.hpp"

namespace el2 {

class PageArena final : public s2pt::Mm {
 public:
  static constexpr u64 kUnit = 4096;
  static constexpr u64 kMaxUnits = 65536;  // 256 MiB

  void init(s2pt::Pa start, u64 bytes);

  s2pt::Result<s2pt::Pa> alloc_zeroed(u64 bytes) override { return alloc(bytes, true); }
  // Guest memory need not be zeroed: clearing tens of MiB per scenario costs seconds under TCG.
  s2pt::Result<s2pt::Pa> alloc(u64 bytes, bool zeroed);
  void free(s2pt::Pa pa, u64 bytes) override;
  void* phys_to_virt(s2pt::Pa pa) override { return reinterpret_cast<void*>(pa.raw); }
  u32* refcount(s2pt::Pa pa) override { return &refs_[unit_of(pa)]; }
  // Identity-mapped RAM, a count per unit: the same as the two calls above, without the calls.
  s2pt::MmLinearMap linear_map() const override {
    return {.phys_base = s2pt::Pa{start_},
            .bytes = units_ * kUnit,
            .virt_base = reinterpret_cast<u8*>(start_),
            .counts = const_cast<u32*>(refs_),
            .count_shift = 12,
            .count_stride = 1};
  }

  u64 units_in_use() const { return in_use_; }
  u64 bytes_in_use() const { return in_use_ * kUnit; }

 private:
  u64 unit_of(s2pt::Pa pa) const { return (pa.raw - start_) / kUnit; }
  bool used(u64 unit) const { return (bitmap_[unit / 64] >> (unit % 64)) & 1; }
  void mark(u64 first, u64 count, bool value);

  u64 start_ = 0;
  u64 units_ = 0;
  u64 in_use_ = 0;
  u64 bitmap_[kMaxUnits / 64] = {};
  u32 refs_[kMaxUnits] = {};
};

PageArena& arena();

}  // namespace el2
