// Dirty logging: enable, disable, sync and harvest (clear_dirty), by write protection or by the
// hardware's dirty state (FEAT_HAFDBS). The fault path's half (a write to a write-protected
// logged page makes it writable and sets its bit) is in fault.cpp; WalkContext::set keeps a
// dirty state the hardware recorded while software replaced a DBM leaf.
#include "pending_invalidation.hpp"
#include "s2pt/table.hpp"
#include "subtree.hpp"
#include "validate.hpp"
#include "walker.hpp"

namespace s2pt {
namespace {

u64 pages_in(const TableCore& core, IpaRange range) {
  return range.size >> granule_shift(core.geometry().granule());
}

// Arms every writable leaf of the range, all under one invalidation: until it completes, a TLB
// may keep the writable translation, and writes through it would be seen by nobody.
class Arm {
 public:
  explicit Arm(DirtyTracking tracking) : tracking_(tracking) {}

  Status leaf(WalkContext& ctx) {
    if (Status s = Status::ok;
        !leaf_to_change(ctx, s, [&] { return has(ctx.old.perm(), Perm::write); })) {
      return s;
    }
    ctx.set(armed_for_logging(ctx.old, tracking_));
    pending_.add(ctx);
    return Status::ok;
  }
  PendingInvalidation& pending() { return pending_; }

 private:
  DirtyTracking tracking_;
  PendingInvalidation pending_;
};

// The harvest's walk: the pages of the range whose bit is set in `cleared` (taken from the
// bitmap) or that the hardware made dirty (and are in `mask`) are armed again, all under one
// invalidation; the hardware's ones are added to `cleared`.
class Rearm {
 public:
  Rearm(IpaRange range, DirtyBitmap mask, DirtyBitmap cleared, const LoggedRange& logged,
        u64 page_bytes)
      : range_(range), mask_(mask), cleared_(cleared), logged_(logged), page_bytes_(page_bytes) {}

  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_busy()) return Status::again;
    if (!ctx.old.is_valid() || !has(ctx.old.perm(), Perm::write)) return Status::ok;
    const IpaRange span = ctx.span();
    const u64 first = (span.start - range_.start) / page_bytes_;
    const u64 count = span.size / page_bytes_;
    bool harvested = false;
    for (u64 i = first; i < first + count; ++i) {
      if (ctx.old.hw_dirty() && mask_.test(i) && !cleared_.test(i)) cleared_.set(i);
      harvested = harvested || cleared_.test(i);
    }
    if (!harvested) return Status::ok;
    // A writable block under logging was mapped so before logging began: it is armed whole.
    // A dirty leaf's state goes to the caller in `cleared`, not back to the bitmap.
    ctx.set(armed_for_logging(ctx.old, logged_.tracking), DirtyHandoff::reported);
    pending_.add(ctx);
    return Status::ok;
  }
  PendingInvalidation& pending() { return pending_; }

 private:
  IpaRange range_;
  DirtyBitmap mask_;
  DirtyBitmap cleared_;
  const LoggedRange& logged_;
  u64 page_bytes_;
  PendingInvalidation pending_;
};

// Copies the hardware's dirty state of the range's pages into the logged bitmap.
class Sync {
 public:
  Sync(const LoggedRange& logged, u64 page_bytes) : logged_(logged), page_bytes_(page_bytes) {}
  Status leaf(ReadContext& ctx) {
    if (!ctx.old.is_valid() || !ctx.old.hw_dirty()) return Status::ok;
    const IpaRange span = ctx.span();
    for (Ipa page = span.start; page < span.end(); page = page + page_bytes_)
      logged_.mark(page, page_bytes_);
    return Status::ok;
  }

 private:
  const LoggedRange& logged_;
  u64 page_bytes_;
};

// When logging by the hardware stops: writable-clean and dirty leaves become plainly writable
// again, and the dirty ones leave their state in the bitmap (WalkContext::set). Adding write
// permission needs no invalidation (a cached writable-clean entry already lets writes through).
class Disarm {
 public:
  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_busy()) return Status::again;
    if (!ctx.old.is_valid() || !ctx.old.dbm()) return Status::ok;
    ctx.set(ctx.old.with_dbm(false).with_perm(ctx.old.perm() | Perm::write));
    return Status::ok;
  }
};

}  // namespace

