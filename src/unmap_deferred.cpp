// deferred unmap, as Linux does it since 6.6: with FWB and TLBI range, leaves are cleared without
// any invalidation and one range invalidation at the end covers them all. A table left empty is
// still unlinked and invalidated on its own before it is freed (its walk-cache entries must go
// before the page is reused). Without FWB (cache maintenance is due per leaf) or without TLBI
// range it is per_entry, as in Linux; with a leaf observer too, since the observer may only hear
// of a leaf once its invalidation completed.
#include "pending_invalidation.hpp"
#include "subtree.hpp"
#include "unmap_strategies.hpp"

namespace s2pt {
namespace {

class DeferredUnmap {
 public:
  Status leaf(WalkContext& ctx) {
    if (Status s = Status::ok; !leaf_to_change(ctx, s)) return s;
    ctx.set(Pte::invalid());
    pending_.add(ctx);
    return Status::ok;
  }
  Status table_post(WalkContext& ctx) {
    prune_if_empty(ctx);
    return Status::ok;
  }
  PendingInvalidation& pending() { return pending_; }

 private:
  PendingInvalidation pending_;
};

}  // namespace

Progress unmap_deferred(TableCore& core, IpaRange range) {
  if (!core.fwb() || !core.features().tlbi_range || core.observer()) {
    return unmap_per_entry(core, range);
  }
  DeferredUnmap visitor;
  const Progress p = walk(core, range, visitor);
  visitor.pending().complete(core.maintenance());
  return p;
}

}  // namespace s2pt
