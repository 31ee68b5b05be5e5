// One stage-2 invalidation sequence as a backend receives it: the guest context it must run in,
// the planned TLBIs and the barriers around them, handed over in one Arch::invalidate call. A
// backend enters the guest's context once per sequence (TF-RMM does the same around its TLBI
// batches), not once per instruction, and a recording backend still sees every instruction.
#pragma once

#include "s2pt/maintenance_counters.hpp"
#include "s2pt/tlbi_plan.hpp"

namespace s2pt {

// The translation regime stage-2 TLBIs act in: the guest's VTTBR_EL2, root and VMID. TLBIs by
// IPA and VMALLS12E1IS act on the VMID of VTTBR_EL2 (Arm ARM D8.13, "TLB maintenance
// instructions"); a backend loads this whole value rather than the VMID over the root of whatever
// table the CPU last ran, since a walk started speculatively under that pair would fill the
// guest's VMID with translations from another table.
struct Stage2Context {
  static constexpr unsigned kVmidShift = 48;

  u64 vttbr = 0;

  // VTTBR_EL2.BADDR: bits [47:1] (bit 0 is CnP). With a 52-bit PA size, BADDR[51:48] sit in
  // bits [5:2] and the root must be 64-byte aligned (Arm ARM, VTTBR_EL2); roots are page
  // aligned, so bits [5:2] are free in every configuration.
  static constexpr u64 kLowAddress = ((u64{1} << kVmidShift) - 1) & ~u64{0x3F};
  static constexpr unsigned kHighShift = 2;