Progress Table::enable_dirty_log(IpaRange range, DirtyBitmap bitmap,
                                 const DirtyLogOptions& options) {
  const LoggedRanges& logged = core_.logged();
  const bool hardware = options.tracking == DirtyTracking::hardware;
  const bool known =
      (options.tracking == DirtyTracking::write_protect || hardware) &&
      (options.blocks == BlockSplitting::lazy || options.blocks == BlockSplitting::eager);
  const Status input = first_failure(
      known ? Status::ok : Status::bad_flags,
      hardware && !core_.features().hw_dirty ? Status::missing_feature : Status::ok,
      // The hardware keeps one dirty state per leaf: a block would be reported whole.
      hardware && options.blocks != BlockSplitting::eager ? Status::bad_flags : Status::ok,
      bitmap.covers(pages_in(core_, range)) ? Status::ok : Status::bitmap_too_small,
      logged.overlaps(range) ? Status::already_logging : Status::ok,
      logged.full() ? Status::too_many_logged_ranges : Status::ok);
  if (Status s = check_call(core_, range, input); s != Status::ok) return {s, 0};
  if (options.blocks == BlockSplitting::eager) {
    const Progress split_done = split(range, kLastLevel, options.split_page_budget);
    if (!split_done.ok()) return {split_done.status, 0};
  }
  Arm arm(options.tracking);
  const Progress armed_done = walk(core_, range, arm);
  arm.pending().complete(core_.maintenance());
  if (!armed_done.ok()) return {armed_done.status, 0};
  core_.logged().add(LoggedRange{range, bitmap, options.tracking});
  return {Status::ok, range.size};
}

Progress Table::disable_dirty_log(IpaRange range, bool collapse_blocks) {
  if (Status s = check_call(core_, range); s != Status::ok) return {s, 0};
  const LoggedRange* logged = core_.logged().holding(range);
  if (logged == nullptr || logged->range != range) return {Status::not_logging, 0};
  if (logged->tracking == DirtyTracking::hardware) {
    Disarm disarm;
    if (const Progress p = walk(core_, range, disarm); !p.ok()) return p;
  }
  core_.logged().remove(range);
  if (collapse_blocks) return collapse(range);
  return {Status::ok, range.size};
}

Progress Table::sync_dirty(IpaRange range) {
  const LoggedRange* logged = core_.logged().holding(range);
  if (Status s = check_call(core_, range, logged != nullptr ? Status::ok : Status::not_logging);
      s != Status::ok) {
    return {s, 0};
  }
  Sync sync(*logged, core_.geometry().page_bytes());
  return visit(core_, range, sync);
}

Progress Table::clear_dirty(IpaRange range, DirtyBitmap mask, DirtyBitmap cleared) {
  const LoggedRange* logged = core_.logged().holding(range);
  const u64 pages = pages_in(core_, range);
  const Status input = first_failure(
      logged != nullptr ? Status::ok : Status::not_logging,
      mask.covers(pages) && cleared.covers(pages) ? Status::ok : Status::bitmap_too_small);
  if (Status s = check_call(core_, range, input); s != Status::ok) return {s, 0};

  // Take the bits first: no fault runs meanwhile (this call is exclusive), and a page written
  // after this call returns faults again on the write protection restored below.
  const u64 offset =
      pages_in(core_, IpaRange{logged->range.start, range.start - logged->range.start});
  bool any = false;
  for (u64 word = 0; word < (pages + 63) / 64; ++word) {
    u64 taken = 0;
    for (u64 bits = mask.words[word]; bits != 0; bits &= bits - 1) {
      const u64 i = word * 64 + static_cast<u64>(__builtin_ctzll(bits));
      if (i >= pages) break;
      const u64 page = offset + i;
      const u64 bit = u64{1} << (page % 64);
      u64* dirty_word = &logged->bitmap.words[page / 64];
      if ((__atomic_fetch_and(dirty_word, ~bit, __ATOMIC_RELAXED) & bit) != 0) {
        taken |= u64{1} << (i % 64);
      }
    }
    cleared.words[word] = taken;
    any = any || taken != 0;
  }
  // By write protection only the bits tell what is dirty; the hardware's state is in the leaves.
  if (!any && logged->tracking == DirtyTracking::write_protect) return {Status::ok, range.size};

  Rearm rearm(range, mask, cleared, *logged, core_.geometry().page_bytes());
  const Progress done = walk(core_, range, rearm);
  rearm.pending().complete(core_.maintenance());
  if (done.ok()) return {Status::ok, range.size};
  // Not every page taken was armed again: give the bits back, so that the pages are reported
  // (and armed) by the next call rather than lost.
  for (u64 i = 0; i < pages; ++i) {
    if (cleared.test(i)) logged->bitmap.set(offset + i);
  }
  return {done.status, 0};
}

}  // namespace s2pt
