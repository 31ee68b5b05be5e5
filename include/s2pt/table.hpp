// A stage-2 translation table and its operations.
//
// Concurrency (docs/concurrency.md):
//  - handle_fault is SHARED: any number of calls may run at once, on any CPUs.
//  - Every other operation is EXCLUSIVE: one at a time, and never while a handle_fault runs.
//    Callers get both with one reader-writer lock per table, like Linux's kvm->mmu_lock: faults
//    take the read side, everything else the write side.
//  - Hardware walkers on every CPU run throughout. Each operation has completed the TLB and cache
//    maintenance for what it removed or changed before it returns.
//  - reclaim() and reclaim_all() may run at any time outside exclusive operations (they free only
//    pages no walker can reach), but not concurrently with themselves; lookup() and owner()
//    wherever an exclusive operation could.
#pragma once

#include "s2pt/arch.hpp"
#include "s2pt/dirty_log.hpp"
#include "s2pt/geometry.hpp"
#include "s2pt/maintenance_counters.hpp"
#include "s2pt/mm.hpp"
#include "s2pt/observer.hpp"
#include "s2pt/page_cache.hpp"
#include "s2pt/pte.hpp"
#include "s2pt/reclaim.hpp"
#include "s2pt/tlbi_plan.hpp"

namespace s2pt {

class TableCore;  // src/table_core.hpp: the state the operations work on

struct TableConfig {
  Geometry geometry;
  Vmid vmid;
  // Use each feature when the CPU has it; false pretends it does not (for comparison runs and
  // for hypervisors that run without HCR_EL2.FWB).
  bool use_fwb = true;
  bool use_tlbi_range = true;
  bool use_ttl = true;
  // Hardware dirty logging where the CPU has FEAT_HAFDBS: vtcr() then sets HA and HD, so the
  // walker also sets access flags itself (access-flag faults stop). Off unless asked for.
  bool use_hw_dirty = false;
  PlannerLimits limits = {};
};

enum class MapFlags : u8 {
  none = 0,
  replace = 1 << 0,    // allow replacing existing mappings and annotations (break-before-make)
  no_blocks = 1 << 1,  // map with last-level pages only
};
constexpr MapFlags operator|(MapFlags a, MapFlags b) {
  return MapFlags(static_cast<u8>(a) | static_cast<u8>(b));
}
constexpr bool has(MapFlags set, MapFlags f) {
  return (static_cast<u8>(set) & static_cast<u8>(f)) != 0;
}

enum class UnmapStrategy : u8 {
  per_entry,  // clear, invalidate and (without FWB) clean each leaf in turn (Linux before 6.6)
  // Linux 6.6+: with FWB and TLBI range, clear the leaves and invalidate the range once at the
  // end (a table left empty is still invalidated on its own); otherwise per_entry.
  deferred,
  // Detach every subtree the range covers whole, one range invalidation, then (without FWB) one
  // cache-maintenance pass and one DSB; the detached pages go to the reclaimer, freed by
  // reclaim() after the call (src/unmap_fast.cpp).
  fast,
  automatic,  // the best for the features at hand: fast
};
inline constexpr UnmapStrategy kAllUnmapStrategies[] = {
    UnmapStrategy::per_entry, UnmapStrategy::deferred, UnmapStrategy::fast,
    UnmapStrategy::automatic};

constexpr const char* name(UnmapStrategy s) {
  switch (s) {
    case UnmapStrategy::per_entry:
      return "per_entry";
    case UnmapStrategy::deferred:
      return "deferred";
    case UnmapStrategy::fast:
      return "fast";
    case UnmapStrategy::automatic:
      return "auto";
  }
  return "?";
}

// What translates one IPA.
struct Translation {
  Ipa base;      // start of the leaf's region
  u64 size = 0;  // bytes the leaf maps
  Level level = kLastLevel;
  Pa pa;  // the output address of the queried IPA (leaf address + offset)
  Attrs attrs;
};

struct TableStats {
  u64 table_pages = 0;  // table pages in use, root pages included
  MaintenanceCounters maintenance;
};

// A stage-2 fault for handle_fault to resolve.
struct FaultRequest {
  Ipa ipa;             // the faulting IPA
  Pa pa;               // the host memory backing the leaf that holds `ipa`, aligned to leaf_bytes
  u64 leaf_bytes = 0;  // what to map: the granule, or a block size the backing memory allows
  Attrs attrs;         // what the mapping grants
};

enum class FaultOutcome : u8 {
  mapped,            // a new leaf was installed
  relaxed,           // the existing leaf gained permissions (and was invalidated)
  made_young,        // the existing leaf's access flag was set
  already_resolved,  // another CPU resolved it first; the guest only needs to retry the access
};

class Table {
 public:
  // Allocates the (possibly concatenated) root. Fails with no_memory, or bad_geometry when the
  // VMID does not fit the geometry's VMID width.
  static Result<Table> create(const TableConfig& config, Mm& mm, Arch& arch);

