// Every TLB, barrier and cache maintenance instruction the core issues goes through here: the
// arch hooks, counted, plus the architecture's required sequence around stage-2 invalidation.
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

  // Makes the removal or change of every translation in `scope` complete on all CPUs: the entries
  // were already written; DSB ISHST publishes them to the walkers, the planned stage-2 TLBIs
  // remove cached copies, DSB ISH waits for that, VMALLE1IS removes the combined stage-1+2
  // entries that IPA-based TLBIs leave behind, and the final DSB ISH + ISB complete it.
  void invalidate(const InvalidationScope& scope) {
    dsb_ishst();
    bool whole_vmid = false;
    planner_.for_each(scope, [&](TlbiInstr instr) {
      whole_vmid = instr.op == TlbiOp::vmalls12e1is;
      tlbi(instr.op, instr.operand);
    });
    dsb_ish();
    if (!whole_vmid) {
      tlbi(TlbiOp::vmalle1is, 0);
      dsb_ish();
    }
    isb();
  }
  // Makes a change that only adds permissions to the leaf at `entry` (at `level`) visible to
  // this CPU: other CPUs may keep the less permissive entry, which costs them at most a spurious
  // fault that they resolve the same way. No broadcast: DSB NSHST, TLBI IPAS2E1, DSB NSH,
  // TLBI VMALLE1, DSB NSH, ISB.
  void invalidate_local(Ipa entry, Level level) {
    dsb_nshst();
    tlbi(TlbiOp::ipas2e1, planner_.leaf_operand(entry, level));
    dsb_nsh();
    tlbi(TlbiOp::vmalle1, 0);
    dsb_nsh();
    isb();
  }
  void invalidate_vmid() {
    dsb_ishst();
    tlbi(TlbiOp::vmalls12e1is, 0);
    dsb_ish();
    isb();
  }

  void tlbi(TlbiOp op, u64 operand) {
    if (is_local(op)) {
      bump(counters_.tlbi_local);
    } else if (is_by_ipa(op)) {
      bump(counters_.tlbi_ipa);
    }
    if (is_range(op)) bump(counters_.tlbi_range);
    if (op == TlbiOp::vmalls12e1is) bump(counters_.tlbi_vmid);
    if (op == TlbiOp::vmalle1is) bump(counters_.tlbi_s1);
    arch_.tlbi(vmid_, op, operand);
  }
  void dsb_ishst() {
    bump(counters_.dsb_ishst);
    arch_.dsb_ishst();
  }
  void dsb_ish() {
    bump(counters_.dsb_ish);
    arch_.dsb_ish();
  }
  void dsb_nshst() {
    bump(counters_.dsb_nshst);
    arch_.dsb_nshst();
  }
  void dsb_nsh() {
    bump(counters_.dsb_nsh);
    arch_.dsb_nsh();
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
  static constexpr unsigned kCounterFields = sizeof(MaintenanceCounters) / sizeof(u64);
  static void bump(u64& counter, u64 by = 1) { __atomic_fetch_add(&counter, by, __ATOMIC_RELAXED); }

  Arch& arch_;
  Vmid vmid_;
  TlbiPlanner planner_;
  Features features_;
  MaintenanceCounters counters_;
};

}  // namespace s2pt
