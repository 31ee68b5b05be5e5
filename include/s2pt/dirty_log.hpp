// Dirty logging for live migration: the types of Table::enable_dirty_log and its companions.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

// A bitmap the caller owns, one bit per granule page: bit i of words[i / 64] is the page at
// `base + i * page` of whatever range the bitmap describes. `bits` is how many bits the words
// hold (the bitmap must cover the range: bitmap_too_small otherwise).
struct DirtyBitmap {
  u64* words = nullptr;
  u64 bits = 0;

  constexpr bool covers(u64 pages) const { return words != nullptr && bits >= pages; }
  // The fault path sets bits from any number of CPUs at once.
  void set(u64 page) const {
    __atomic_fetch_or(&words[page / 64], u64{1} << (page % 64), __ATOMIC_RELAXED);
  }
  bool test(u64 page) const {
    return (__atomic_load_n(&words[page / 64], __ATOMIC_RELAXED) >> (page % 64)) & 1;
  }
};

enum class BlockSplitting : u8 {
  // Blocks stay until a write faults on them: the fault splits that one block into read-only
  // pages (break-before-make, with a table page from the faulting CPU's cache) and makes the
  // written page writable. What is never written stays a block.
  lazy,
  // enable_dirty_log splits every block of the range to pages first (budgeted, as split() is),
  // so that no fault has to.
  eager,
};

enum class DirtyTracking : u8 {
  // Write-protected pages; the first write to each takes a fault that logs it.
  write_protect,
  // FEAT_HAFDBS: writable pages become writable-clean (read-only with DBM), and the hardware
  // turns them writable on their first write, with no fault; clear_dirty collects them. Needs
  // the feature (missing_feature) and eager splitting (bad_flags): a block has one dirty state.
  hardware,
};

struct DirtyLogOptions {
  DirtyTracking tracking = DirtyTracking::write_protect;
  BlockSplitting blocks = BlockSplitting::lazy;
  // Eager splitting: at most this many table pages per call (budget_exhausted: call again).
  u64 split_page_budget = ~u64{0};
};

// How many ranges of one table may be logged at once (memslots being migrated together).
inline constexpr unsigned kMaxLoggedRanges = 16;

}  // namespace s2pt