  Table(Table&& other) noexcept;
  Table& operator=(Table&&) = delete;
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;
  ~Table();

  // Maps [range) to [pa, pa + size) with the largest aligned blocks unless no_blocks. Without
  // FWB, cacheable memory is cleaned and invalidated to PoC (and executable memory invalidated
  // in the I-cache) before it becomes reachable. Fails with `exists`, changing nothing, if any
  // part of the range is mapped or annotated and `replace` is not given. On no_memory, the table
  // is valid and maps exactly [range.start, range.start + bytes_done). Where dirty logging is on
  // it maps pages, and grants write permission armed (read-only or writable-clean), so that the
  // first write is logged (docs/dirty-logging.md).
  Progress map(IpaRange range, Pa pa, const Attrs& attrs, MapFlags flags = MapFlags::none);

  // Removes every translation in [range). Blocks that straddle the range's ends are split
  // (break-before-make) so that what lies outside stays mapped; tables left empty are freed
  // (per_entry, deferred) or, with fast and automatic, handed to the reclaimer: the call's cost
  // does not grow with the pages it detaches, and reclaim() frees them later.
  // Unmapped leaves are reported to the leaf observer, if one is set, once their invalidation
  // completed (deferred falls back to per_entry when an observer is set).
  Progress unmap(IpaRange range, UnmapStrategy strategy = UnmapStrategy::automatic);

  // Tears [range) down in chunks, as unmap(fast) does, stopping once about `budget` table pages
  // of work were done (at least one chunk: one level-1 region, a bounded number of table pages
  // whatever the VM's size). Returns budget_exhausted with the bytes done so far when it stopped
  // early; the caller yields and calls again with the rest.
  Progress destroy_range(IpaRange range, u64 budget);

  // Reports every leaf an unmap (or a destroy) removes; a default-constructed one reports nothing.
  void set_leaf_observer(const LeafObserver& observer);

  // The fault path. SHARED: any number of handle_fault calls may run at once, on any CPUs, with
  // each other and with the hardware walkers; they must not overlap the exclusive operations
  // (the caller holds the read side of the lock whose write side the other operations hold, as
  // with Linux's mmu_lock). Entries change only by compare-and-swap; a busy entry means retry.
  //  - IPA unmapped: installs the requested leaf (the faulting page alone if a table already sits
  //    where the requested block would go), taking table pages from `cache`, which the caller
  //    filled beforehand with at least levels() - 1 pages (no allocation here; no_memory, and
  //    nothing changed, when it holds fewer).
  //    A table page that lost the race to be linked goes back to the cache.
  //  - IPA mapped to the same memory: adds attrs.perm (invalidating the old permissions before
  //    returning) and sets the access flag.
  //  - IPA mapped elsewhere or annotated: exists. A busy entry: again.
  Result<FaultOutcome> handle_fault(const FaultRequest& fault, PageCache& cache);

  // Splits every block in [range) into leaves of `target` level ahead of dirty logging: builds
  // each block's new subtree unlinked, then installs it with one break-before-make. Stops before
  // a block whose subtree would take more than `page_budget` pages in total for this call and
  // returns budget_exhausted with the bytes done, for the caller to call again (bounded memory per
  // call).
  Progress split(IpaRange range, Level target, u64 page_budget);
  // Replaces every table in [range) whose leaves map one contiguous, block-aligned range with
  // identical attributes by a block (break-before-make; the subtree is freed). Refused with
  // already_logging where dirty logging is enabled (logged pages stay pages).
  Progress collapse(IpaRange range);

  // Removes write permission from every leaf in [range) (splitting blocks at the ends), and
  // DBM with it: the hardware may not make the page writable again.
  Progress write_protect(IpaRange range);

