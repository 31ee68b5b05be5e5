// The state of one stage-2 table that walkers and visitors work on: geometry, root, hooks, and
// the bookkeeping of table pages (allocation, reference counts, retirement).
#pragma once

#include <utility>

#include "logged_ranges.hpp"
#include "maintenance.hpp"
#include "retired_pages.hpp"
#include "s2pt/geometry.hpp"
#include "s2pt/mm.hpp"
#include "s2pt/observer.hpp"
#include "s2pt/pte.hpp"
#include "s2pt/reclaim.hpp"
#include "table_pages.hpp"

namespace s2pt {

class TableCore {
 public:
  TableCore(const Geometry& geometry, Vmid vmid, Mm& mm, Arch& arch, Features features,
            PlannerLimits limits)
      : TableCore(geometry, vmid, mm, arch, features, limits,
                  std::make_index_sequence<kSharedMaintenance>{}) {}

  const Geometry& geometry() const { return geometry_; }
  Vmid vmid() const { return vmid_; }
  DescriptorFormat format() const { return format_; }
  OaLayout oa() const { return format_.oa; }
  bool fwb() const { return format_.memattr == MemAttrFormat::fwb; }
  // The one rule for cleaning guest memory: without FWB, memory mapped cacheable may hold dirty
  // lines that a non-cacheable access (a guest running with its stage 1 off) would read past, so
  // it is cleaned to PoC before it is mapped and after it is unmapped. With FWB the stage-2
  // attributes force cacheable accesses and nothing needs cleaning.
  bool needs_cleaning(const Attrs& attrs) const { return !fwb() && attrs.cacheable(); }
  bool needs_cleaning(Pte leaf) const { return needs_cleaning(leaf, format_); }
  static bool needs_cleaning(Pte leaf, DescriptorFormat format) {
    return format.memattr != MemAttrFormat::fwb && leaf.has_memtype(MemType::normal_wb, format);
  }
  const Features& features() const { return maintenance_.features(); }
  // Maintenance for a walk in `mode`. Exclusive operations count without locked instructions.
  // Shared walkers (the fault path, and reclamation, which may run beside it) count with atomic
  // adds, in one of kSharedMaintenance sets chosen by their walker slot, each on cache lines of
  // its own: vCPUs faulting at once would otherwise bounce one set of counters between their
  // caches on every DC CIVAC and DSB.
  static constexpr unsigned kSharedMaintenance = 8;
  Maintenance& maintenance(WalkMode mode = WalkMode::exclusive, unsigned slot = 0) {
    return mode == WalkMode::shared ? shared_[slot % kSharedMaintenance].issuer : maintenance_;
  }
  const Maintenance& maintenance() const { return maintenance_; }
  MaintenanceCounters maintenance_counters() const {
    MaintenanceCounters total = maintenance_.counters();
    for (const SharedMaintenance& shared : shared_)
      total = total + shared.issuer.counters();
    return total;
  }
  Mm& mm() { return pages_.mm(); }

  Pa root_pa() const { return root_pa_; }
  u64* root() const { return root_; }
  void set_root(Pa pa) {
    root_pa_ = pa;
    root_ = pages_.table(pa);
    maintenance_.set_root(pa);
    for (SharedMaintenance& shared : shared_)
      shared.issuer.set_root(pa);
  }
  void clear_root() {
    root_pa_ = Pa{};
    root_ = nullptr;
  }
  bool has_root() const { return root_ != nullptr; }

  // Table pages: where they are, how many, their reference counts.
  TablePages& pages() { return pages_; }
  const TablePages& pages() const { return pages_; }
  // A fresh root (root_pages() granules, concatenated and aligned to their total size), made the
  // table's root.
  Result<Pa> alloc_root() {
    Result<Pa> root = pages_.alloc_root();
    if (root.ok()) set_root(root.value());
    return root;
  }
  // Forgets the root without freeing it (teardown hands it to the reclaimer).
  Pa detach_root() {
    const Pa root = root_pa_;
    clear_root();
    return root;
  }

  Reclaimer& reclaimer() { return reclaimer_; }
  RetiredPages& retired() { return retired_; }
  const RetiredPages& retired() const { return retired_; }
  const LeafObserver& observer() const { return observer_; }
  void set_observer(const LeafObserver& observer) { observer_ = observer; }
  // Set once an owner annotation was ever written: from then on an unmap may not drop a whole
  // subtree without looking for annotations in it (unmap keeps annotations).
  bool annotations_possible() const { return annotations_possible_; }
  LoggedRanges& logged() { return logged_; }
  // A leaf over `span` that the hardware had made dirty is gone or clean: its pages are marked in
  // the bitmaps of the logged ranges holding them, for the next harvest to report.
  void log_hardware_dirty(IpaRange span) const { logged_.mark(span, geometry_.page_bytes()); }
  const LoggedRanges& logged() const { return logged_; }
  void note_annotation() { annotations_possible_ = true; }

 private:
  template <std::size_t... Set>
  TableCore(const Geometry& geometry, Vmid vmid, Mm& mm, Arch& arch, Features features,
            PlannerLimits limits, std::index_sequence<Set...>)
      : geometry_(geometry),
        vmid_(vmid),
        format_{features.fwb ? MemAttrFormat::fwb : MemAttrFormat::classic, geometry.oa_layout()},
        pages_(mm, geometry),
        maintenance_(arch, vmid, geometry, features, limits, WalkMode::exclusive),
        shared_{
            ((void)Set, SharedMaintenance{.issuer = Maintenance(arch, vmid, geometry, features,
                                                                limits, WalkMode::shared)})...} {}

  Geometry geometry_;
  Vmid vmid_;
  DescriptorFormat format_;
  TablePages pages_;
  Maintenance maintenance_;
  // A cache line of padding after each set: the counters (at the end of a Maintenance) never
  // share a line with the next set's fields, whatever the table's alignment (the C API places a
  // table in storage aligned to 8 bytes only).
  struct SharedMaintenance {
    Maintenance issuer;
    unsigned char padding[64] = {};
  };
  SharedMaintenance shared_[kSharedMaintenance];
  Pa root_pa_{};
  u64* root_ = nullptr;
  Reclaimer reclaimer_;
  RetiredPages retired_;
  LeafObserver observer_;
  bool annotations_possible_ = false;
  LoggedRanges logged_;
};

}  // namespace s2pt
