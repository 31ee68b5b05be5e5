// Memory hooks: where table pages come from and how the core reaches them.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

// Where an Mm keeps its table pages and their reference counts, when one formula says it: every
// page in [phys_base, phys_base + bytes) is at virt_base + (pa - phys_base), and its count at
// counts[((pa - phys_base) >> count_shift) * count_stride]. A walk then reaches each level's
// table and count without a call. bytes == 0 (the default): the core calls phys_to_virt() and
// refcount() for every page.
struct MmLinearMap {
  Pa phys_base{};
  u64 bytes = 0;
  u8* virt_base = nullptr;
  u32* counts = nullptr;
  unsigned count_shift = 12;
  u64 count_stride = 1;

  bool covers(Pa pa) const { return pa.raw - phys_base.raw < bytes; }
  void* virt(Pa pa) const { return virt_base + (pa.raw - phys_base.raw); }
  u32* count(Pa pa) const {
    return counts + ((pa.raw - phys_base.raw) >> count_shift) * count_stride;
  }
};

class Mm {
 public:
  // A zeroed block of `bytes` (one granule, or the concatenated root of up to 16 granules),
  // aligned to its size, or no_memory. Its reference count starts at 0.
  virtual Result<Pa> alloc_zeroed(u64 bytes) = 0;
  // Returns a block obtained from alloc_zeroed. The core calls this only once no hardware or
  // software walker can reach the page any more.
  virtual void free(Pa pa, u64 bytes) = 0;
  // Returns `count` blocks of `bytes` each, as free() would one by one. Reclamation frees table
  // pages by the thousand: an allocator that takes a lock per call can take it once here.
  virtual void free_batch(const Pa* blocks, u64 count, u64 bytes) {
    for (u64 i = 0; i < count; ++i)
      free(blocks[i], bytes);
  }
  // Where the core reads and writes a table page. Concatenated root pages must be virtually
  // contiguous.
  virtual void* phys_to_virt(Pa pa) = 0;
  // Storage for the reference count of the table page at `pa` (1 + its non-zero entries while
  // linked). Accessed with atomic operations by the core.
  virtual u32* refcount(Pa pa) = 0;
  // Optional: the formula above, read once when a table is created; it must give what
  // phys_to_virt() and refcount() give for every page it covers.
  virtual MmLinearMap linear_map() const { return {}; }

 protected:
  Mm() = default;
  Mm(const Mm&) = default;
  Mm& operator=(const Mm&) = default;
  ~Mm() = default;
};

}  // namespace s2pt
