// Every TLB, barrier and cache maintenance instruction the core issues goes through here, counted:
// stage-2 invalidation as one plan per call to the backend, cache maintenance by range.
#pragma once

#include "s2pt/arch.hpp"
#include "s2pt/maintenance_counters.hpp"
#include "s2pt/tlbi_plan.hpp"
#include "walk_mode.hpp"

namespace s2pt {

class Maintenance {
 public:
  // `counting`: exclusive, if only the caller holding the table exclusively issues through this
  // object (its counters then need no locked instructions); shared, if walkers on several CPUs
  // may issue through it at once.
  Maintenance(Arch& arch, Vmid vmid, const Geometry& geometry, Features features,
              PlannerLimits limits, WalkMode counting)
      : arch_(arch),
        vmid_(vmid),
        planner_(geometry, features, limits),
        features_(features),
        counting_(counting) {}

  const Features& features() const { return features_; }
  const TlbiPlanner& planner() const { return planner_; }
  // A consistent-enough copy while shared walkers (the fault path) may be counting concurrently:
  // each counter is read atomically.
  MaintenanceCounters counters() const {
    MaintenanceCounters copy;
    for (u64 MaintenanceCounters::*field : kMaintenanceCounterFields)
      copy.*field = __atomic_load_n(&(counters_.*field), __ATOMIC_RELAXED);
    PlanTally plans;
    for (u64 PlanTally::*field : kPlanTallyFields)
      plans.*field = __atomic_load_n(&(plans_.*field), __ATOMIC_RELAXED);
    return copy + plans.instructions();
  }

  // The stage-2 context every invalidation runs in: the table's root and VMID.
  void set_root(Pa root) { context_ = Stage2Context::of(root, vmid_); }
  const Stage2Context& context() const { return context_; }

  // Makes the removal or change of every translation in `scope` complete on all CPUs (see
  // InvalidationPlan::broadcast).
  [[gnu::always_inline]] void invalidate(const InvalidationScope& scope) {
    run(InvalidationPlan::broadcast(planner_, context_, scope));
  }
  // The same, then DC CIVAC over [pa, pa + bytes) and DSB ISH, in one call to the backend: a
  // removed leaf's memory cleaned once its invalidation completed (InvalidationPlan::then_clean).
  [[gnu::always_inline]] void invalidate_then_clean(const InvalidationScope& scope, Pa pa,
                                                    u64 bytes) {
    run(InvalidationPlan::broadcast(planner_, context_, scope).then_clean(pa, bytes));
  }
  // Makes a permission-adding change to one leaf visible to the calling CPU alone (see
  // InvalidationPlan::local_leaf).
  void invalidate_local(Ipa entry, Level level) {
    run(InvalidationPlan::local_leaf(planner_, context_, entry, level));
  }
  void invalidate_vmid() { run(InvalidationPlan::whole_vmid(planner_, context_)); }

  void dsb_ish() {
    bump(counters_.dsb_ish);
    arch_.dsb_ish();
  }
  void isb() {
    bump(counters_.isb);
    arch_.isb();
  }
  void dc_civac(Pa pa, u64 bytes) {
    bump(counters_.dc_civac_calls);
    bump(counters_.dc_civac_bytes, bytes);
    arch_.dc_civac(pa, bytes);
  }
  // Makes the instruction caches see [pa, pa + bytes): IC IVAU over it, or one IC IALLUIS when IC
  // IVAU cannot do it (an aliasing I-cache: the hypervisor's address indexes other lines than
  // the guest's) or would take more than kMaxIcacheLines lines (Linux bounds a loop of TLBIs the
  // same way, MAX_DVM_OPS): a 2 MiB block is 32,768 lines.
  static constexpr u64 kMaxIcacheLines = 512;
  void invalidate_icache(Pa pa, u64 bytes) {
    if (features_.aliasing_icache || bytes / MaintenanceCounters::kCacheLine > kMaxIcacheLines) {
      bump(counters_.ic_ialluis);
      arch_.ic_ialluis();
      return;
    }
    bump(counters_.ic_ivau_calls);
    bump(counters_.ic_ivau_bytes, bytes);
    arch_.ic_ivau(pa, bytes);
  }

 private:
  // Tallies the plan (its instructions are counted when the counters are read), then hands it to
  // the backend in one call.
  void run(const InvalidationPlan& plan) {
    plan.for_each_tally([&](u64 PlanTally::*field, u64 n) { bump(plans_.*field, n); });
    arch_.invalidate(plan);
  }
  void bump(u64& counter, u64 by = 1) {
    if (counting_ == WalkMode::shared) {
      __atomic_fetch_add(&counter, by, __ATOMIC_RELAXED);
      return;
    }
    // Nobody else adds meanwhile; the atomic store only keeps a concurrent stats() reader from
    // seeing a torn value. A locked add here would cost more than the rest of a per-leaf unmap.
    __atomic_store_n(&counter, __atomic_load_n(&counter, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
  }

  Arch& arch_;
  Vmid vmid_;
  Stage2Context context_{};
  TlbiPlanner planner_;
  Features features_;
  WalkMode counting_;
  PlanTally plans_;
  MaintenanceCounters counters_;  // the instructions issued outside plans
};

}  // namespace s2pt
