// Memory hooks: where table pages come from and how the core reaches them.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

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

 protected:
  Mm() = default;
  Mm(const Mm&) = default;
  Mm& operator=(const Mm&) = default;
  ~Mm() = default;
};

}  // namespace s2pt
