// The modelled machine: K CPUs, each with a TLB and a walk cache filled by a hardware walker that
// reads the live tables; TLBIs that complete only at the issuer's DSB ISH; a data cache that
// remembers which guest pages may be dirty; and the oracles that check every operation.
//
// Threads: each CPU may be driven from its own host thread (guest accesses, prefetches,
// maintenance instructions); a CPU's caches are guarded by its own lock, which a walk holds from
// its first read to its fill, so an invalidation never overtakes a walk in flight. The table
// writer (one thread) brackets each table operation with begin_op/end_op.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "s2pt/geometry.hpp"
#include "s2pt/invalidation_plan.hpp"
#include "s2pt/maintenance_counters.hpp"
#include "s2pt/sim/config.hpp"
#include "s2pt/sim/pa_ranges.hpp"
#include "s2pt/sim/rng.hpp"
#include "s2pt/sim/sim_mm.hpp"
#include "s2pt/sim/tlb.hpp"
#include "s2pt/sim/tlbi_scope.hpp"
#include "s2pt/sim/violation.hpp"

namespace s2pt {
class Table;
}

namespace s2pt::sim {

enum class AccessResult : u8 {
  ok,
  translation_fault,
  access_flag_fault,
  permission_fault,
  walk_aborted,  // the walk met a freed table page (reported as a violation)
};
const char* name(AccessResult r);

struct Access {
  u64 time = 0;
  unsigned cpu = 0;
  Ipa ipa{};
  bool write = false;
  AccessResult result = AccessResult::translation_fault;
  Pa pa{};  // valid when ok
  bool tlb_hit = false;
  bool operator==(const Access&) const = default;
};

// A table the CPUs translate through: what VTTBR_EL2/VTCR_EL2 would hold for its VMID.
struct AttachedTable {
  Vmid vmid{};
  Geometry geometry;
  MemAttrFormat format = MemAttrFormat::classic;
  Pa root{};
  // VTCR_EL2.HA and HD: the walker sets S2AP[1] of a DBM leaf on a write (FEAT_HAFDBS).
  bool hardware_dirty = false;
};

// Random guest activity run by the writer's thread at every maintenance instruction: a whole run
// is then one thread and a seed reproduces it exactly.
struct Stepping {
  bool enabled = false;
  Vmid vmid{};
  IpaRange window;
  unsigned accesses_per_step = 1;
  unsigned prefetches_per_step = 1;
};

struct BbmTracker;
struct Cpu;

class Machine {
 public:
  Machine(const MachineConfig& config, SimMm& mm);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  const MachineConfig& config() const { return config_; }
  unsigned cpus() const { return static_cast<unsigned>(cpus_.size()); }
  SimMm& mm() { return mm_; }

  // Makes the CPUs translate the table's VMID through it (its root and geometry), or stop.
  void attach(const Table& table);
  void attach(const AttachedTable& table);
  void detach(Vmid vmid);

  // Guest activity on `cpu`. A 4K-or-smaller access at `ipa`.
  Access access(unsigned cpu, Vmid vmid, Ipa ipa, bool write);
  // A speculative walk: caches the translation of `ipa` if there is a valid one; no access.
  void prefetch(unsigned cpu, Vmid vmid, Ipa ipa);
  // Caches every valid translation in `range` on `cpu` (the most a CPU may hold), walking at
  // most `max_walks` times (a walk that meets an invalid entry skips the region it covers).
  void prefetch_all(unsigned cpu, Vmid vmid, IpaRange range, u64 max_walks = ~u64{0});
  // The logged accesses of `cpu` (the first MachineConfig::access_log_limit), and counts of all.
  std::vector<Access> accesses(unsigned cpu) const;
  struct AccessCounts {
    u64 total = 0;
    u64 ok = 0;
  };
  AccessCounts access_counts() const;
  // Order-sensitive digest of every access of every CPU (for replay checks).
  u64 access_digest() const;

  // Maintenance instructions executed by `cpu` (the SimArch backend's entry points).
  // `context` is VTTBR_EL2 at the TLBI: its VMID is the one invalidated, and its root must be the
  // attached table's (a wrong_context violation otherwise).
  void tlbi(unsigned cpu, const Stage2Context& context, TlbiOp op, u64 operand);
  void dsb_ishst(unsigned cpu);
  void dsb_ish(unsigned cpu);
  void dsb_nshst(unsigned cpu);
  // Completes this CPU's non-shareable TLBIs only; broadcast ones wait for a DSB ISH.
  void dsb_nsh(unsigned cpu);
  void isb(unsigned cpu);
  void dc_civac(unsigned cpu, Pa pa, u64 bytes);
  void ic_ivau(unsigned cpu, Pa pa, u64 bytes);
  void ic_ialluis(unsigned cpu);

  // Dirty logging's invariant, checked by the caller's harvests: every successful guest write
  // to a page is covered by a later harvest that reported the page. harvested() records a
  // harvest that returned now and reported `pages` (their IPAs); lost_writes() lists the pages
  // whose last write no harvest after it reported. Writes are watched from watch_writes() on.
  void watch_writes(Vmid vmid, IpaRange range);
  void harvested(const std::vector<Ipa>& pages);
  std::vector<Ipa> lost_writes() const;

