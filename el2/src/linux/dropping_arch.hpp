// The negative controls' backend: the real aarch64 backend with one class of TLB invalidation
// left out. A hypervisor built on it leaves stale translations behind after unmap, and the Linux
// run must notice (a memory-checker mismatch, a guest oops, or the watchdog).
#pragma once

#include "s2pt/arch/aarch64.hpp"

namespace el2::linux_guest {

enum class Control : s2pt::u8 {
  none,      // every TLBI reaches the hardware: the real run
  drop_ipa,  // IPAS2E1IS, IPAS2LE1IS and the range forms are dropped
  drop_s1,   // VMALLE1IS (the combined stage-1+2 entries) is dropped
  drop_all,  // every TLBI is dropped
};

constexpr const char* name(Control c) {
  switch (c) {
    case Control::none:
      return "none";
    case Control::drop_ipa:
      return "drop-ipa";
    case Control::drop_s1:
      return "drop-s1";
    case Control::drop_all:
      return "drop-all";
  }
  return "?";
}

class DroppingArch final : public s2pt::Arch {
 public:
  DroppingArch() = default;
  DroppingArch(const s2pt::aarch64::CpuInfo& system, s2pt::aarch64::FeatureMask mask,
               Control control)
      : real_(system, mask), control_(control) {}

  s2pt::Features features() const override { return real_.features(); }
  void invalidate(const s2pt::InvalidationPlan& plan) override {
    {
      const s2pt::aarch64::GuestTlbContext guest(plan.context());
      plan.for_each_invalidation_step([&](const s2pt::PlanStep& step) {
        if (step.kind == s2pt::StepKind::tlbi && drops(step.tlbi.op)) {
          __atomic_fetch_add(&dropped_, 1, __ATOMIC_RELAXED);
          return;
        }
        real_.issue(step);
      });
    }
    plan.for_each_cleaning_step([&](const s2pt::PlanStep& step) { real_.issue(step); });
  }
  void dsb_ish() override { real_.dsb_ish(); }
  void isb() override { real_.isb(); }
  void dc_civac(s2pt::Pa pa, s2pt::u64 bytes) override { real_.dc_civac(pa, bytes); }
  void ic_ivau(s2pt::Pa pa, s2pt::u64 bytes) override { real_.ic_ivau(pa, bytes); }
  void ic_ialluis() override { real_.ic_ialluis(); }

  s2pt::u64 dropped() const { return __atomic_load_n(&dropped_, __ATOMIC_RELAXED); }

 private:
  bool drops(s2pt::TlbiOp op) const {
    switch (control_) {
      case Control::none:
        return false;
      case Control::drop_ipa:
        return s2pt::is_by_ipa(op) || s2pt::is_range(op);
      case Control::drop_s1:
        return op == s2pt::TlbiOp::vmalle1is;
      case Control::drop_all:
        return true;
    }
    return false;
  }

  s2pt::aarch64::Aarch64Arch real_;
  Control control_ = Control::none;
  s2pt::u64 dropped_ = 0;
};

}  // namespace el2::linux_guest
