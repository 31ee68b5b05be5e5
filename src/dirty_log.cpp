// Dirty logging by write protection: enable, disable and harvest (clear_dirty). The fault path's
// half (a write to a logged page makes it writable and sets its bit) is in fault.cpp.
#include "pending_invalidation.hpp"
#include "s2pt/table.hpp"
#include "validate.hpp"
#include "walker.hpp"

namespace s2pt {
namespace {

u64 pages_in(const TableCore& core, IpaRange range) {
  return range.size >> granule_shift(core.geometry().granule());
}

// Write-protects the leaves of the range whose pages are marked in `cleared` (bit i: page
// range.start + i), all under one invalidation.
class Rearm {
 public:
  Rearm(IpaRange range, DirtyBitmap cleared, u64 page_bytes)
      : range_(range), cleared_(cleared), page_bytes_(page_bytes) {}

  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_busy()) return Status::again;
    if (!ctx.old.is_valid() || !has(ctx.old.perm(), Perm::write)) return Status::ok;
    if (!any_cleared(ctx.span())) return Status::ok;
    // A writable block under logging was mapped so by the caller; it is write-protected whole
    // (what was not harvested of it keeps its bits).
    ctx.set(ctx.old.with_perm(without(ctx.old.perm(), Perm::write)));
    pending_.add(ctx);
    return Status::ok;
  }

  PendingInvalidation& pending() { return pending_; }

 private:
  bool any_cleared(IpaRange span) const {
    const u64 first = (span.start - range_.start) / page_bytes_;
    const u64 count = span.size / page_bytes_;
    for (u64 i = first; i < first + count; ++i) {
      if (cleared_.test(i)) return true;
    }
    return false;
  }

  IpaRange range_;
  DirtyBitmap cleared_;
  u64 page_bytes_;
  PendingInvalidation pending_;
};

}  // namespace

Progress Table::enable_dirty_log(IpaRange range, DirtyBitmap bitmap,
                                 const DirtyLogOptions& options) {
  const LoggedRanges& logged = core_.logged();
  const Status input = first_failure(
      {options.blocks == BlockSplitting::lazy || options.blocks == BlockSplitting::eager
           ? Status::ok
           : Status::bad_flags,
       bitmap.covers(pages_in(core_, range)) ? Status::ok : Status::bitmap_too_small,
       logged.overlaps(range) ? Status::already_logging : Status::ok,
       logged.full() ? Status::too_many_logged_ranges : Status::ok});
  if (Status s = check_call(core_, range, input); s != Status::ok) return {s, 0};
  if (options.blocks == BlockSplitting::eager) {
    const Progress split_done = split(range, kLastLevel, options.split_page_budget);
    if (!split_done.ok()) return {split_done.status, 0};
  }
  const Progress protected_done = write_protect(range);
  if (!protected_done.ok()) return protected_done;
  core_.logged().add(LoggedRange{range, bitmap});
  return {Status::ok, range.size};
}

Progress Table::disable_dirty_log(IpaRange range, bool collapse_blocks) {
  if (Status s = check_call(core_, range); s != Status::ok) return {s, 0};
  if (!core_.logged().remove(range)) return {Status::not_logging, 0};
  if (collapse_blocks) return collapse(range);
  return {Status::ok, range.size};
}

Progress Table::clear_dirty(IpaRange range, DirtyBitmap mask, DirtyBitmap cleared) {
  const LoggedRange* logged = core_.logged().holding(range);
  const u64 pages = pages_in(core_, range);
  const Status input = first_failure(
      {logged != nullptr ? Status::ok : Status::not_logging,
       mask.covers(pages) && cleared.covers(pages) ? Status::ok : Status::bitmap_too_small});
  if (Status s = check_call(core_, range, input); s != Status::ok) return {s, 0};

  // Take the bits first: no fault runs meanwhile (this call is exclusive), and a page written
  // after this call returns faults again on the write protection restored below.
  const u64 offset =
      pages_in(core_, IpaRange{logged->range.start, range.start - logged->range.start});
  bool any = false;
  for (u64 word = 0; word < (pages + 63) / 64; ++word) {
    const u64 wanted = mask.words[word];
    u64 taken = 0;
    for (u64 bits = wanted; bits != 0; bits &= bits - 1) {
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
  if (!any) return {Status::ok, range.size};

  Rearm rearm(range, cleared, core_.geometry().page_bytes());
  const Progress done = walk(core_, range, rearm);
  rearm.pending().complete(core_.maintenance());
  if (done.ok()) return {Status::ok, range.size};
  // Not every page taken was write-protected again: give the bits back, so that the pages are
  // reported (and protected) by the next call rather than lost.
  for (u64 i = 0; i < pages; ++i) {
    if (cleared.test(i)) logged->bitmap.set(offset + i);
  }
  return {done.status, 0};
}

}  // namespace s2pt
