// Every TLB, barrier and cache maintenance instruction the core issues goes through here, counted:
// stage-2 invalidation as one plan per call to the backend, cache maintenance by range.
#pragma once

#include "s2pt/arch.hpp"
#include "s2pt/maintenance_counters.hpp"
#include "s2pt/tlbi_plan.hpp"

namespace s2pt {

class Maintenance {
 public:
  Maintenance(Arch& arch, Vmid vmid, const Geometry& geometry, Features features,
              PlannerLimits limits)
      : arch_(arch), vmid_(vmid), planner_(geometry, features, limits), features_(features) {}

  const Features& features() const { return features_; }
  const TlbiPlanner& planner() const { return planner_; }
  // A consistent-enough copy while shared walkers (the fault path) may be counting concurrently:
  // each counter is read atomically.
  MaintenanceCounters counters() const {
    MaintenanceCounters copy;
    const u64* from = &counters_.tlbi_ipa;
    u64* to = &copy.tlbi_ipa;
    for (unsigned i = 0; i < kCounterFields; ++i)
      to[i] = __atomic_load_n(from + i, __ATOMIC_RELAXED);
    return copy;
  }

  // The stage-2 context every invalidation runs in: the table's root and VMID.
  void set_root(Pa root) { context_ = Stage2Context::of(root, vmid_); }
  const Stage2Context& context() const { return context_; }

  // Makes the removal or change of every translation in `scope` complete on all CPUs (see
  // InvalidationPlan::broadcast).
  void invalidate(const InvalidationScope& scope) {
    run(InvalidationPlan::broadcast(planner_, context_, scope));
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
  // Counts the plan's instructions, then hands it to the backend in one call.
  void run(const InvalidationPlan& plan) {
    plan.for_each_step([&](const PlanStep& step) { count(step); });
    arch_.invalidate(plan);
  }
  void count(const PlanStep& step) {
    switch (step.kind) {
      case StepKind::tlbi: {
        const TlbiOp op = step.tlbi.op;
        if (is_local(op)) {
          bump(counters_.tlbi_local);
        } else if (is_by_ipa(op)) {
          bump(counters_.tlbi_ipa);
        }
        if (is_range(op)) bump(counters_.tlbi_range);
        if (op == TlbiOp::vmalls12e1is) bump(counters_.tlbi_vmid);
        if (op == TlbiOp::vmalle1is) bump(counters_.tlbi_s1);
        return;
      }
      case StepKind::dsb_ishst:
        bump(counters_.dsb_ishst);
        return;
      case StepKind::dsb_ish:
        bump(counters_.dsb_ish);
        return;
      case StepKind::dsb_nshst:
        bump(counters_.dsb_nshst);
        return;
      case StepKind::dsb_nsh:
        bump(counters_.dsb_nsh);
        return;
      case StepKind::isb:
        bump(counters_.isb);
        return;
    }
  }
  static constexpr unsigned kCounterFields = sizeof(MaintenanceCounters) / sizeof(u64);
  static void bump(u64& counter, u64 by = 1) { __atomic_fetch_add(&counter, by, __ATOMIC_RELAXED); }

  Arch& arch_;
  Vmid vmid_;
  Stage2Context context_{};
  TlbiPlanner planner_;
  Features features_;
  MaintenanceCounters counters_;
};

}  // namespace s2pt
