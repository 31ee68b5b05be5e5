// What the oracles report: which rule broke, where and when.
#pragma once

#include <string>

#include "s2pt/types.hpp"

namespace s2pt::sim {

enum class ViolationKind : u8 {
  stale_tlb,            // a TLB entry disagrees with the live table when an operation returned
  stale_walk_cache,     // a walk-cache entry disagrees with the live table at return
  stale_access,         // a guest access used a translation reported stale
  incomplete_tlbi,      // a TLBI issued by the operation had not completed (no DSB ISH) at return
  incomplete_cmo,       // a DC CIVAC had not completed (no DSB ISH) at return
  walker_read_freed,    // a hardware walker read a freed table page
  library_use_freed,    // the library reached a freed page (phys_to_virt, refcount)
  walk_cache_to_freed,  // a walk cache held a pointer into a page when it was freed
  double_free,          // a page freed twice, or a page freed that was never allocated
  break_before_make,    // a live entry changed without an invalid entry + completed TLBI between
  dirty_after_unmap,    // without FWB, an unmapped cacheable page may still hold dirty lines
  unprepared_memory,    // without FWB, a walk reached cacheable memory never cleaned to PoC
  stale_icache,         // without DIC, a walk reached executable memory whose I-cache was not
                        // invalidated
  wrong_context,        // a TLBI ran with VTTBR_EL2 naming the VMID over another table's root
  refcount,             // a table page's count is not 1 + its non-zero entries
  leak,                 // table pages left after destroy
};

const char* name(ViolationKind kind);

struct Violation {
  ViolationKind kind;
  int cpu = -1;      // the CPU involved, -1 when none
  Ipa ipa{};         // the IPA involved (start of the entry's region)
  Pa pa{};           // the PA involved (output, table page or slot)
  u64 time = 0;      // the machine's event clock
  std::string op{};  // the operation that was running (begin_op label)
  std::string detail{};

  std::string describe() const;
};

}  // namespace s2pt::sim
