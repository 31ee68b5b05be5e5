// A per-CPU cache of zeroed table pages (as Linux's kvm_mmu_memory_cache): the fault path takes
// its table pages from here, so it never allocates while other walkers are running. The caller
// tops the cache up outside any lock, before handling the fault.
#pragma once

#include "s2pt/mm.hpp"

namespace s2pt {

class PageCache {
 public:
  // Enough for one fault on any geometry: a table for every level below the root.
  static constexpr unsigned kCapacity = 8;

  // `walker_slot` is the reclaimer slot of the CPU that owns this cache (Reclaimer::kWalkerSlots).
  PageCache(u64 page_bytes, unsigned walker_slot)
      : page_bytes_(page_bytes), walker_slot_(walker_slot) {}
  PageCache(const PageCache&) = delete;
  PageCache& operator=(const PageCache&) = delete;

  // Fills the cache up to `count` pages (at most kCapacity). no_memory if the allocator ran dry;
  // the pages obtained so far stay in the cache.
  Status topup(Mm& mm, unsigned count = kCapacity) {
    if (count > kCapacity) count = kCapacity;
    while (size_ < count) {
      Result<Pa> page = mm.alloc_zeroed(page_bytes_);
      if (!page.ok()) return page.status();
      pages_[size_++] = page.value();
    }
    return Status::ok;
  }
  // Returns every cached page to `mm`.
  void drain(Mm& mm) {
    while (size_ > 0)
      mm.free(pages_[--size_], page_bytes_);
  }

  // A zeroed page, or no_memory when the cache is empty.
  Result<Pa> take() {
    if (size_ == 0) return Status::no_memory;
    return pages_[--size_];
  }
  // Gives back a page taken but not used (still zeroed).
  void put_back(Pa page) { pages_[size_++] = page; }

  unsigned size() const { return size_; }
  u64 page_bytes() const { return page_bytes_; }
  unsigned walker_slot() const { return walker_slot_; }

 private:
  u64 page_bytes_;
  unsigned walker_slot_;
  unsigned size_ = 0;
  Pa pages_[kCapacity];
};

}  // namespace s2pt
