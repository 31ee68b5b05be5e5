// The hooks through which the core reaches the hardware: which features to rely on, and the TLB,
// barrier and cache maintenance instructions. Backends: arch/aarch64 (real instructions at EL2),
// arch/counting (records the sequence), sim (drives the hardware model).
#pragma once

#include "s2pt/features.hpp"
#include "s2pt/invalidation_plan.hpp"
#include "s2pt/types.hpp"

namespace s2pt {

// Every method acts on the calling CPU, as the instruction would.
class Arch {
 public:
  virtual Features features() const = 0;
  // Runs every step of `plan` in order, in the plan's stage-2 context (its VTTBR_EL2, with any
  // host state that would send the TLBIs elsewhere, such as HCR_EL2.TGE on a VHE host, set aside),
  // and returns with the calling CPU's context as it was. Broadcast TLBIs are complete on every
  // CPU when it returns: the plan ends with DSB ISH.
  virtual void invalidate(const InvalidationPlan& plan) = 0;
  // Completes cache maintenance (and orders it after the invalidation that preceded it).
  virtual void dsb_ish() = 0;
  virtual void isb() = 0;
  // Clean and invalidate data cache lines to the point of coherency, for guest memory at `pa`.
  virtual void dc_civac(Pa pa, u64 bytes) = 0;
  // Invalidate instruction cache lines to the point of unification.
  virtual void ic_ivau(Pa pa, u64 bytes) = 0;
  // Invalidate all instruction caches of the inner shareable domain to the point of unification.
  virtual void ic_ialluis() = 0;

 protected:
  Arch() = default;
  Arch(const Arch&) = default;
  Arch& operator=(const Arch&) = default;
  ~Arch() = default;
};

// A backend that takes each invalidation plan one instruction at a time: the recording, modelling
// and C backends, and test backends in front of them. Broadcast TLBIs are, like on hardware, only
// guaranteed complete at the caller's next dsb_ish(); the non-shareable ones (is_local) reach this
// CPU only and complete at its next dsb_nsh() (or dsb_ish()).
class SteppingArch : public Arch {
 public:
  void invalidate(const InvalidationPlan& plan) override {
    plan.for_each_step([&](const PlanStep& step) { run(plan.context(), step); });
  }
  // TLBI <op>, <operand> in `context` (the VMID it acts on is context.vmid()).
  virtual void tlbi(const Stage2Context& context, TlbiOp op, u64 operand) = 0;
  virtual void dsb_ishst() = 0;
  // Non-shareable barriers, for local invalidation. A backend without them may use the inner
  // shareable ones, which are stronger.
  virtual void dsb_nshst() { dsb_ishst(); }
  virtual void dsb_nsh() { dsb_ish(); }  // NOLINT(bugprone-virtual-near-miss): the NSH form

 protected:
  SteppingArch() = default;
  SteppingArch(const SteppingArch&) = default;
  SteppingArch& operator=(const SteppingArch&) = default;
  ~SteppingArch() = default;

  // One step, as the instruction call it stands for.
  void run(const Stage2Context& context, const PlanStep& step) {
    switch (step.kind) {
      case StepKind::tlbi:
        tlbi(context, step.tlbi.op, step.tlbi.operand);
        return;
      case StepKind::dsb_ishst:
        dsb_ishst();
        return;
      case StepKind::dsb_ish:
        dsb_ish();
        return;
      case StepKind::dsb_nshst:
        dsb_nshst();
        return;
      case StepKind::dsb_nsh:
        dsb_nsh();
        return;
      case StepKind::isb:
        isb();
        return;
      case StepKind::dc_civac:
        dc_civac(step.pa, step.bytes);
        return;
    }
  }
};

}  // namespace s2pt
