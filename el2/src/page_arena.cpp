#include "page_arena.hpp"

#include "runtime.hpp"

namespace el2 {

void PageArena::init(s2pt::Pa start, u64 bytes) {
  start_ = start.raw;
  units_ = bytes / kUnit < kMaxUnits ? bytes / kUnit : kMaxUnits;
}

void PageArena::mark(u64 first, u64 count, bool value) {
  for (u64 u = first; u < first + count; ++u) {
    const u64 bit = u64{1} << (u % 64);
    bitmap_[u / 64] = value ? bitmap_[u / 64] | bit : bitmap_[u / 64] & ~bit;
  }
}

s2pt::Result<s2pt::Pa> PageArena::alloc(u64 bytes, bool zeroed) {
  if (bytes == 0 || bytes % kUnit != 0) return s2pt::Status::bad_attributes;
  const u64 count = bytes / kUnit;
  // Blocks are aligned to their size (a power of two): concatenated roots and huge-page backing
  // need it. The arena start is 1 MiB aligned; larger alignments are found by address.
  u64 align = 1;
  while (align < count)
    align <<= 1;
  const u64 align_bytes = align * kUnit;
  u64 first = ((start_ + align_bytes - 1) & ~(align_bytes - 1)) - start_;
  first /= kUnit;
  for (; first + count <= units_; first += align) {
    bool free_run = true;
    for (u64 u = first; u < first + count && free_run; ++u)
      free_run = !used(u);
    if (!free_run) continue;
    mark(first, count, true);
    in_use_ += count;
    const s2pt::Pa pa{start_ + first * kUnit};
    if (zeroed) fill_bytes(phys_to_virt(pa), 0, bytes);
    return pa;
  }
  return s2pt::Status::no_memory;
}

void PageArena::free(s2pt::Pa pa, u64 bytes) {
  const u64 count = bytes / kUnit;
  const u64 first = unit_of(pa);
  for (u64 u = first; u < first + count; ++u) {
    if (!used(u)) fatal("arena: double free", pa.raw);
  }
  mark(first, count, false);
  in_use_ -= count;
}

PageArena& arena() {
  static PageArena instance;
  return instance;
}

}  // namespace el2
