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

// Plans issued, in the few numbers their instructions follow from: a Maintenance adds each plan
// here and expands the sum into instructions only when its counters are read.
struct PlanTally {
  u64 by_address = 0;     // broadcast plans with stage-2 TLBIs by IPA or range
  u64 ipa_ops = 0;        // their TLBIs by IPA
  u64 range_ops = 0;      // their range TLBIs
  u64 whole_vmid = 0;     // broadcast plans that invalidate the whole VMID instead
  u64 local_leaves = 0;   // local_leaf plans
  u64 cleanings = 0;      // plans that clean memory once their invalidation completed
  u64 cleaned_bytes = 0;  // what those clean

  // The instructions of these plans (see InvalidationPlan::for_each_step). Each field is read on
  // its own while walkers may be adding: none is derived from a difference of two.
  constexpr MaintenanceCounters instructions() const {
    const u64 broadcasts = by_address + whole_vmid;
    return MaintenanceCounters{
        .tlbi_ipa = ipa_ops,
        .tlbi_range = range_ops,
        .tlbi_vmid = whole_vmid,
        .tlbi_s1 = by_address,
        .tlbi_local = 2 * local_leaves,
        .dsb_ishst = broadcasts,
        .dsb_ish = broadcasts + by_address + cleanings,
        .dsb_nshst = local_leaves,
        .dsb_nsh = 2 * local_leaves,
        .isb = broadcasts + local_leaves,
        .dc_civac_calls = cleanings,
        .dc_civac_bytes = cleaned_bytes,
    };
  }
};
inline constexpr u64 PlanTally::*kPlanTallyFields[] = {
    &PlanTally::by_address,    &PlanTally::ipa_ops,      &PlanTally::range_ops,
    &PlanTally::whole_vmid,    &PlanTally::local_leaves, &PlanTally::cleanings,
    &PlanTally::cleaned_bytes,
};

enum class StepKind : u8 { tlbi, dsb_ishst, dsb_ish, dsb_nshst, dsb_nsh, isb, dc_civac };

struct PlanStep {
  StepKind kind = StepKind::isb;
  TlbiInstr tlbi{TlbiOp::vmalle1is, 0};  // kind == tlbi
  Pa pa{};                               // kind == dc_civac: guest memory to clean to PoC
  u64 bytes = 0;
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
    return InvalidationPlan(Kind::broadcast, planner, context, scope, planner.choose(scope));
  }
  // Makes a change that only adds permissions to the leaf at `entry` (at `level`) visible to the
  // calling CPU: other CPUs may keep the less permissive entry, which costs them at most a
  // spurious fault that they resolve the same way. No broadcast: DSB NSHST, TLBI IPAS2E1,
  // DSB NSH, TLBI VMALLE1, DSB NSH, ISB.
  static constexpr InvalidationPlan local_leaf(const TlbiPlanner& planner, Stage2Context context,
                                               Ipa entry, Level level) {
    InvalidationPlan plan(Kind::local_leaf, planner, context, InvalidationScope{}, {});
    plan.leaf_ = entry;
    plan.level_ = level;
    return plan;
  }
  // Every stage-1 and stage-2 translation of the VMID, on all CPUs: the broadcast sequence with
  // VMALLS12E1IS as its one TLBI.
  static constexpr InvalidationPlan whole_vmid(const TlbiPlanner& planner, Stage2Context context) {
    return InvalidationPlan(
        Kind::broadcast, planner, context, InvalidationScope{},
        TlbiPlanner::Choice{.decision = {.whole_vmid = true}, .ops = {.vmid = 1}});
  }

  // The same plan, then DC CIVAC over [pa, pa + bytes) and the DSB ISH that completes it: a
  // removed leaf's memory cleaned to PoC only once its invalidation completed (without FWB,
  // the guest could otherwise dirty the lines again through a stale entry), in the same call to
  // the backend. Broadcast plans only.
  constexpr InvalidationPlan then_clean(Pa pa, u64 bytes) const {
    InvalidationPlan plan = *this;
    plan.clean_pa_ = pa;
    plan.clean_bytes_ = bytes;
    return plan;
  }

  constexpr const Stage2Context& context() const { return context_; }

  // Calls step(PlanStep) for every instruction of the sequence, in order: the invalidation,
  // then the cleaning (then_clean).
  template <class Step>
  constexpr void for_each_step(Step&& step) const {
    for_each_invalidation_step(step);
    for_each_cleaning_step(step);
  }
  // The steps that need the plan's stage-2 context (a backend enters it around them).
  template <class Step>
  constexpr void for_each_invalidation_step(Step&& step) const {
    switch (kind_) {
      case Kind::broadcast: {
        step(PlanStep{StepKind::dsb_ishst});
        planner_->for_each(scope_, choice_.decision, [&](TlbiInstr instr) {
          step(PlanStep{StepKind::tlbi, instr});
        });
        step(PlanStep{StepKind::dsb_ish});
        if (!choice_.decision.whole_vmid) {
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
    }
  }

  // The cleaning then_clean() added, if any: DC CIVAC by PA, which needs no stage-2 context, and
  // the DSB ISH that completes it.
  template <class Step>
  constexpr void for_each_cleaning_step(Step&& step) const {
    if (clean_bytes_ == 0) return;
    step(PlanStep{.kind = StepKind::dc_civac, .pa = clean_pa_, .bytes = clean_bytes_});
    step(PlanStep{StepKind::dsb_ish});
  }

  // What this plan adds to a PlanTally, as add(&PlanTally::<field>, n) for each non-zero field:
  // two or three additions per plan where counting every instruction kind takes six.
  template <class Add>
  constexpr void for_each_tally(Add&& add) const {
    if (clean_bytes_ != 0) {
      add(&PlanTally::cleanings, 1);
      add(&PlanTally::cleaned_bytes, clean_bytes_);
    }
    if (kind_ == Kind::local_leaf) {
      add(&PlanTally::local_leaves, 1);
      return;
    }
    if (choice_.decision.whole_vmid) {
      add(&PlanTally::whole_vmid, 1);
      return;
    }
    add(&PlanTally::by_address, 1);
    if (choice_.ops.ipa != 0) add(&PlanTally::ipa_ops, choice_.ops.ipa);
    if (choice_.ops.range != 0) add(&PlanTally::range_ops, choice_.ops.range);
  }
  // The instructions for_each_step yields, by kind, counted without yielding them.
  constexpr MaintenanceCounters counts() const {
    PlanTally t;
    for_each_tally([&](u64 PlanTally::*field, u64 n) { t.*field += n; });
    return t.instructions();
  }

 private:
  enum class Kind : u8 { broadcast, local_leaf };

  constexpr InvalidationPlan(Kind kind, const TlbiPlanner& planner, Stage2Context context,
                             const InvalidationScope& scope, TlbiPlanner::Choice choice)
      : kind_(kind), planner_(&planner), context_(context), scope_(scope), choice_(choice) {}

  Kind kind_;
  const TlbiPlanner* planner_;
  Stage2Context context_;
  InvalidationScope scope_;
  TlbiPlanner::Choice choice_;
  Ipa leaf_{};
  Level level_{Level::kLast};
  Pa clean_pa_{};
  u64 clean_bytes_ = 0;
};

}  // namespace s2pt
