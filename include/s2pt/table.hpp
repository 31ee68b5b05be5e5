// A stage-2 translation table and its operations.
//
// Concurrency: every operation here is exclusive: the caller serialises them (one writer),
// as Linux does under the write side of kvm->mmu_lock. Hardware walkers on any CPU may run
// throughout; each operation completes its TLB maintenance before it returns.
#pragma once

#include "s2pt/arch.hpp"
#include "s2pt/geometry.hpp"
#include "s2pt/mm.hpp"
#include "s2pt/pte.hpp"
#include "s2pt/table_core.hpp"
#include "s2pt/tlbi_plan.hpp"

namespace s2pt {

struct TableConfig {
  Geometry geometry;
  Vmid vmid;
  // Use each feature when the CPU has it; false pretends it does not (for comparison runs and
  // for hypervisors that run without HCR_EL2.FWB).
  bool use_fwb = true;
  bool use_tlbi_range = true;
  bool use_ttl = true;
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
  per_entry,  // clear, invalidate and (without FWB) clean each leaf in turn
};

constexpr const char* name(UnmapStrategy s) {
  switch (s) {
    case UnmapStrategy::per_entry:
      return "per_entry";
  }
  return "?";
}

// What translates one IPA.
struct Translation {
  Ipa base;  // start of the leaf's region
  u64 size;  // bytes the leaf maps
  Level level;
  Pa pa;  // the output address of the queried IPA (leaf address + offset)
  Attrs attrs;
};

struct TableStats {
  u64 table_pages = 0;  // table pages in use, root pages included
  MaintenanceCounters maintenance;
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
  ~Table() { destroy(); }

  // Maps [range) to [pa, pa + size) with the largest aligned blocks unless no_blocks. Without
  // FWB, cacheable memory is cleaned and invalidated to PoC (and executable memory invalidated
  // in the I-cache) before it becomes reachable. Fails with `exists`, changing nothing, if any
  // part of the range is mapped or annotated and `replace` is not given. On no_memory, the table
  // is valid and maps exactly [range.start, range.start + bytes_done).
  Progress map(IpaRange range, Pa pa, const Attrs& attrs, MapFlags flags = MapFlags::none);

  // Removes every translation in [range). Blocks that straddle the range's ends are split
  // (break-before-make) so that what lies outside stays mapped; tables left empty are freed.
  Progress unmap(IpaRange range, UnmapStrategy strategy = UnmapStrategy::per_entry);

  // Removes write permission from every leaf in [range) (splitting blocks at the ends).
  Progress write_protect(IpaRange range);
  // Adds `perm` to every leaf in [range) (splitting blocks at the ends).
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

  // Unlinks and frees every table page, after invalidating the whole VMID. Idempotent.
  void destroy();

  TableStats stats() const;
  const Geometry& geometry() const { return core_.geometry(); }
  Vmid vmid() const { return core_.vmid(); }
  MemAttrFormat format() const { return core_.format(); }
  const Features& features() const { return core_.features(); }
  Pa root() const { return core_.root_pa(); }
  // VTTBR_EL2: root base address and VMID (bits [63:48]).
  u64 vttbr() const { return core_.root_pa().raw | (u64{core_.vmid().raw} << 48); }
  bool destroyed() const { return !core_.has_root(); }

  // For tests and tools: the state walkers work on.
  TableCore& core() { return core_; }

 private:
  Table(const TableConfig& config, Mm& mm, Arch& arch, Features features);

  TableCore core_;
};

// Features the table will rely on: those the CPU has and the configuration allows.
constexpr Features effective_features(const Features& cpu, const TableConfig& config) {
  Features f = cpu;
  f.fwb = cpu.fwb && config.use_fwb;
  f.tlbi_range = cpu.tlbi_range && config.use_tlbi_range;
  f.ttl = cpu.ttl && config.use_ttl;
  return f;
}

}  // namespace s2pt
