// The state of one Linux guest run, shared by the vCPUs' trap handlers, the migrator and the
// code that sets the run up and ends it (el2/src/linux/*.cpp).
#pragma once

#include "linux/dropping_arch.hpp"
#include "linux/guest_memory.hpp"
#include "s2pt/page_cache.hpp"
#include "s2pt/table.hpp"
#include "s2pt/table_lock.hpp"
#include "spinlock.hpp"
#include "vcpu.hpp"

namespace el2::linux_guest {

struct Options {
  s2pt::UnmapStrategy strategy = s2pt::UnmapStrategy::fast;
  bool fwb = true;
  bool range_tlbi = true;
  bool migrate = true;
  Control control = Control::none;
  u64 seed = 1;
  u64 watchdog_s = 90;  // the guest must have powered off or reset by then
  u64 stall_s = 15;     // ... and must not go this long without a stage-2 fault or PSCI call
  // The migrator's pause between steps, drawn from [gap_min_us, gap_max_us]: each step's
  // broadcast TLBIs stop every vCPU under TCG, so the pace sets how much the guest slows down.
  u64 gap_min_us = 4000;
  u64 gap_max_us = 12000;
};

// Why the run ended.
enum class Verdict : u8 {
  pass,             // the guest's /init powered off (PSCI SYSTEM_OFF): every checker passed
  guest_reset,      // the guest asked for SYSTEM_RESET: a checker failed, or the kernel panicked
  watchdog,         // the guest did neither in time
  stray_fault,      // a stage-2 fault outside guest RAM and the passthrough devices
  unexpected_trap,  // a guest exit the hypervisor does not handle
  hypervisor_error  // the table or the pool failed (no memory, an unexpected status)
};
const char* name(Verdict v);

// Counters, updated with relaxed atomics from every CPU.
struct Counters {
  u64 faults = 0;
  u64 translation = 0;
  u64 access_flag = 0;
  u64 data = 0;
  u64 instruction = 0;
  u64 s1ptw = 0;  // faults on the guest's own stage-1 table walks
  // Leaves installed, by what was asked for (a block request installs the page alone when a
  // table already sits where the block would go).
  u64 block_requests = 0;
  u64 page_requests = 0;
  u64 already_resolved = 0;
  u64 retries = 0;  // busy entries (Status::again)
  u64 psci_calls = 0;
  u64 last_progress_us = 0;  // when the guest last faulted or called PSCI
  u64 migrations = 0;
  u64 block_migrations = 0;
  u64 pages_moved = 0;
  u64 idle_picks = 0;  // migrator picks that found nothing mapped
  u64 table_pages_peak = 0;
};

template <class T>
void bump(T& counter, T by = 1) {
  __atomic_fetch_add(&counter, by, __ATOMIC_RELAXED);
}
void note_peak(u64 table_pages);

enum class VcpuState : u32 { off, on_pending, on };

struct Vcpu {
  VcpuState state = VcpuState::off;
  u64 entry = 0;
  u64 context = 0;
};

struct Run {
  Options options;
  DroppingArch arch;
  alignas(s2pt::Table) unsigned char table_storage[sizeof(s2pt::Table)];
  s2pt::TableLock lock;  // faults: shared side; the migrator and the end of the run: exclusive
  SpinLock arena_lock;   // the page arena (page-cache top-ups, table pages freed or reclaimed)
  GuestMemory memory;
  alignas(s2pt::PageCache) unsigned char cache_storage[kMaxCpus][sizeof(s2pt::PageCache)];
  Vcpu vcpus[kGuestCpus];
  Counters counters;
  // Recently faulting IPAs: the migrator prefers pages the guest is using.
  static constexpr unsigned kRecent = 256;
  u64 recent[kRecent] = {};
  u64 recent_next = 0;
  u64 arena_units_before = 0;
  u64 start_us = 0;
  u32 ending = 0;  // set once, by whoever ends the run
  u32 migrator_stopped = 0;

  s2pt::Table& table() { return *reinterpret_cast<s2pt::Table*>(table_storage); }
  s2pt::PageCache& cache(unsigned cpu) {
    return *reinterpret_cast<s2pt::PageCache*>(cache_storage[cpu]);
  }
  bool is_ending() const { return __atomic_load_n(&ending, __ATOMIC_ACQUIRE) != 0; }
};

Run& run();

// Entry points of the pieces.
u64 on_guest_trap(GuestFrame& frame, u64 esr);        // traps.cpp
u64 handle_stage2_fault(GuestFrame& frame, u64 esr);  // faults.cpp
u64 handle_psci(GuestFrame& frame);                   // psci.cpp
void run_vcpu(unsigned vcpu);                         // psci.cpp
void migrator_main();                                 // migrator.cpp
// Ends the run with `verdict` (the first caller wins; later ones park), reports and exits QEMU.
[[noreturn]] void end_run(Verdict verdict);  // linux_mode.cpp
// Parks the calling CPU at EL2 for good.
[[noreturn]] void park();

}  // namespace el2::linux_guest
