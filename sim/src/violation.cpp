#include "s2pt/sim/violation.hpp"

#include <cstdio>

namespace s2pt::sim {

const char* name(ViolationKind kind) {
  switch (kind) {
    case ViolationKind::stale_tlb:
      return "stale TLB entry";
    case ViolationKind::stale_walk_cache:
      return "stale walk-cache entry";
    case ViolationKind::stale_access:
      return "access through a stale translation";
    case ViolationKind::incomplete_tlbi:
      return "TLBI not completed by a DSB ISH";
    case ViolationKind::incomplete_cmo:
      return "DC CIVAC not completed by a DSB ISH";
    case ViolationKind::walker_read_freed:
      return "hardware walker read a freed table page";
    case ViolationKind::library_use_freed:
      return "library touched a freed table page";
    case ViolationKind::walk_cache_to_freed:
      return "walk cache points into a freed page";
    case ViolationKind::double_free:
      return "double or foreign free";
    case ViolationKind::break_before_make:
      return "break-before-make violated";
    case ViolationKind::dirty_after_unmap:
      return "unmapped page may hold dirty lines";
    case ViolationKind::unprepared_memory:
      return "mapped memory not cleaned to PoC";
    case ViolationKind::stale_icache:
      return "executable memory without I-cache invalidation";
    case ViolationKind::wrong_context:
      return "TLBI under another table's root";
    case ViolationKind::refcount:
      return "table page reference count wrong";
    case ViolationKind::leak:
      return "table pages leaked";
  }
  return "?";
}

std::string Violation::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s: cpu=%d ipa=0x%llx pa=0x%llx t=%llu op='", name(kind), cpu,
                static_cast<unsigned long long>(ipa.raw), static_cast<unsigned long long>(pa.raw),
                static_cast<unsigned long long>(time));
  return buf + op + "' " + detail;
}

}  // namespace s2pt::sim
