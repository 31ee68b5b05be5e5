// flush_dcache: clean and invalidate the mapped cacheable memory of a range to PoC.
#include "s2pt/table.hpp"
#include "validate.hpp"
#include "walker.hpp"

namespace s2pt {
namespace {

class FlushVisitor {
 public:
  Status leaf(WalkContext& ctx) {
    if (!ctx.old.is_leaf(ctx.level) || !ctx.needs_cleaning(ctx.old)) return Status::ok;
    const IpaRange part = ctx.span();
    ctx.maintenance().dc_civac(ctx.old.output_address(ctx.oa()) + (part.start - ctx.entry_base()),
                               part.size);
    flushed_ = true;
    return Status::ok;
  }
  bool flushed() const { return flushed_; }

 private:
  bool flushed_ = false;
};

}  // namespace

Progress Table::flush_dcache(IpaRange range) {
  if (Status s = check_call(core_, range); s != Status::ok) return {s, 0};
  // With FWB nothing needs cleaning (TableCore::needs_cleaning): no walk at all.
  if (core_.fwb()) return {Status::ok, range.size};
  FlushVisitor visitor;
  const Progress p = walk(core_, range, visitor);
  if (visitor.flushed()) core_.maintenance().dsb_ish();
  return p;
}

}  // namespace s2pt
