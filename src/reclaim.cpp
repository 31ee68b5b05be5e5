#include "reclaim.hpp"

#include "entry.hpp"
#include "leaf_removal.hpp"
#include "markers.hpp"

namespace s2pt {
namespace {

using Batch = RetiredPages::Batch;
using Frame = RetiredPages::Frame;

// The shared maintenance set reclamation counts in (any would do: shared sets count atomically).
constexpr unsigned kReclaimSlot = TableCore::kSharedMaintenance - 1;

// Puts `page` at the head of the batch, `link` naming it (a table page's or a log page's).
void push(TableCore& core, Batch& batch, Pa page, u64 link) {
  entry::store(core.pages().table(page),
               Pte::from_raw(batch.head != 0 ? batch.head : marker::kEndOfList));
  if (batch.head == 0) batch.tail = page;
  batch.head = link;
}

// The link naming the batch's first member, which is unlinked from it. The batch must not be
// empty.
u64 pop(TableCore& core, Batch& batch) {
  const u64 link = batch.head;
  const u64 next = entry::load(core.pages().table(marker::link_page(link))).raw();
  batch.head = marker::link_has_next(next) ? next : 0;
  return link;
}

// Names the subtree in the current batch's log page, starting a log page when there is none or
// it is full. False when no page could be had for it.
bool log_subtree(TableCore& core, const DetachedTable& t) {
  RetiredPages& r = core.retired();
  if (r.log == Pa{} || r.log_slot == core.geometry().entries_per_table()) {
    Result<Pa> page = core.pages().alloc_log_page();
    if (!page.ok()) {
      r.log = Pa{};
      return false;
    }
    push(core, r.current, page.value(), marker::link_to_log(page.value()));
    r.log = page.value();
    r.log_slot = 1;
  }
  core.pages().table(r.log)[r.log_slot++] = marker::link_to(t.table, t.level);
  return true;
}

// Retires subtrees through their own pages, when no log page can be had: each top page's first
// entry becomes its link in the batch, and the child that entry pointed to is retired in turn.
// That touches one cold page per level of each subtree, so a level at a time for up to
// kRetireBatch subtrees, their loads started together so that the misses overlap.
void link_subtrees(TableCore& core, const DetachedTable* tables, unsigned count) {
  while (count > 0) {
    DetachedTable batch[kRetireBatch];
    unsigned live = count < kRetireBatch ? count : kRetireBatch;
    for (unsigned i = 0; i < live; ++i)
      batch[i] = tables[i];
    tables += live;
    count -= live;
    while (live > 0) {
      for (unsigned i = 0; i < live; ++i)
        core.pages().prefetch_for_retire(batch[i].table);
      // Each subtree's page at this level goes; its first entry, if a table, goes in the next
      // round (the link overwrites it). Compacting in place is safe: slot `deeper` is never ahead
      // of slot `i`, which was read already.
      unsigned deeper = 0;
      for (unsigned i = 0; i < live; ++i) {
        const DetachedTable t = batch[i];
        const Pte first = t.level.is_last()
                              ? Pte::invalid()
                              : marker::original(entry::load(core.pages().table(t.table)));
        core.pages().mark_retired(t.table);
        push(core, core.retired().current, t.table, marker::link_to(t.table, t.level));
        if (first.is_table(t.level))
          batch[deeper++] = {first.table_address(core.oa()), t.level.deeper()};
      }
      live = deeper;
    }
  }
}

// Table pages on their way back to Mm, handed over kBatch at a time.
class FreeBatch {
 public:
  explicit FreeBatch(TableCore& core) : core_(core) {}
  FreeBatch(const FreeBatch&) = delete;
  FreeBatch& operator=(const FreeBatch&) = delete;
  ~FreeBatch() { flush(); }
  void add(Pa page) {
    if (pending_ == kBatch) flush();
    pages_[pending_++] = page;
  }

