// The host memory behind guest RAM, as a hypervisor that moves guest pages sees it: which host
// page backs each IPA page, which 2 MiB IPA blocks are backed by one aligned 2 MiB host block
// (those may be mapped as blocks), and a pool of free host memory that hands the most recently
// freed page out first, so that memory a stale translation still reaches is reused at once.
// Freed memory is poisoned before it goes back to the pool.
//
// Not thread-safe: the fault path reads it under the shared side of the table lock, the
// migrator changes it under the exclusive side.
#pragma once

#include "linux/layout.hpp"
#include "s2pt/types.hpp"

namespace el2::linux_guest {

using s2pt::Ipa;
using s2pt::Pa;

class GuestMemory {
 public:
  // Identity backing for the whole window; the spare memory goes to the pool.
  void init();

  bool contains(Ipa ipa) const { return ipa.raw >= kRamBase && ipa.raw - kRamBase < kRamBytes; }
  Pa page(Ipa ipa) const { return Pa{pages_[index(ipa)]}; }
  // The host block behind the 2 MiB block holding `ipa`, if it is backed by one.
  bool block_backed(Ipa ipa) const { return blocks_[index(ipa) / kPagesPerBlock] != 0; }

  // Moves one IPA page (or a whole 2 MiB IPA block) to fresh host memory: copies the contents,
  // updates the backing and frees the old memory (poisoned, first in line for reuse). False when
  // the pool has no memory for it. The caller has unmapped the range and holds it unmapped.
  bool move_page(Ipa ipa);
  bool move_block(Ipa ipa);

  u64 free_pages() const { return free_count_; }

 private:
  static constexpr u64 kPagesPerBlock = kBlockBytes / kPageBytes;
  static u64 index(Ipa ipa) { return (ipa.raw - kRamBase) / kPageBytes; }

  bool take_page(Pa& out);
  bool take_block(Pa& out);
  void free_page(Pa pa);
  void free_block(Pa pa);

  u64 pages_[kPages] = {};
  u8 blocks_[kBlocks] = {};
  // Free pages and free blocks: LIFO lists linked through the first word of each free page.
  u64 free_head_ = 0;
  u64 free_count_ = 0;
  u64 block_head_ = 0;
  u64 bump_ = kSpareBase;  // spare memory never handed out yet, in whole blocks
};

}  // namespace el2::linux_guest
