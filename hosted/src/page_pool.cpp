#include "s2pt/hosted/page_pool.hpp"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace s2pt::hosted {
namespace {

[[noreturn]] void die(const char* what, u64 value) {
  std::fprintf(stderr, "s2pt page pool: %s (0x%llx)\n", what,
               static_cast<unsigned long long>(value));
  std::abort();
}

void* reserve(u64 bytes, bool huge_pages) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) die("cannot reserve arena bytes", bytes);
  // Advice only: a kernel without transparent huge pages keeps 4 KiB pages, which is correct.
  if (huge_pages) (void)madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

unsigned order_of(u64 bytes) {
  return static_cast<unsigned>(__builtin_ctzll(bytes / PagePool::kUnit));
}

}  // namespace

PagePool::PagePool(const PagePoolConfig& config) : config_(config) {
  if (config_.arena_bytes % kMaxBlock != 0 || !config_.base.aligned(kMaxBlock)) {
    die("arena size and base must be multiples of 1 MiB", config_.arena_bytes);
  }
  // Over-reserve so the arena can start on a kMaxBlock boundary: blocks are aligned to their size
  // both physically and virtually.
  reservation_ =
      static_cast<std::byte*>(reserve(config_.arena_bytes + kMaxBlock, config_.huge_pages));
  const auto misalign = reinterpret_cast<std::uintptr_t>(reservation_) & (kMaxBlock - 1);
  arena_ = reservation_ + (misalign ? kMaxBlock - misalign : 0);
  const u64 units = config_.arena_bytes / kUnit;
  refcounts_ =
      static_cast<u32*>(reserve(units * kRefcountStride * sizeof(u32), config_.huge_pages));
  block_order_ = static_cast<u8*>(reserve(units, config_.huge_pages));
  static_assert(kMaxBlock == kUnit << (kOrders - 1));
  if (units > u64{1} << 32) die("arena too large for 32-bit unit numbers", config_.arena_bytes);
  u64 slots = 0;
  for (unsigned order = 0; order < kOrders; ++order)
    slots += units >> order;
  free_storage_bytes_ = slots * sizeof(u32);
  // Benchmark pools (huge pages) touch them now, outside anything timed; test pools, made by the
  // hundred, as they are used.
  void* storage =
      mmap(nullptr, free_storage_bytes_, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | (config_.huge_pages ? MAP_POPULATE : 0), -1, 0);
  if (storage == MAP_FAILED) die("cannot map the free lists", free_storage_bytes_);
  free_storage_ = static_cast<u32*>(storage);
  u32* next = free_storage_;
  for (unsigned order = 0; order < kOrders; ++order) {
    free_lists_[order].units = next;
    next += units >> order;
  }
}

PagePool::~PagePool() {
  munmap(free_storage_, free_storage_bytes_);
  munmap(refcounts_, config_.arena_bytes / kUnit * kRefcountStride * sizeof(u32));
  munmap(block_order_, config_.arena_bytes / kUnit);
  munmap(reservation_, config_.arena_bytes + kMaxBlock);
}

Result<Pa> PagePool::alloc_zeroed(u64 bytes) {
  if (bytes < kUnit || bytes > kMaxBlock || (bytes & (bytes - 1)) != 0) {
    die("unsupported block size", bytes);
  }
  std::lock_guard lock(mutex_);
  if (allocations_++ >= fail_at_) return Status::no_memory;
  const unsigned order = order_of(bytes);
  u64 offset = 0;
  FreeList& list = free_lists_[order];
  if (list.count != 0) {
    offset = u64{list.units[--list.count]} * kUnit;
    std::memset(arena_ + offset, 0, bytes);
  } else {
    offset = (bump_ + bytes - 1) & ~(bytes - 1);
    if (offset + bytes > config_.arena_bytes) return Status::no_memory;
    bump_ = offset + bytes;  // fresh arena memory is zero already
  }
  block_order_[offset / kUnit] = static_cast<u8>(order + 1);
  refcounts_[offset / kUnit * kRefcountStride] = 0;
  bytes_in_use_ += bytes;
  return config_.base + offset;
}

void PagePool::free(Pa pa, u64 bytes) {
  std::lock_guard lock(mutex_);
  free_locked(pa, bytes);
}

void PagePool::free_batch(const Pa* blocks, u64 count, u64 bytes) {
  std::lock_guard lock(mutex_);
  for (u64 i = 0; i < count; ++i)
    free_locked(blocks[i], bytes);
}

void PagePool::free_locked(Pa pa, u64 bytes) {
  const u64 offset = offset_of(pa);
  if (block_order_[offset / kUnit] != order_of(bytes) + 1)
    die("free of a block not allocated as such", pa.raw);
  block_order_[offset / kUnit] = 0;
  if (config_.poison_freed) {
    auto* words = reinterpret_cast<u32*>(arena_ + offset);
    for (u64 i = 0; i < bytes / sizeof(u32); ++i)
      words[i] = kPoison;
  }
  FreeList& list = free_lists_[order_of(bytes)];
  list.units[list.count++] = static_cast<u32>(offset / kUnit);
  bytes_in_use_ -= bytes;
}

void* PagePool::phys_to_virt(Pa pa) {
  return arena_ + offset_of(pa);
}

u32* PagePool::refcount(Pa pa) {
  return refcounts_ + offset_of(pa) / kUnit * kRefcountStride;
}

MmLinearMap PagePool::linear_map() const {
  static_assert(kUnit == u64{1} << 12);
  return {.phys_base = config_.base,
          .bytes = config_.arena_bytes,
          .virt_base = reinterpret_cast<u8*>(arena_),
          .counts = refcounts_,
          .count_shift = 12,
          .count_stride = kRefcountStride};
}

u64 PagePool::bytes_in_use() const {
  std::lock_guard lock(mutex_);
  return bytes_in_use_;
}

u64 PagePool::allocations() const {
  std::lock_guard lock(mutex_);
  return allocations_;
}

void PagePool::fail_after(u64 n) {
  std::lock_guard lock(mutex_);
  fail_at_ = allocations_ + n;
}

void PagePool::never_fail() {
  std::lock_guard lock(mutex_);
  fail_at_ = ~u64{0};
}

bool PagePool::contains(Pa pa) const {
  return pa >= config_.base && pa - config_.base < config_.arena_bytes;
}

u64 PagePool::offset_of(Pa pa) const {
  if (!contains(pa)) die("address outside the pool", pa.raw);
  return pa - config_.base;
}

}  // namespace s2pt::hosted
