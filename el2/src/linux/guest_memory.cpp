#include "linux/guest_memory.hpp"

#include "runtime.hpp"

namespace el2::linux_guest {
namespace {

// Poison: what a stale translation finds in freed memory until it is handed out again. Not a
// valid descriptor, not a plausible pointer, and never a value the memory checker writes.
constexpr u64 kPoison = 0xDEAD'5EED'0BAD'F00Dull;

void copy_page(Pa to, Pa from, u64 bytes) {
  auto* dst = reinterpret_cast<volatile u64*>(to.raw);
  const auto* src = reinterpret_cast<const volatile u64*>(from.raw);
  for (u64 i = 0; i < bytes / 8; ++i)
    dst[i] = src[i];
}

void poison(Pa pa, u64 bytes) {
  auto* p = reinterpret_cast<volatile u64*>(pa.raw);
  for (u64 i = 0; i < bytes / 8; ++i)
    p[i] = kPoison;
}

}  // namespace

void GuestMemory::init() {
  for (u64 i = 0; i < kPages; ++i)
    pages_[i] = kRamBase + i * kPageBytes;
  for (u64 b = 0; b < kBlocks; ++b)
    blocks_[b] = 1;
  free_head_ = 0;
  free_count_ = 0;
  block_head_ = 0;
  bump_ = kSpareBase;
}

bool GuestMemory::take_page(Pa& out) {
  if (free_head_ == 0) {
    Pa block;
    if (!take_block(block)) return false;
    for (u64 k = kPagesPerBlock; k-- > 0;)
      free_page(block + k * kPageBytes);
  }
  out = Pa{free_head_};
  free_head_ = *reinterpret_cast<volatile u64*>(free_head_);
  --free_count_;
  return true;
}

bool GuestMemory::take_block(Pa& out) {
  if (block_head_ != 0) {
    out = Pa{block_head_};
    block_head_ = *reinterpret_cast<volatile u64*>(block_head_);
    return true;
  }
  if (bump_ + kBlockBytes > kSpareEnd) return false;
  out = Pa{bump_};
  bump_ += kBlockBytes;
  return true;
}

void GuestMemory::free_page(Pa pa) {
  poison(pa, kPageBytes);
  *reinterpret_cast<volatile u64*>(pa.raw) = free_head_;
  free_head_ = pa.raw;
  ++free_count_;
}

void GuestMemory::free_block(Pa pa) {
  poison(pa, kBlockBytes);
  *reinterpret_cast<volatile u64*>(pa.raw) = block_head_;
  block_head_ = pa.raw;
}

bool GuestMemory::move_page(Ipa ipa) {
  Pa fresh;
  if (!take_page(fresh)) return false;
  const u64 i = index(ipa);
  const Pa old{pages_[i]};
  copy_page(fresh, old, kPageBytes);
  pages_[i] = fresh.raw;
  blocks_[i / kPagesPerBlock] = 0;
  // The rest of the old block stays where it is, now backing single pages.
  free_page(old);
  return true;
}

bool GuestMemory::move_block(Ipa ipa) {
  Pa fresh;
  if (!take_block(fresh)) return false;
  const u64 first = index(ipa) / kPagesPerBlock * kPagesPerBlock;
  const bool was_block = blocks_[first / kPagesPerBlock] != 0;
  const Pa old_block{pages_[first]};
  for (u64 k = 0; k < kPagesPerBlock; ++k)
    copy_page(fresh + k * kPageBytes, Pa{pages_[first + k]}, kPageBytes);
  for (u64 k = 0; k < kPagesPerBlock; ++k) {
    if (!was_block) free_page(Pa{pages_[first + k]});
    pages_[first + k] = fresh.raw + k * kPageBytes;
  }
  if (was_block) free_block(old_block);
  blocks_[first / kPagesPerBlock] = 1;
  return true;
}

}  // namespace el2::linux_guest