  // Oracles. begin_op labels what runs; end_op is the check at the operation's return: nothing
  // it removed or changed may survive anywhere, its maintenance must be complete, every table
  // page counted right, no unmapped page dirty. Returns the violations found by this check.
  void begin_op(std::string label);
  std::vector<Violation> end_op();
  std::vector<Violation> check_quiescent() { return end_op(); }
  // After the table was destroyed: no table page left allocated.
  std::vector<Violation> check_no_leak();

  std::vector<Violation> violations() const;
  std::size_t violation_count() const;
  std::size_t violation_count(ViolationKind kind) const;
  void clear_violations();
  void report(Violation v);

  // Snapshots of a CPU's caches, for tests.
  std::vector<TlbEntry> tlb_entries(unsigned cpu) const;
  std::vector<WalkEntry> walk_entries(unsigned cpu) const;
  bool may_be_dirty(Pa pa) const;

  void set_stepping(const Stepping& stepping) { stepping_ = stepping; }
  // Stepped mode aims three accesses in four at this range (where the writer works now).
  void set_focus(IpaRange focus) { focus_ = focus; }
  // Test orchestration: called after every maintenance instruction with its name and CPU.
  void set_step_hook(std::function<void(const char*, unsigned)> hook) { hook_ = std::move(hook); }

  // Modelled hardware time spent in maintenance instructions and table-page allocation, per CPU
  // and in total, and the instruction counts behind it.
  double modeled_ns(unsigned cpu) const;
  double modeled_ns() const;
  MaintenanceCounters counters() const;

  u64 now() const { return clock_.load(std::memory_order_relaxed); }

  // Called by SimMm when a page is freed.
  void on_page_freed(Pa pa, u64 bytes);

 private:
  friend struct BbmTracker;
  struct Translation {
    AccessResult result = AccessResult::translation_fault;
    TlbEntry entry;
  };
  u64 tick() { return clock_.fetch_add(1, std::memory_order_relaxed) + 1; }
  const AttachedTable* table_of(Vmid vmid) const;
  Translation walk(Cpu& cpu, const AttachedTable& table, Ipa ipa);
  void fill(Cpu& cpu, const TlbEntry& entry);
  void fill_walk(Cpu& cpu, const WalkEntry& entry);
  void record(Cpu& cpu, const Access& a);
  void make_room(Cpu& cpu, Tlb::Map& entries);
  void apply(const TlbiScope& scope, unsigned issuer);
  void step(unsigned cpu, const char* what);
  void charge(unsigned cpu, double ns);
  // One instruction executed on `cpu`: its counter and its modelled cost.
  void count(unsigned cpu, u64 MaintenanceCounters::*counter, double ns);
  void mark_dirty(Pa pa);
  void clean(Pa pa, u64 bytes);
  void check_caches();
  void check_tables();
  void check_dirty();
  void check_prepared(const Cpu& cpu, const AttachedTable& t, const TlbEntry& e);

  MachineConfig config_;
  SimMm& mm_;
  std::vector<std::unique_ptr<Cpu>> cpus_;
  std::vector<AttachedTable> tables_;  // set up before the CPUs run
  // watch_writes(): per page of the range, the time of the last successful write and of the
  // last harvest that reported it.
  struct WriteWatch {
    Vmid vmid{};
    IpaRange range{};
    u64 page_bytes = 0;
    std::vector<u64> written;
    std::vector<u64> reported;
  };
  WriteWatch watch_;
  mutable std::mutex watch_mutex_;
  void note_write(Vmid vmid, Ipa ipa, u64 time);
  // The hardware's dirty-state update for a write that `used` (read-only, DBM) did not permit:
  // S2AP[1] set atomically in the live descriptor, the TLB refilled writable. False if the live
  // descriptor no longer allows it (the write then faults).
  bool dirty_update(Cpu& cpu, const AttachedTable& t, Ipa ipa, TlbEntry& used);
  std::unique_ptr<BbmTracker> bbm_;
  std::atomic<u64> clock_{0};
  Stepping stepping_;
  IpaRange focus_;
  Rng step_rng_;
  std::function<void(const char*, unsigned)> hook_;

  mutable std::mutex dirty_mutex_;
  std::unordered_set<u64> dirty_pages_;  // PA >> 12 of 4K pages that may hold dirty lines
  // Memory a DC CIVAC or an IC IVAU reached at some point, and the leaves already reported for
  // reaching memory outside them (each once).
  PaRanges cleaned_;
  PaRanges icache_invalidated_;
  std::unordered_set<u64> unprepared_reported_;

  mutable std::mutex violations_mutex_;
  std::vector<Violation> violations_;
  std::string op_;            // guarded by violations_mutex_
  std::size_t op_first_ = 0;  // index of the first violation reported since begin_op
  u64 allocs_at_start_ = 0;
  u64 frees_at_start_ = 0;
};

}  // namespace s2pt::sim