  static constexpr Stage2Context of(Pa root, Vmid vmid) {
    return Stage2Context{(root.raw & kLowAddress) | (((root.raw >> 48) & 0xF) << kHighShift) |
                         (u64{vmid.raw} << kVmidShift)};
  }
  constexpr Vmid vmid() const { return Vmid{static_cast<u16>(vttbr >> kVmidShift)}; }
  constexpr Pa root() const {
    return Pa{(vttbr & kLowAddress) | (((vttbr >> kHighShift) & 0xF) << 48)};
  }
  constexpr bool operator==(const Stage2Context&) const = default;
};
static_assert(Stage2Context::of(Pa{0x8000'1000}, Vmid{0x1234}).vmid() == Vmid{0x1234});
static_assert(Stage2Context::of(Pa{0x8000'1000}, Vmid{0x1234}).root() == Pa{0x8000'1000});
static_assert(Stage2Context::of(Pa{0x000F'0000'8000'1000}, Vmid{1}).vttbr == 0x0001'0000'8000'103C);
static_assert(Stage2Context::of(Pa{0x000F'0000'8000'1000}, Vmid{1}).root() ==
              Pa{0x000F'0000'8000'1000});

enum class StepKind : u8 { tlbi, dsb_ishst, dsb_ish, dsb_nshst, dsb_nsh, isb };

struct PlanStep {
  StepKind kind = StepKind::isb;
  TlbiInstr tlbi{TlbiOp::vmalle1is, 0};  // kind == tlbi
};

class InvalidationPlan {
 public:
  // Makes the removal or change of every translation in `scope` complete on all CPUs. The entries
  // were already written: DSB ISHST publishes them to the walkers, the planned stage-2 TLBIs
  // remove cached copies, DSB ISH waits for that, VMALLE1IS removes the combined stage-1+2
  // entries that IPA-based TLBIs leave behind (Arm ARM D8.13.6: an IPA-based invalidation need
  // not remove them), and the final DSB ISH + ISB complete it.
  static constexpr InvalidationPlan broadcast(const TlbiPlanner& planner, Stage2Context context,
                                              const InvalidationScope& scope) {
    return InvalidationPlan(Kind::broadcast, planner, context, scope);
  }
  // Makes a change that only adds permissions to the leaf at `entry` (at `level`) visible to the
  // calling CPU: other CPUs may keep the less permissive entry, which costs them at most a
  // spurious fault that they resolve the same way. No broadcast: DSB NSHST, TLBI IPAS2E1,
  // DSB NSH, TLBI VMALLE1, DSB NSH, ISB.
  static constexpr InvalidationPlan local_leaf(const TlbiPlanner& planner, Stage2Context context,
                                               Ipa entry, Level level) {
    InvalidationPlan plan(Kind::local_leaf, planner, context, InvalidationScope{});
    plan.leaf_ = entry;
    plan.level_ = level;
    return plan;
  }
  // Every stage-1 and stage-2 translation of the VMID, on all CPUs.
  static constexpr InvalidationPlan whole_vmid(const TlbiPlanner& planner, Stage2Context context) {
    return InvalidationPlan(Kind::whole_vmid, planner, context, InvalidationScope{});
  }

  constexpr const Stage2Context& context() const { return context_; }

  // Calls step(PlanStep) for every instruction of the sequence, in order.
  template <class Step>
  constexpr void for_each_step(Step&& step) const {
    switch (kind_) {
      case Kind::broadcast: {
        step(PlanStep{StepKind::dsb_ishst});
        planner_->for_each(scope_, decision_, [&](TlbiInstr instr) {
          step(PlanStep{StepKind::tlbi, instr});
        });
        step(PlanStep{StepKind::dsb_ish});
        if (!decision_.whole_vmid) {
          step(PlanStep{StepKind::tlbi, TlbiInstr{TlbiOp::vmalle1is, 0}});
          step(PlanStep{StepKind::dsb_ish});
        }
        step(PlanStep{StepKind::isb});
        return;
      }
      case Kind::local_leaf:
        step(PlanStep{StepKind::dsb_nshst});
        step(PlanStep{StepKind::tlbi,
                      TlbiInstr{TlbiOp::ipas2e1, planner_->leaf_operand(leaf_, level_)}});
        step(PlanStep{StepKind::dsb_nsh});
        step(PlanStep{StepKind::tlbi, TlbiInstr{TlbiOp::vmalle1, 0}});
        step(PlanStep{StepKind::dsb_nsh});
        step(PlanStep{StepKind::isb});
        return;
      case Kind::whole_vmid:
        step(PlanStep{StepKind::dsb_ishst});
        step(PlanStep{StepKind::tlbi, TlbiInstr{TlbiOp::vmalls12e1is, 0}});
        step(PlanStep{StepKind::dsb_ish});
        step(PlanStep{StepKind::isb});
        return;
    }
  }

  // The instructions for_each_step yields, by kind, counted without yielding them: calls
  // add(&MaintenanceCounters::<kind>, count) for each kind it has.
  template <class Add>
  constexpr void for_each_count(Add&& add) const {
    using C = MaintenanceCounters;
    switch (kind_) {
      case Kind::broadcast: {
        const TlbiPlanner::OpCounts ops = planner_->count(scope_, decision_);
        add(&C::dsb_ishst, 1);
        if (ops.ipa != 0) add(&C::tlbi_ipa, ops.ipa);
        if (ops.range != 0) add(&C::tlbi_range, ops.range);
        if (ops.vmid != 0) add(&C::tlbi_vmid, ops.vmid);
        if (!decision_.whole_vmid) add(&C::tlbi_s1, 1);
        add(&C::dsb_ish, decision_.whole_vmid ? 1 : 2);
        add(&C::isb, 1);
        return;
      }
      case Kind::local_leaf:
        add(&C::dsb_nshst, 1);
        add(&C::tlbi_local, 2);
        add(&C::dsb_nsh, 2);
        add(&C::isb, 1);
        return;
      case Kind::whole_vmid:
        add(&C::dsb_ishst, 1);
        add(&C::tlbi_vmid, 1);
        add(&C::dsb_ish, 1);
        add(&C::isb, 1);
        return;
    }
  }
  constexpr MaintenanceCounters counts() const {
    MaintenanceCounters n;
    for_each_count([&](u64 MaintenanceCounters::*field, u64 count) { n.*field += count; });
    return n;
  }

 private:
  enum class Kind : u8 { broadcast, local_leaf, whole_vmid };

  constexpr InvalidationPlan(Kind kind, const TlbiPlanner& planner, Stage2Context context,
                             const InvalidationScope& scope)
      : kind_(kind),
        planner_(&planner),
        context_(context),
        scope_(scope),
        decision_(kind == Kind::broadcast ? planner.decide(scope) : TlbiPlanner::Decision{}) {}

  Kind kind_;
  const TlbiPlanner* planner_;
  Stage2Context context_;
  InvalidationScope scope_;
  TlbiPlanner::Decision decision_;
  Ipa leaf_{};
  Level level_{Level::kLast};
};

}  // namespace s2pt