 private:
  static constexpr unsigned kBatch = 64;
  void flush() {
    core_.pages().free_tables(pages_, pending_);
    pending_ = 0;
  }
  TableCore& core_;
  Pa pages_[kBatch];
  unsigned pending_ = 0;
};

// Frees (part of) the subtree on the frame stack, depth first, stopping once `budget` pages were
// freed. Returns the pages freed.
u64 free_frames(TableCore& core, LeafRemoval& leaves, u64 budget) {
  RetiredPages& r = core.retired();
  const Geometry& g = core.geometry();
  const bool read_leaves = r.frames_hold_leaves && LeafRemoval::needed_for_memory(core);
  u64 freed = 0;
  FreeBatch to_free(core);
  while (!r.frames.empty() && freed < budget) {
    Frame& f = r.frames.top();
    const Level level{f.level};
    const u64 entries = f.root ? g.root_entries() : g.entries_per_table();
    u64* table = core.pages().table(f.page);
    if (level.is_last() && read_leaves && !core.observer()) {
      leaves.removed_pages(table + f.next_index, entries - f.next_index);
      f.next_index = entries;
    }
    if (!level.is_last() || read_leaves) {
      bool descended = false;
      while (f.next_index < entries && freed < budget) {
        const u64 index = f.next_index++;
        const Pte e = marker::original(entry::load(table + index));
        const Ipa ipa = f.base + index * g.level_bytes(level);
        if (e.is_table(level)) {
          const Pa child = e.table_address(core.oa());
          if (level.deeper().is_last() && !read_leaves) {
            // A last-level table whose leaves need nothing: freed without reading it.
            to_free.add(child);
            ++freed;
            continue;
          }
          descended = r.frames.push(Frame{.page = child,
                                          .level = level.deeper().value(),
                                          .next_index = 0,
                                          .base = ipa,
                                          .root = false});
          if (descended) break;
          continue;
        }
        if (read_leaves && e.is_leaf(level)) leaves.removed(e, level, ipa);
      }
      // Descended, or out of budget: come back to this table later.
      if (descended || f.next_index < entries || freed >= budget) continue;
    }
    if (f.root) {
      if (freed > 0 && freed + g.root_pages() > budget) break;  // next call
      core.pages().free_root(f.page);
      freed += g.root_pages();
    } else {
      to_free.add(f.page);
      ++freed;
    }
    r.frames.pop();
  }
  return freed;
}

// Puts the retired subtree `link` names on the frame stack, to be freed from entry `first` on.
void start_freeing(RetiredPages& r, u64 link, u64 first) {
  r.frames.start(Frame{.page = marker::link_page(link),
                       .level = marker::link_level(link).value(),
                       .next_index = first,
                       .base = Ipa{},
                       .root = false});
  r.frames_hold_leaves = false;
}

}  // namespace

void retire_subtrees(TableCore& core, const DetachedTable* tables, unsigned count) {
  // The top page's count drops to zero (no walker takes a reference on it from now on); the
  // subtree's pages are not read or written until their grace period is over. The counts are
  // cold lines after a large unmap: their loads are all started first, so that the misses
  // overlap instead of following one another.
  for (unsigned i = 0; i < count; ++i)
    core.pages().prefetch_count(tables[i].table);
  for (unsigned i = 0; i < count; ++i) {
    core.pages().mark_retired(tables[i].table);
    if (!log_subtree(core, tables[i])) {
      link_subtrees(core, tables + i, count - i);
      return;
    }
  }
}

void retire_root(TableCore& core, Pa root) {
  RetiredPages& r = core.retired();
  r.teardown_root = root;
  r.teardown_pending = true;
  r.teardown_stamp = core.reclaimer().close_epoch();
}

void close_retired(TableCore& core) {
  RetiredPages& r = core.retired();
  if (r.current.head == 0) return;
  Batch closed = r.current;
  closed.stamp = core.reclaimer().close_epoch();
  if (r.waiting.head != 0) {
    // One waiting batch at a time: the older one joins the newer, and waits for the newer
    // stamp, which is only later, never unsafe.
    entry::store(core.pages().table(closed.tail), Pte::from_raw(r.waiting.head));
    closed.tail = r.waiting.tail;
  }
  r.waiting = closed;
  r.current = Batch{};
  r.log = Pa{};
}

u64 reclaim(TableCore& core, u64 budget) {
  RetiredPages& r = core.retired();
  // Reclamation may run beside the fault path: it counts as a shared walker would.
  Maintenance& m = core.maintenance(WalkMode::shared, kReclaimSlot);
  LeafRemoval leaves(core, m);
  u64 freed = 0;
  while (freed < budget) {
    if (!r.frames.empty()) {
      freed += free_frames(core, leaves, budget - freed);
      continue;
    }
    if (r.freeing_log != Pa{}) {
      const u64 link = r.freeing_slot < core.geometry().entries_per_table()
                           ? core.pages().table(r.freeing_log)[r.freeing_slot]
                           : 0;
      if (link == 0) {
        core.pages().free_log_page(r.freeing_log);
        r.freeing_log = Pa{};
        continue;
      }
      ++r.freeing_slot;
      start_freeing(r, link, 0);
      continue;
    }
    if (r.ready.head != 0) {
      const u64 link = pop(core, r.ready);
      if (marker::link_is_log(link)) {
        r.freeing_log = marker::link_page(link);
        r.freeing_slot = 1;
        continue;
      }
      // A table page retired through itself: entry 0 holds the link; what it replaced was
      // retired on its own.
      start_freeing(r, link, 1);
      continue;
    }
    if (r.waiting.head != 0 && core.reclaimer().grace_over(r.waiting.stamp)) {
      r.ready = r.waiting;
      r.waiting = Batch{};
      continue;
    }
    if (r.teardown_pending && core.reclaimer().grace_over(r.teardown_stamp)) {
      r.teardown_pending = false;
      r.frames.start(Frame{.page = r.teardown_root,
                           .level = core.geometry().start_level().value(),
                           .next_index = 0,
                           .base = Ipa{},
                           .root = true});
      r.frames_hold_leaves = true;
      continue;
    }
    break;
  }
  if (leaves.finish()) m.dsb_ish();
  return freed;
}

bool reclaim_pending(TableCore& core) {
  const RetiredPages& r = core.retired();
  return !r.frames.empty() || r.freeing_log != Pa{} || r.current.head != 0 || r.waiting.head != 0 ||
         r.ready.head != 0 || r.teardown_pending;
}

void reclaim_all(TableCore& core) {
  close_retired(core);
  while (reclaim_pending(core)) {
    if (reclaim(core, ~u64{0}) == 0 && reclaim_pending(core)) {
      // A shared walker is still inside its walk: wait for it.
      __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
  }
}

}  // namespace s2pt
