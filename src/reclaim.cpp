#include "reclaim.hpp"

#include "entry.hpp"
#include "leaf_removal.hpp"
#include "markers.hpp"
#include "subtree_freer.hpp"

namespace s2pt {
namespace {

using Batch = RetiredPages::Batch;

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
bool log_subtree(TableCore& core, const Subtree& t) {
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
void link_subtrees(TableCore& core, const Subtree* tables, unsigned count) {
  while (count > 0) {
    Subtree batch[kRetireBatch];
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
        const Subtree t = batch[i];
        const Pte first = t.level.is_last()
                              ? Pte::invalid()
                              : marker::original(entry::load(core.pages().table(t.table)));
        core.pages().mark_retired(t.table);
        push(core, core.retired().current, t.table, marker::link_to(t.table, t.level));
        if (first.is_table(t.level))
          batch[deeper++] = {first.table_address(core.oa()), t.level.deeper(), Ipa{}};
      }
      live = deeper;
    }
  }
}

// Goes on freeing the subtree in `r.freeing`, up to `budget` pages: the walk from where the last
// call stopped, then the top table. `already`: the pages this reclaim() call freed before.
// Returns the pages freed.
u64 free_some(TableCore& core, LeafRemoval& leaves, FreeBatch& pages, u64 budget, u64 already) {
  RetiredPages& r = core.retired();
  SubtreeFreer freer(core, r.freeing_leaves, leaves, pages, budget);
  const Geometry& g = core.geometry();
  const Ipa end = subtree_end(g, r.freeing);
  Status walked = Status::ok;
  if (r.freeing_from == end ||
      freer.free_bottom_in_one_pass(core, r.freeing, g.index(r.freeing_from, r.freeing.level))) {
    r.freeing_from = end;  // nothing left below the top
  } else {
    walked = Walker<SubtreeFreer, WalkKind::detached>(core, freer).walk(r.freeing, r.freeing_from);
  }
  const u64 freed = freer.freed();
  if (walked != Status::ok) {
    r.owed = freer.owed();
    return freed;
  }
  const bool root = r.freeing.level == g.start_level();
  const u64 top_pages = root ? g.root_pages() : 1;
  // The next call finds the walk done and frees only the top (a root larger than any budget
  // goes whole, in a call that freed nothing else).
  if (already + freed > 0 && freed + top_pages > budget) return freed;
  if (root) {
    core.pages().free_root(r.freeing.table);
  } else {
    pages.add(r.freeing.table);
  }
  r.freeing = Subtree{};
  return freed + top_pages;
}

// Makes the retired subtree `link` names the one being freed, from entry `first` on.
void start_freeing(TableCore& core, u64 link, u64 first) {
  RetiredPages& r = core.retired();
  const Level level = marker::link_level(link);
  r.freeing = Subtree{.table = marker::link_page(link), .level = level, .base = Ipa{}};
  r.freeing_from = Ipa{first * core.geometry().level_bytes(level)};
  r.freeing_leaves = SubtreeLeaves::unread;
}

}  // namespace

void retire_subtrees(TableCore& core, const Subtree* tables, unsigned count) {
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
  FreeBatch pages(core);
  u64 freed = 0;
  while (freed < budget) {
    if (r.owed != Pa{}) {
      pages.add(r.owed);
      r.owed = Pa{};
      ++freed;
      continue;
    }
    if (r.freeing.table != Pa{}) {
      const u64 step = free_some(core, leaves, pages, budget - freed, freed);
      freed += step;
      if (r.freeing.table != Pa{}) break;  // out of budget
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
      start_freeing(core, link, 0);
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
      start_freeing(core, link, 1);
      continue;
    }
    if (r.waiting.head != 0 && core.reclaimer().grace_over(r.waiting.stamp)) {
      r.ready = r.waiting;
      r.waiting = Batch{};
      continue;
    }
    if (r.teardown_pending && core.reclaimer().grace_over(r.teardown_stamp)) {
      r.teardown_pending = false;
      r.freeing =
          Subtree{.table = r.teardown_root, .level = core.geometry().start_level(), .base = Ipa{}};
      r.freeing_from = Ipa{};
      r.freeing_leaves = SubtreeLeaves::torn_down;
      continue;
    }
    break;
  }
  leaves.complete();
  return freed;
}

bool reclaim_pending(TableCore& core) {
  const RetiredPages& r = core.retired();
  return r.owed != Pa{} || r.freeing.table != Pa{} || r.freeing_log != Pa{} ||
         r.current.head != 0 || r.waiting.head != 0 || r.ready.head != 0 || r.teardown_pending;
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
