// What happens to a leaf once it is gone from the tables and its TLB invalidation completed: the
// leaf observer hears of it and, without FWB, its cacheable memory is cleaned and invalidated to
// PoC, in one CleanBatch: complete() ends it with one DSB ISH.
#pragma once

#include "entry.hpp"
#include "markers.hpp"
#include "table_core.hpp"

namespace s2pt {

// Cleaning and invalidating guest memory to PoC, batched: adjacent memory becomes one DC CIVAC
// range and no barrier is issued in between. complete() ends the batch with the DSB ISH that
// completes it (Arm ARM, "Ordering and completion of data and instruction cache instructions":
// a DC by VA is complete only once a later DSB has completed).
class CleanBatch {
 public:
  explicit CleanBatch(Maintenance& m) : maintenance_(m) {}
  CleanBatch(const CleanBatch&) = delete;
  CleanBatch& operator=(const CleanBatch&) = delete;

  void add(Pa pa, u64 size) {
    if (bytes_ != 0 && pa == start_ + bytes_) {
      bytes_ += size;
      return;
    }
    issue_pending();
    start_ = pa;
    bytes_ = size;
  }
  // Issues what is still batched and, if this batch cleaned anything, the DSB ISH: the cleaned
  // memory may be reused once this returns.
  void complete() {
    issue_pending();
    if (issued_) maintenance_.dsb_ish();
    issued_ = false;
  }

 private:
  void issue_pending() {
    if (bytes_ == 0) return;
    maintenance_.dc_civac(start_, bytes_);
    issued_ = true;
    bytes_ = 0;
  }

  Maintenance& maintenance_;
  Pa start_{};
  u64 bytes_ = 0;
  bool issued_ = false;
};

class LeafRemoval {
 public:
  // Cleaning issued through `m`: the exclusive maintenance, unless the caller names another.
  explicit LeafRemoval(TableCore& core) : LeafRemoval(core, core.maintenance()) {}
  LeafRemoval(TableCore& core, Maintenance& m) : core_(core), cleaning_(m) {}
  LeafRemoval(const LeafRemoval&) = delete;
  LeafRemoval& operator=(const LeafRemoval&) = delete;

  // Whether removed leaves need to be looked at at all: with FWB, no observer and no range logged
  // by the hardware's dirty state they do not, and a last-level table can be freed without
  // reading it.
  static bool needed(const TableCore& core) {
    return needed_for_memory(core) || core.logged().any_by_hardware();
  }
  // The same for a table torn down whole, whose dirty state nobody will harvest.
  static bool needed_for_memory(const TableCore& core) { return !core.fwb() || core.observer(); }

  void removed(Pte leaf, Level level, Ipa ipa) {
    removed_and_cleaned(leaf, level, ipa);
    clean_leaf(leaf, level);
  }
  // A removed leaf whose memory the caller cleaned already (per_entry, with the leaf's own
  // invalidation plan): its dirty state and the observer.
  void removed_and_cleaned(Pte leaf, Level level, Ipa ipa) {
    if (leaf.hw_dirty() || core_.observer()) report(leaf, level, ipa);
  }

  // A leaf that map replaced: its dirty state and its memory, not the observer (which hears only
  // of unmaps).
  void replaced(Pte leaf, Level level, Ipa ipa) {
    if (leaf.hw_dirty())
      core_.log_hardware_dirty(IpaRange{ipa, core_.geometry().level_bytes(level)});
    clean_leaf(leaf, level);
  }

  // The cache maintenance alone.
  void clean_leaf(Pte leaf, Level level) {
    if (!core_.needs_cleaning(leaf)) return;
    clean(leaf.output_address(core_.oa()), core_.geometry().level_bytes(level));
  }

  // The pages a detached last-level table maps, when only their cleaning matters (a destroyed
  // table, no observer): one pass over its entries, parked ones included.
  void clean_pages(const u64* table, u64 count) {
    if (core_.fwb()) return;
    switch (core_.oa()) {
      case OaLayout::bits48:
        return clean_pages_in<OaLayout::bits48>(table, count);
      case OaLayout::lpa:
        return clean_pages_in<OaLayout::lpa>(table, count);
      case OaLayout::lpa2:
        return clean_pages_in<OaLayout::lpa2>(table, count);
    }
  }

  // Issues what is still batched and the DSB ISH that completes it (CleanBatch::complete).
  void complete() { cleaning_.complete(); }

 private:
  void clean(Pa pa, u64 size) { cleaning_.add(pa, size); }

  // clean_pages() for one output-address layout: a destroyed 16 GiB VM has four million pages to
  // look at, and the loop decodes each with the layout and memory-type encoding fixed.
  template <OaLayout kOa>
  void clean_pages_in(const u64* table, u64 count) {
    const u64 page = core_.geometry().page_bytes();
    const DescriptorFormat format = core_.format();
    // Adjacent pages gather in locals and reach the batch as one range.
    Pa run{};
    u64 run_bytes = 0;
    for (u64 i = 0; i < count; ++i) {
      const Pte leaf = marker::original(entry::load(table + i));
      if (!leaf.is_leaf(kLastLevel) || !TableCore::needs_cleaning(leaf, format)) continue;
      const Pa pa = leaf.output_address(kOa);
      if (run_bytes != 0 && pa == run + run_bytes) {
        run_bytes += page;
        continue;
      }
      if (run_bytes != 0) clean(run, run_bytes);
      run = pa;
      run_bytes = page;
    }
    if (run_bytes != 0) clean(run, run_bytes);
  }

  // What removed() owes besides cleaning, out of the per-leaf loop: the leaf's dirty state (the
  // only record of the guest's writes since the last harvest) and the observer.
  [[gnu::noinline]] void report(Pte leaf, Level level, Ipa ipa) {
    const u64 size = core_.geometry().level_bytes(level);
    if (leaf.hw_dirty()) core_.log_hardware_dirty(IpaRange{ipa, size});
    if (const LeafObserver& observe = core_.observer()) {
      Result<Attrs> attrs = leaf.attrs(core_.format());
      observe(UnmappedLeaf{.ipa = ipa,
                           .pa = leaf.output_address(core_.oa()),
                           .size = size,
                           .level = level,
                           .attrs = attrs.ok() ? attrs.value() : Attrs{}});
    }
  }

  TableCore& core_;
  CleanBatch cleaning_;
};

}  // namespace s2pt
