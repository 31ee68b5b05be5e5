// write_protect and relax: permission changes, which need no break-before-make but must be
// invalidated before the call returns.
#include "pending_invalidation.hpp"
#include "s2pt/table.hpp"
#include "subtree.hpp"
#include "validate.hpp"

namespace s2pt {
namespace {

class PermissionVisitor {
 public:
  PermissionVisitor(Perm remove, Perm add) : remove_(remove), add_(add) {}

  Status leaf(WalkContext& ctx) {
    Pte next;
    if (Status s = Status::ok; !leaf_to_change(ctx, s, [&] {
          next = changed(ctx);
          return next != ctx.old;
        })) {
      return s;
    }
    prepare_for_exec(ctx.table(), ctx.old, next, ctx.level, ctx.maintenance());
    ctx.set(next);
    pending_.add(ctx);
    return Status::ok;
  }

  PendingInvalidation& pending() { return pending_; }

 private:
  Pte changed(const WalkContext& ctx) const {
    const Pte old = ctx.old;
    const Pte next = old.with_perm(without(old.perm(), remove_) | add_);
    // Without its DBM bit cleared, a write-protected leaf stays writable by the hardware.
    if (has(remove_, Perm::write)) return next.with_dbm(false);
    // In a logged range write permission is granted armed: its first write is logged.
    if (has(add_, Perm::write) && !has(old.perm(), Perm::write) && !ctx.logged().empty()) {
      if (const LoggedRange* logged = ctx.logged().find(ctx.entry_base())) {
        return armed_for_logging(next, logged->tracking);
      }
    }
    return next;
  }

  Perm remove_;
  Perm add_;
  PendingInvalidation pending_;
};

// Finds a Device leaf in the range: giving one execute permission is refused before anything
// changes (see Attrs::executable_device).
class DeviceLeafFinder {
 public:
  Status leaf(ReadContext& ctx) {
    if (!ctx.old.is_leaf(ctx.level)) return Status::ok;
    const DescriptorFormat format = ctx.format();
    const bool device = ctx.old.has_memtype(MemType::device_ngnre, format) ||
                        ctx.old.has_memtype(MemType::device_ngnrne, format);
    return device ? Status::exec_on_device : Status::ok;
  }
};

Progress change_permissions(TableCore& core, IpaRange range, Perm remove, Perm add) {
  const bool known = ((static_cast<u8>(remove) | static_cast<u8>(add)) & ~kPermMask) == 0;
  if (Status s = check_call(core, range, known ? Status::ok : Status::bad_attributes);
      s != Status::ok) {
    return {s, 0};
  }
  if (has(add, Perm::exec)) {
    DeviceLeafFinder finder;
    if (const Progress found = visit(core, range, finder); !found.ok()) return {found.status, 0};
  }
  PermissionVisitor visitor(remove, add);
  const Progress progress = walk(core, range, visitor);
  // Also after a failure: what did change must not survive in a TLB when we return.
  visitor.pending().complete(core.maintenance());
  return progress;
}

}  // namespace

Progress Table::write_protect(IpaRange range) {
  return change_permissions(core_, range, Perm::write, Perm::none);
}

Progress Table::relax(IpaRange range, Perm perm) {
  return change_permissions(core_, range, Perm::none, perm);
}

}  // namespace s2pt
