// flush_dcache: clean and invalidate the mapped cacheable memory of a range to PoC.
#include "leaf_removal.hpp"
#include "s2pt/table.hpp"
#include "validate.hpp"
#include "walker.hpp"

namespace s2pt {
namespace {

class FlushVisitor {
 public:
  explicit FlushVisitor(Maintenance& m) : cleaning_(m) {}
  Status leaf(WalkContext& ctx) {
    if (!ctx.old.is_leaf(ctx.level) || !ctx.needs_cleaning(ctx.old)) return Status::ok;
    const IpaRange part = ctx.span();
    cleaning_.add(ctx.old.output_address(ctx.oa()) + (part.start - ctx.entry_base()), part.size);
    return Status::ok;
  }
  void complete() { cleaning_.complete(); }

 private:
  CleanBatch cleaning_;
};

}  // namespace

Progress Table::flush_dcache(IpaRange range) {
  if (Status s = check_call(core_, range); s != Status::ok) return {s, 0};
  // With FWB nothing needs cleaning (TableCore::needs_cleaning): no walk at all.
  if (core_.fwb()) return {Status::ok, range.size};
  FlushVisitor visitor(core_.maintenance());
  const Progress p = walk(core_, range, visitor);
  visitor.complete();
  return p;
}

}  // namespace s2pt