  // Dirty logging (live migration; docs/dirty-logging.md), by write protection or, with
  // DirtyTracking::hardware (FEAT_HAFDBS; VTCR_EL2 from vtcr() must then be in use), by the
  // hardware's dirty state: writable pages become writable-clean and writes take no fault.
  // enable_dirty_log write-protects every leaf of [range) (eager: after splitting its blocks to
  // pages, budgeted as split() is) and starts logging it into `bitmap` (bit i: the page at
  // range.start + i * granule; the caller owns it and its initial bits). From then on a
  // handle_fault that asks for write permission on a logged page makes that page writable and
  // sets its bit; a block is first split into read-only pages (lazy splitting), so only the page
  // written becomes writable. In a logged range the fault path maps pages, never blocks; ask for
  // write permission only on a write fault. Logging starts only when the call returns ok
  // (bitmap_too_small, already_logging, too_many_logged_ranges, bad_flags refuse it, changing
  // nothing; budget_exhausted: call again).
  Progress enable_dirty_log(IpaRange range, DirtyBitmap bitmap,
                            const DirtyLogOptions& options = {});
  // Stops logging a range given to enable_dirty_log (exactly that range: not_logging otherwise).
  // The pages stay as they are; with `collapse_blocks`, tables whose pages are alike again (e.g.
  // never written) become blocks (see collapse()).
  Progress disable_dirty_log(IpaRange range, bool collapse_blocks = false);
  // KVM_CLEAR_DIRTY_LOG: for every page i of [range) (inside one logged range: not_logging
  // otherwise) whose bit is set in `mask` and that is dirty, clears its dirty bit, write-protects
  // it again and sets bit i of `cleared` (whose first ceil(pages / 64) words are written). The
  // whole call issues one invalidation sequence however many pages it protects: a write that
  // lands after it returns faults and is logged again. Exclusive.
  Progress clear_dirty(IpaRange range, DirtyBitmap mask, DirtyBitmap cleared);
  // With hardware dirty tracking: sets the bitmap's bit of every page of [range) (inside one
  // logged range) that the hardware made dirty, without arming it again (KVM_GET_DIRTY_LOG
  // without clearing). Nothing to do by write protection, whose bits are always current.
  Progress sync_dirty(IpaRange range);
  // Adds `perm` to every leaf in [range) (splitting blocks at the ends). Write permission on a
  // logged page is added armed, as map() does.
  Progress relax(IpaRange range, Perm perm);

  // Access-flag aging, on every leaf that intersects [range) (a leaf is aged as a whole).
  // Setting AF needs no invalidation: the hardware does not cache a translation whose AF is 0.
  // Clearing it is not invalidated either, as in Linux: a TLB may keep the young translation
  // for a while, which only makes aging approximate and never grants an access the table denies.
  Progress mkyoung(IpaRange range);
  Progress mkold(IpaRange range);
  // Whether any leaf intersecting [range) was young; clears the flag on all of them.
  Result<bool> test_and_clear_young(IpaRange range);

  // Marks the unmapped [range) as owned by `owner` (invalid entries that carry it); owner 0
  // removes annotations. Fails with `exists` if anything in the range is mapped.
  Progress annotate(IpaRange range, OwnerId owner);
  OwnerId owner(Ipa ipa) const;

  // Cleans and invalidates to PoC every cacheable page mapped in [range); nothing with FWB.
  Progress flush_dcache(IpaRange range);

  Result<Translation> lookup(Ipa ipa) const;

  // Detaches the whole table, invalidates the VMID once and hands every table page to the
  // reclaimer. Returns in a time that depends on the geometry (the root's entries are parked,
  // see src/markers.hpp), not on how much is mapped. The pages are freed (and, without FWB, the
  // cacheable leaves cleaned to PoC; the observer told) by reclaim(): the guest memory may be
  // reused once reclaim_pending() is false. Idempotent.
  void destroy();

  // Frees up to `budget` table pages that were unlinked and whose grace period is over (no shared
  // walker can still hold them). Returns how many. For a hypervisor's quiescent points. Any
  // budget makes progress: a destroyed table's root (root_pages() concatenated pages) goes whole,
  // in a call that frees nothing else when the budget is smaller.
  u64 reclaim(u64 budget);
  bool reclaim_pending();
  // Frees everything retired, waiting for shared walkers to leave if needed.
  void reclaim_all();
  // Shared walkers (the concurrent fault path) enter and leave the reclaimer here.
  Reclaimer& reclaimer();

  TableStats stats() const;
  const Geometry& geometry() const;
  Vmid vmid() const;
  DescriptorFormat format() const;
  const Features& features() const;
  Pa root() const;
  // VTCR_EL2 for this table: the geometry's, with HA and HD when hardware dirty logging is in use.
  u64 vtcr() const { return geometry().vtcr() | (features().hw_dirty ? vtcr::kHa | vtcr::kHd : 0); }
  // VTTBR_EL2: root base address and VMID (bits [63:48]).
  u64 vttbr() const { return Stage2Context::of(root(), vmid()).vttbr; }
  bool destroyed() const;

 private:
  friend struct CoreAccess;  // src/core_access.hpp, for the project's tests and tools

  Table(const TableConfig& config, Mm& mm, Arch& arch, Features features);

  // The state lives in the table object itself (no allocation); its layout is internal.
  static constexpr u64 kCoreBytes = 6144;
  alignas(u64) unsigned char core_storage_[kCoreBytes];
  TableCore& core_;
};

// Features the table will rely on: those the CPU has and the configuration allows.
constexpr Features effective_features(const Features& cpu, const TableConfig& config) {
  Features f = cpu;
  f.fwb = cpu.fwb && config.use_fwb;
  f.tlbi_range = cpu.tlbi_range && config.use_tlbi_range;
  f.ttl = cpu.ttl && config.use_ttl;
  f.hw_dirty = cpu.hw_dirty && config.use_hw_dirty;
  return f;
}

}  // namespace s2pt
