#include "smp.hpp"

#include "gic.hpp"
#include "runtime.hpp"

extern "C" char el2_secondary_entry[];

namespace el2 {
namespace {

struct JobSlot {
  Job job = nullptr;
  void* context = nullptr;
  u64 posted = 0;    // sequence number of the last job posted
  u64 finished = 0;  // sequence number of the last job finished
  bool ready = false;
};

JobSlot slots[kMaxCpus];
unsigned online = 1;

}  // namespace

const s2pt::aarch64::CpuInfo& system_cpu_info() {
  static s2pt::aarch64::CpuInfo system;
  static bool read = false;
  if (!read) {
    s2pt::aarch64::CpuInfo each[kMaxCpus];
    auto gather = [&](unsigned cpu) { each[cpu] = s2pt::aarch64::read_cpu_info(); };
    on_every_cpu(gather);
    system = each[0];
    for (unsigned cpu = 1; cpu < cpu_count(); ++cpu)
      system = s2pt::aarch64::common(system, each[cpu]);
    read = true;
  }
  return system;
}

unsigned start_secondaries() {
  unsigned started = 1;
  for (unsigned cpu = 1; cpu < kMaxCpus; ++cpu) {
    // PSCI answers INVALID_PARAMETERS for a CPU the machine does not have.
    if (psci_cpu_on(cpu, reinterpret_cast<u64>(el2_secondary_entry), cpu) != 0) break;
    while (!__atomic_load_n(&slots[cpu].ready, __ATOMIC_ACQUIRE))
      asm volatile("yield");
    ++started;
  }
  online = started;
  return started;
}

unsigned cpu_count() {
  return online;
}

void post(unsigned cpu, Job job, void* context) {
  JobSlot& slot = slots[cpu];
  wait_for(cpu);
  slot.job = job;
  slot.context = context;
  __atomic_store_n(&slot.posted, slot.posted + 1, __ATOMIC_RELEASE);
  asm volatile("sev");
}

void wait_for(unsigned cpu) {
  JobSlot& slot = slots[cpu];
  while (__atomic_load_n(&slot.finished, __ATOMIC_ACQUIRE) != slot.posted)
    asm volatile("yield");
}

void secondary_loop(unsigned cpu) {
  JobSlot& slot = slots[cpu];
  __atomic_store_n(&slot.ready, true, __ATOMIC_RELEASE);
  u64 done = 0;
  for (;;) {
    while (__atomic_load_n(&slot.posted, __ATOMIC_ACQUIRE) == done)
      asm volatile("wfe");
    ++done;
    slot.job(slot.context);
    __atomic_store_n(&slot.finished, done, __ATOMIC_RELEASE);
  }
}

}  // namespace el2
