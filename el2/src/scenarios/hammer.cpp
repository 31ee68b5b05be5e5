#include "scenarios/hammer.hpp"

#include "smp.hpp"

namespace el2 {
namespace {

// Lives in the guest payload region, which every table maps at IPA == PA.
struct alignas(64) HammerControl {
  u64 phase;
  u64 pad[7];
  u64 progress[kMaxCpus];
};
__attribute__((section(".guest.data"))) HammerControl control;

HammerRange current;
HammerReport reports_by_cpu[kMaxCpus];

HammerReport run_hammer(const HammerRange& range) {
  const unsigned cpu = cpu_index();
  const GuestResult r = call_guest(guest_hammer, range.start.raw, range.pages, range.stride,
                                   range.salt, reinterpret_cast<u64>(&control.phase),
                                   reinterpret_cast<u64>(&control.progress[cpu]));
  return HammerReport{r.exit, r.x[0], r.x[1], r.x[2], r.x[3]};
}

void hammer_job(void*) {
  reports_by_cpu[cpu_index()] = run_hammer(current);
}

Pa pa_of(const void* p) {
  return Pa{reinterpret_cast<u64>(p)};
}

}  // namespace

void set_phase(HammerPhase phase) {
  write64(pa_of(&control.phase), static_cast<u64>(phase));
}

void start_hammers(const HammerRange& range) {
  current = range;
  set_phase(HammerPhase::running);
  for (unsigned cpu = 0; cpu < kMaxCpus; ++cpu)
    write64(pa_of(&control.progress[cpu]), 0);
  for (unsigned cpu = 1; cpu < cpu_count(); ++cpu)
    post(cpu, hammer_job, nullptr);
}

bool wait_for_passes(u64 passes, u64 timeout_us) {
  const u64 deadline = now_us() + timeout_us;
  for (unsigned cpu = 1; cpu < cpu_count(); ++cpu) {
    while (read64(pa_of(&control.progress[cpu])) < passes) {
      if (now_us() > deadline) return false;
    }
  }
  return true;
}

void join_hammers(HammerReport* reports) {
  for (unsigned cpu = 1; cpu < cpu_count(); ++cpu) {
    wait_for(cpu);
    reports[cpu] = reports_by_cpu[cpu];
  }
}

HammerReport hammer_here(const HammerRange& range) {
  return run_hammer(range);
}

FaultAction expect_translation_fault_in_range(const StageTwoFault& f, void* context) {
  auto* expected = static_cast<ExpectedFaults*>(context);
  if (!expected->range.contains(f.ipa) || f.kind != FaultKind::translation) {
    if (__atomic_fetch_add(&expected->unexpected, 1, __ATOMIC_RELAXED) == 0) {
      expected->first_unexpected = f;
    }
  }
  return FaultAction::skip;
}

}  // namespace el2
