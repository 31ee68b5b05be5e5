// A hosted implementation of the Mm hooks: table pages carved from one reserved arena that is
// given a fake physical address range, with leak accounting and allocation-failure injection.
#pragma once

#include <cstddef>
#include <mutex>

#include "s2pt/mm.hpp"

namespace s2pt::hosted {

struct PagePoolConfig {
  u64 arena_bytes = u64{2} << 30;  // reserved, not committed, up front
  // "Physical" address of the arena's first byte. [2 GiB, 4 GiB) fits even a 32-bit PA space.
  Pa base{u64{2} << 30};
  bool poison_freed = false;  // fill freed pages with a pattern (catches stale reads)
  // Ask the host kernel for transparent huge pages under the arena and the reference counts, as
  // a hypervisor reaches its table pages through a block-mapped linear map. For benchmarks of
  // large tables, where 4 KiB host pages would turn every table page touched into a host TLB
  // miss; small pools (tests) do better without it (each first touch zeroes 2 MiB).
  bool huge_pages = false;
};

class PagePool final : public Mm {
 public:
  explicit PagePool(const PagePoolConfig& config = {});
  ~PagePool();
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  Result<Pa> alloc_zeroed(u64 bytes) override;
  void free(Pa pa, u64 bytes) override;
  void free_batch(const Pa* blocks, u64 count, u64 bytes) override;
  void* phys_to_virt(Pa pa) override;
  u32* refcount(Pa pa) override;
  MmLinearMap linear_map() const override;

  // Bytes currently allocated and not yet freed.
  u64 bytes_in_use() const;
  // Allocations since construction.
  u64 allocations() const;
  // Makes allocation number `n` from now (0 = the next one) and every later one fail, until
  // reset; returns no_memory as a real exhaustion would.
  void fail_after(u64 n);
  void never_fail();
  bool contains(Pa pa) const;
  Pa base() const { return config_.base; }

  static constexpr u64 kUnit = 4096;              // smallest block (4K granule page)
  static constexpr u64 kMaxBlock = u64{1} << 20;  // 16 concatenated 64K root pages
  static constexpr u32 kPoison = 0xDEADBEEF;

 private:
  u64 offset_of(Pa pa) const;
  void free_locked(Pa pa, u64 bytes);  // mutex_ held

  PagePoolConfig config_;
  std::byte* reservation_ = nullptr;  // what mmap returned; the arena starts aligned inside it
  std::byte* arena_ = nullptr;
  // Reference counts, one cache line apart: CPUs faulting into different tables update their
  // counts at once, and packed counts of pages allocated one after the other would share lines.
  static constexpr u64 kRefcountStride = 64 / sizeof(u32);
  u32* refcounts_ = nullptr;
  u8* block_order_ = nullptr;  // per 4K unit: log2(size) + 1 of the live block starting here
  u64 bump_ = 0;
  // Free blocks by log2(size / kUnit), as unit numbers: each list has room for every block of
  // its size, so that freeing pages by the thousand never grows a list (with huge_pages, its
  // memory is touched when the pool is made, not during a timed reclamation).
  struct FreeList {
    u32* units = nullptr;
    u64 count = 0;
  };
  static constexpr unsigned kOrders = 9;  // kUnit .. kMaxBlock
  FreeList free_lists_[kOrders];
  u32* free_storage_ = nullptr;
  u64 free_storage_bytes_ = 0;
  u64 bytes_in_use_ = 0;
  u64 allocations_ = 0;
  u64 fail_at_ = ~u64{0};
  mutable std::mutex mutex_;
};

}  // namespace s2pt::hosted
