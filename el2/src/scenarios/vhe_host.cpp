// Scenario "vhe-host", for a run with `vhe` on the command line (EL2 as a VHE host, as Linux/KVM
// runs): every CPU's host context really is HCR_EL2.{E2H, TGE} = {1, 1}; an unmap through a
// backend that leaves TGE set while it invalidates is caught by the guests (VMALLE1IS then
// invalidates the host's EL2&0 entries, and the guest's combined stage-1+2 entries survive); and
// the real backend, which clears TGE for the invalidation, passes the same run.
#include "mmu.hpp"
#include "scenarios/hammer.hpp"
#include "scenarios/scenario.hpp"
#include "smp.hpp"

namespace el2 {
namespace {

constexpr u64 kHcrTge = u64{1} << 27;
constexpr u64 kHcrE2h = u64{1} << 34;

// The negative control: the guest's VTTBR_EL2 loaded for the plan, HCR_EL2.TGE left as the host
// has it.
class TgeKeepingArch final : public s2pt::Arch {
 public:
  explicit TgeKeepingArch(s2pt::aarch64::FeatureMask mask) : real_(system_cpu_info(), mask) {}

  s2pt::Features features() const override { return real_.features(); }
  void invalidate(const s2pt::InvalidationPlan& plan) override {
    u64 vttbr;
    asm volatile("mrs %0, vttbr_el2" : "=r"(vttbr));
    asm volatile("msr vttbr_el2, %0\n\tisb" : : "r"(plan.context().vttbr) : "memory");
    plan.for_each_invalidation_step([&](const s2pt::PlanStep& step) { real_.issue(step); });
    asm volatile("msr vttbr_el2, %0\n\tisb" : : "r"(vttbr) : "memory");
    plan.for_each_cleaning_step([&](const s2pt::PlanStep& step) { real_.issue(step); });
  }
  void dsb_ish() override { real_.dsb_ish(); }
  void isb() override { real_.isb(); }
  void dc_civac(Pa pa, u64 bytes) override { real_.dc_civac(pa, bytes); }
  void ic_ivau(Pa pa, u64 bytes) override { real_.ic_ivau(pa, bytes); }
  void ic_ialluis() override { real_.ic_ialluis(); }

 private:
  s2pt::aarch64::Aarch64Arch real_;
};

}  // namespace

bool scenario_vhe_host() {
  if (!vhe_host()) {
    say() << "  note: not a VHE host (put `vhe` on the command line): nothing to check here\n";
    return true;
  }
  Checker c("vhe-host");
  u64 host_mode_cpus = 0;
  auto check_host_mode = [&](unsigned) {
    u64 hcr;
    asm volatile("mrs %0, hcr_el2" : "=r"(hcr));
    if ((hcr & (kHcrE2h | kHcrTge)) == (kHcrE2h | kHcrTge)) {
      __atomic_fetch_add(&host_mode_cpus, 1, __ATOMIC_RELAXED);
    }
  };
  on_every_cpu(check_host_mode);
  c.expect(host_mode_cpus == cpu_count(), "CPUs in the VHE host configuration", host_mode_cpus);
  c.report("every CPU runs with HCR_EL2.E2H and TGE set outside its guest");

  const UnmapCase real{.granule = s2pt::Granule::k4,
                       .ipa_bits = 40,
                       .strategy = s2pt::UnmapStrategy::fast,
                       .fwb = true,
                       .range_tlbi = true};
  bool ok = c.ok();
  if (cpu_count() < 2) {
    say() << "  note: one CPU only, no guest runs during the unmap: the control cannot show\n";
  } else {
    TgeKeepingArch control(FeatureMask{.fwb = true, .tlbi_range = true});
    UnmapCase broken = real;
    broken.control = &control;
    ok = run_unmap_case(broken) && ok;
  }
  return run_unmap_case(real) && ok;
}

}  // namespace el2
