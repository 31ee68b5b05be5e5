// Access-flag aging: mkyoung, mkold, test_and_clear_young.
#include "s2pt/table.hpp"
#include "validate.hpp"
#include "walker.hpp"

namespace s2pt {
namespace {

class AccessFlagVisitor {
 public:
  explicit AccessFlagVisitor(bool young) : young_(young) {}

  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_busy()) return Status::again;
    if (!ctx.old.is_valid()) return Status::ok;
    was_young_ |= ctx.old.af();
    if (ctx.old.af() != young_) ctx.set(ctx.old.with_af(young_));
    return Status::ok;
  }
  bool was_young() const { return was_young_; }

 private:
  bool young_;
  bool was_young_ = false;
};

}  // namespace

Progress Table::mkyoung(IpaRange range) {
  if (Status s = check_call(core_, range); s != Status::ok) return {s, 0};
  AccessFlagVisitor visitor(true);
  return walk(core_, range, visitor);
}

Progress Table::mkold(IpaRange range) {
  const Result<bool> young = test_and_clear_young(range);
  return young.ok() ? Progress{Status::ok, range.size} : Progress{young.status(), 0};
}

Result<bool> Table::test_and_clear_young(IpaRange range) {
  if (Status s = check_call(core_, range); s != Status::ok) return s;
  AccessFlagVisitor visitor(false);
  const Progress p = walk(core_, range, visitor);
  if (!p.ok()) return p.status;
  return visitor.was_young();
}

}  // namespace s2pt
