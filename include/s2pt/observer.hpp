// The leaf observer: how a hypervisor learns about every leaf an unmap removed (to drop its own
// reference on the guest page, to track ownership). Called after the TLB invalidation that removed
// the leaf has completed, so the page may be reused from inside the callback.
#pragma once

#include "s2pt/pte.hpp"

namespace s2pt {

struct UnmappedLeaf {
  Ipa ipa;  // start of the leaf's region
  Pa pa;    // its output address
  u64 size = 0;
  Level level = kLastLevel;
  Attrs attrs;
};

struct LeafObserver {
  void (*on_unmap)(void* context, const UnmappedLeaf& leaf) = nullptr;
  void* context = nullptr;

  constexpr explicit operator bool() const { return on_unmap != nullptr; }
  void operator()(const UnmappedLeaf& leaf) const { on_unmap(context, leaf); }
};

}  // namespace s2pt
