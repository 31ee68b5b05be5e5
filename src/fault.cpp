// handle_fault: the shared (concurrent) stage-2 fault path.
#include "s2pt/table.hpp"
#include "subtree.hpp"
#include "validate.hpp"
#include "walker.hpp"

namespace s2pt {
namespace {

class FaultVisitor {
 public:
  // `logged`: the logged range holding the faulting IPA, if any. There the fault maps pages
  // only, and a write (a request for write permission) is logged.
  FaultVisitor(const FaultRequest& fault, PageCache& cache, u64 page_bytes,
               const LoggedRange* logged)
      : fault_(fault),
        cache_(cache),
        target_bytes_(logged != nullptr ? page_bytes : fault.leaf_bytes),
        page_bytes_(page_bytes),
        hardware_(logged != nullptr && logged->tracking == DirtyTracking::hardware &&
                  has(fault.attrs.perm, Perm::write)),
        log_(logged != nullptr && has(fault.attrs.perm, Perm::write) && !hardware_ ? logged
                                                                                   : nullptr) {}

  // No table hooks: the walker descends through tables on its own.
  Status leaf(WalkContext& ctx) {
    // Below the level where the requested block would go, a table sits in its place (part of
    // the block's range is mapped or annotated, or another CPU just linked one): map the
    // faulting page only.
    if (ctx.entry_bytes() < target_bytes_) target_bytes_ = page_bytes_;
    if (ctx.old.is_busy()) return Status::again;
    if (ctx.old.is_valid()) return resolve_existing(ctx);
    if (ctx.old.is_annotated()) return Status::exists;
    return ctx.entry_bytes() == target_bytes_ ? install_leaf(ctx) : install_table(ctx);
  }

  FaultOutcome outcome() const { return outcome_; }

 private:
  // The output address the request gives the start of ctx's entry.
  Pa output_for(const WalkContext& ctx) const {
    return fault_.pa + (ctx.entry_base() - fault_.ipa.align_down(fault_.leaf_bytes));
  }

  Status install_leaf(WalkContext& ctx) {
    const Pa out = output_for(ctx);
    if (memory_needs_preparing(ctx.table(), fault_.attrs)) {
      prepare_memory(ctx.table(), out, ctx.entry_bytes(), fault_.attrs, ctx.maintenance());
    }
    // Logged by the hardware: writable-clean, the guest's retried write makes it dirty.
    const Pte leaf = Pte::leaf(out, fault_.attrs, ctx.format(), ctx.level);
    if (!ctx.set(hardware_ ? leaf.writable_clean() : leaf)) return lost_race(ctx);
    outcome_ = FaultOutcome::mapped;
    mark_dirty(ctx);
    return Status::ok;
  }

  // A logged write is recorded once the page is writable in the table (the harvest, exclusive,
  // cannot run in between): a harvest that takes the bit also write-protects the page again.
  void mark_dirty(const WalkContext& ctx) {
    if (log_ != nullptr) log_->mark(ctx.entry_base(), page_bytes_);
  }

  // A logged write to a block: the block becomes a table of read-only pages (break-before-make,
  // the table page from the cache), and the walk goes on into it to the page written. Linux
  // instead maps the one page and lets the others fault again.
  Status split_logged_block(WalkContext& ctx) {
    Result<Pa> page = cache_.take();
    if (!page.ok()) return Status::no_memory;
    ctx.pages().adopt_table(page.value());
    fill_split_table(ctx.table(), page.value(), ctx.old, ctx.level);
    if (!ctx.set(Pte::locked())) {
      // Never linked: cleared and back to the cache.
      ctx.pages().clear_unlinked(page.value());
      ctx.pages().disown_table(page.value());
      cache_.put_back(page.value());
      return lost_race(ctx);
    }
    ctx.maintenance().invalidate(InvalidationScope{
        .range = IpaRange{ctx.entry_base(), ctx.entry_bytes()},
        .leaf_level = LevelHint::at(ctx.level),
    });
    ctx.set(Pte::table(page.value(), ctx.oa()));  // nobody else writes a locked entry
    return Status::ok;                            // the walker descends into it
  }

  Status install_table(WalkContext& ctx) {
    Result<Pa> page = cache_.take();
    if (!page.ok()) return Status::no_memory;
    ctx.pages().adopt_table(page.value());
    if (!ctx.set(Pte::table(page.value(), ctx.oa()))) {
      // Never linked, never seen by any walker: straight back to the cache, still zeroed.
      ctx.pages().disown_table(page.value());
      cache_.put_back(page.value());
      return lost_race(ctx);
    }
    return Status::ok;  // the walker descends into it
  }

  // Another CPU changed the entry between our read and our compare-and-swap; ctx.old holds what
  // it wrote.
  Status lost_race(WalkContext& ctx) {
    if (ctx.old.is_table(ctx.level)) return Status::ok;  // descend into theirs
    if (ctx.old.is_valid()) return resolve_existing(ctx);
    return ctx.old.is_annotated() ? Status::exists : Status::again;
  }

