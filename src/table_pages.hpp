// The table pages of one stage-2 table: where the core reads them (Mm, or its linear map), how
// many there are, and their reference counts (1 + the number of non-zero entries of a non-root
// table page), with the rules for counting them.
#pragma once

#include "s2pt/geometry.hpp"
#include "s2pt/mm.hpp"
#include "walk_mode.hpp"

namespace s2pt {

class TablePages {
 public:
  TablePages(Mm& mm, const Geometry& geometry)
      : mm_(mm), linear_(mm.linear_map()), geometry_(geometry) {}

  Mm& mm() { return mm_; }

  u64* table(Pa pa) const {
    return static_cast<u64*>(linear_.covers(pa) ? linear_.virt(pa) : mm_.phys_to_virt(pa));
  }

  // A fresh table page, referenced once (by its parent entry-to-be).
  Result<Pa> alloc_table() {
    Result<Pa> page = mm_.alloc_zeroed(geometry_.page_bytes());
    if (!page.ok()) return page.status();
    __atomic_store_n(refcount(page.value()), 1u, __ATOMIC_RELAXED);
    __atomic_add_fetch(&table_pages_, 1, __ATOMIC_RELAXED);
    return page.value();
  }
  // Makes a zeroed page from a page cache a table page (referenced once, by the entry about to
  // point at it), or undoes that for a page that lost the race to be linked.
  void adopt_table(Pa page) {
    __atomic_store_n(refcount(page), 1u, __ATOMIC_RELAXED);
    __atomic_add_fetch(&table_pages_, 1, __ATOMIC_RELAXED);
  }
  void disown_table(Pa page) {
    __atomic_store_n(refcount(page), 0u, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&table_pages_, 1, __ATOMIC_RELAXED);
  }
  // Zeroes a table page nothing ever linked (a page cache hands out zeroed pages only).
  void clear_unlinked(Pa page) const {
    u64* entries = table(page);
    for (u64 i = 0; i < geometry_.entries_per_table(); ++i)
      entries[i] = 0;
  }
  // Gives back a table page that no hardware or software walker can reach any more: it was never
  // linked, or it was unlinked and the TLB invalidation that followed has completed.
  // Its count drops to zero first: a shared walker that still held a pointer to it (only a
  // caller breaking the locking rules lets one) can take no reference on it.
  void free_table(Pa page) {
    __atomic_store_n(refcount(page), 0u, __ATOMIC_RELAXED);
    mm_.free(page, geometry_.page_bytes());
    uncount_tables(1);
  }
  // free_table for the reclaimer, which frees pages by the thousand once their grace period is
  // over, so no walker holds them: many at a time (one Mm call and one locked instruction for
  // all), their counts left as they are (a cold line per page; alloc_table sets it again).
  void free_tables(const Pa* pages, u64 count) {
    if (count == 0) return;
    mm_.free_batch(pages, count, geometry_.page_bytes());
    uncount_tables(count);
  }
  void uncount_tables(u64 pages) { __atomic_sub_fetch(&table_pages_, pages, __ATOMIC_RELAXED); }
  // The root: root_pages() granules, concatenated and aligned to their total size.
  Result<Pa> alloc_root() {
    Result<Pa> root = mm_.alloc_zeroed(geometry_.root_bytes());
    if (!root.ok()) return root.status();
    __atomic_add_fetch(&table_pages_, geometry_.root_pages(), __ATOMIC_RELAXED);
    return root.value();
  }
  // Frees a root once nothing can reach it.
  void free_root(Pa root) {
    mm_.free(root, geometry_.root_bytes());
    __atomic_sub_fetch(&table_pages_, geometry_.root_pages(), __ATOMIC_RELAXED);
  }
  // A page for the reclaimer's records of retired subtrees: not a table page (not counted, no
  // reference count kept).
  Result<Pa> alloc_log_page() { return mm_.alloc_zeroed(geometry_.page_bytes()); }
  void free_log_page(Pa page) { mm_.free(page, geometry_.page_bytes()); }
  u64 table_pages() const { return __atomic_load_n(&table_pages_, __ATOMIC_RELAXED); }

  // Reference counts: 1 + the number of non-zero entries of a (non-root) table page.
  u32* refcount(Pa page) const {
    return linear_.covers(page) ? linear_.count(page) : mm_.refcount(page);
  }
  u32 refs(Pa page) { return __atomic_load_n(refcount(page), __ATOMIC_ACQUIRE); }
  // Shared walkers count with atomic read-modify-writes. An exclusive walker is the only one
  // counting (the lock keeps shared walkers out, and the reclaimer only frees pages whose count
  // is settled), so a plain load and store do, without the locked instruction's cost.
  void get(Pa page, WalkMode mode) { adjust(page, 1, mode); }
  void put(Pa page, WalkMode mode) { adjust(page, ~0u, mode); }
  // Takes a reference unless the count already reached zero (the page was retired): a shared
  // walker holding a stale pointer must never revive a page that is on its way to being freed.
  bool try_get(Pa page) { return try_get(refcount(page)); }
  static bool try_get(u32* count) {
    u32 seen = __atomic_load_n(count, __ATOMIC_ACQUIRE);
    while (seen != 0) {
      if (__atomic_compare_exchange_n(count, &seen, seen + 1, true, __ATOMIC_ACQ_REL,
                                      __ATOMIC_ACQUIRE)) {
        return true;
      }
    }
    return false;
  }
  void adjust(Pa page, u32 delta, WalkMode mode) { adjust(refcount(page), delta, mode); }
  static void adjust(u32* count, u32 delta, WalkMode mode) {
    if (mode == WalkMode::shared) {
      __atomic_add_fetch(count, delta, __ATOMIC_ACQ_REL);
    } else {
      __atomic_store_n(count, __atomic_load_n(count, __ATOMIC_RELAXED) + delta, __ATOMIC_RELAXED);
    }
  }
  // Marks a table page as retired: its count drops to zero, so try_get() fails from now on.
  void mark_retired(Pa page) { __atomic_store_n(refcount(page), 0u, __ATOMIC_RELEASE); }
  // Starts loading what retiring `page` writes (its first entry and its reference count), so that
  // a batch of cold pages costs about one memory latency instead of one each.
  void prefetch_for_retire(Pa page) const {
    __builtin_prefetch(table(page), 1);
    prefetch_count(page);
  }
  void prefetch_count(Pa page) const { __builtin_prefetch(refcount(page), 1); }

 private:
  Mm& mm_;
  MmLinearMap linear_;
  Geometry geometry_;
  u64 table_pages_ = 0;
};

}  // namespace s2pt