  // The IPA is mapped: a permission or access-flag fault, or a fault another CPU resolved.
  Status resolve_existing(WalkContext& ctx) {
    const Ipa page = fault_.ipa.align_down(page_bytes_);
    const Pa have =
        ctx.old.output_address(ctx.oa()).align_down(ctx.entry_bytes()) + (page - ctx.entry_base());
    const Pa want = fault_.pa + (page - fault_.ipa.align_down(fault_.leaf_bytes));
    if (have != want || !ctx.old.has_memtype(fault_.attrs.mem, ctx.format())) {
      return Status::exists;
    }
    if (log_ != nullptr && ctx.entry_bytes() > page_bytes_) return split_logged_block(ctx);
    const Pte old = ctx.old;
    Pte next = old.with_perm(old.perm() | fault_.attrs.perm).with_af(true);
    if (hardware_ && !old.dbm()) {
      next = next.writable_clean();  // logged by the hardware from now on
    } else if (hardware_ && !has(old.perm(), Perm::write)) {
      // A write fault on a writable-clean page: the hypervisor runs without VTCR_EL2.HD (see
      // Table::vtcr()). Record the write as the hardware would have: the page becomes dirty.
      next = old.with_perm(old.perm() | Perm::write).with_af(true);
    }
    if (next == old) {
      // Another CPU resolved it. If it relaxed permissions, it invalidated only its own TLB:
      // this CPU may still hold the entry that faulted, and would fault on it again.
      ctx.maintenance().invalidate_local(ctx.entry_base(), ctx.level);
      outcome_ = FaultOutcome::already_resolved;
      mark_dirty(ctx);
      return Status::ok;
    }
    prepare_for_exec(ctx.table(), old, next, ctx.level, ctx.maintenance());
    if (!ctx.set(next)) return Status::again;
    if (next.perm() != old.perm() || next.dbm() != old.dbm()) {
      // This CPU's TLB may hold the entry with its old permissions: gone before we return. Other
      // CPUs' copies grant less than the table, so at worst they fault and come here too
      // (Linux's local invalidation on this path, __kvm_tlb_flush_vmid_ipa_nsh).
      ctx.maintenance().invalidate_local(ctx.entry_base(), ctx.level);
      outcome_ = FaultOutcome::relaxed;
    } else {
      outcome_ = FaultOutcome::made_young;  // a translation with AF clear is never cached
    }
    mark_dirty(ctx);
    return Status::ok;
  }

  const FaultRequest& fault_;
  PageCache& cache_;
  u64 target_bytes_;
  u64 page_bytes_;
  bool hardware_;           // a write in a range logged by the hardware's dirty state
  const LoggedRange* log_;  // a write in a range logged by write protection
  FaultOutcome outcome_ = FaultOutcome::already_resolved;
};

}  // namespace

Result<FaultOutcome> Table::handle_fault(const FaultRequest& fault, PageCache& cache) {
  const Geometry& g = core_.geometry();
  if (fault.ipa.raw >= g.ipa_limit()) return Status::ipa_out_of_range;
  if (fault.leaf_bytes != g.page_bytes() && !g.is_leaf_size(fault.leaf_bytes)) {
    return Status::unsupported;
  }
  if (Status s = check_output(g, fault.pa, fault.leaf_bytes); s != Status::ok) return s;
  if (!fault.pa.aligned(fault.leaf_bytes)) return Status::unaligned;
  if (Status s = check_attrs(fault.attrs, core_.geometry()); s != Status::ok) return s;
  if (cache.page_bytes() != g.page_bytes() || cache.walker_slot() >= Reclaimer::kWalkerSlots) {
    return Status::mismatched_cache;
  }
  if (!core_.has_root()) return Status::destroyed;
  // A fault may need a table at every level below the root. Checking first means the walk never
  // links a table it then cannot fill: no empty table is ever left behind.
  if (cache.size() < g.levels() - 1) return Status::no_memory;

  FaultVisitor visitor(fault, cache, g.page_bytes(), core_.logged().find(fault.ipa));
  // Table pages that an exclusive operation unlinked stay allocated while this walk may hold them.
  Reclaimer::Guard inside(core_.reclaimer(), cache.walker_slot());
  const Progress p = walk(core_, IpaRange{fault.ipa.align_down(g.page_bytes()), g.page_bytes()},
                          visitor, WalkMode::shared, cache.walker_slot());
  if (!p.ok()) return p.status;
  // Under the locking rules nothing is retired while a fault is inside. A caller that lets an
  // unmap run beside it may have had this walk's write land in a detached table (kept allocated
  // by the guard, but no longer translating): the fault is not reported done.
  if (inside.retired_meanwhile()) return Status::again;
  return visitor.outcome();
}

}  // namespace s2pt
