// The `linux` mode of the EL2 harness: boots the Linux kernel QEMU loaded into guest RAM on
// s2pt tables, two vCPUs on physical CPUs 0 and 1, the migrator on CPU 2, and reports the run.
//   semihosting command line: s2pt-el2 linux [strategy=per_entry|deferred|fast] [fwb=on|off]
//     [range=on|off] [control=none|drop-ipa|drop-s1|drop-all] [migrate=on|off] [seed=N]
//     [watchdog=SECONDS] [stall=SECONDS] [gap=MIN_US-MAX_US]
// Exit status (semihosting): 0 the guest powered off and nothing leaked, 1 any other ending,
// 2 bad options.
#include "linux/linux_mode.hpp"

#include <initializer_list>

#include "linux/run.hpp"
#include "page_arena.hpp"
#include "runtime.hpp"
#include "smp.hpp"

namespace el2::linux_guest {
namespace {

using s2pt::Status;
using s2pt::UnmapStrategy;

Run the_run;

// ---- options ------------------------------------------------------------------------------
bool same(const char* a, u64 n, const char* b) {
  for (u64 i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return b[n] == '\0';
}

bool parse_on_off(const char* v, u64 n, bool& out) {
  if (same(v, n, "on")) return (out = true), true;
  if (same(v, n, "off")) return (out = false), true;
  return false;
}

bool parse_number(const char* v, u64 n, u64& out) {
  if (n == 0) return false;
  out = 0;
  for (u64 i = 0; i < n; ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
    out = out * 10 + static_cast<u64>(v[i] - '0');
  }
  return true;
}

bool parse_option(const char* key, u64 key_n, const char* v, u64 n, Options& o) {
  if (same(key, key_n, "strategy")) {
    for (UnmapStrategy s : s2pt::kAllUnmapStrategies) {
      if (same(v, n, s2pt::name(s))) return (o.strategy = s), true;
    }
    return false;
  }
  if (same(key, key_n, "fwb")) return parse_on_off(v, n, o.fwb);
  if (same(key, key_n, "range")) return parse_on_off(v, n, o.range_tlbi);
  if (same(key, key_n, "migrate")) return parse_on_off(v, n, o.migrate);
  if (same(key, key_n, "seed")) return parse_number(v, n, o.seed);
  if (same(key, key_n, "watchdog")) return parse_number(v, n, o.watchdog_s);
  if (same(key, key_n, "stall")) return parse_number(v, n, o.stall_s);
  if (same(key, key_n, "gap")) {
    // gap=MIN-MAX in microseconds
    u64 dash = 0;
    while (dash < n && v[dash] != '-')
      ++dash;
    return dash < n && parse_number(v, dash, o.gap_min_us) &&
           parse_number(v + dash + 1, n - dash - 1, o.gap_max_us) && o.gap_min_us <= o.gap_max_us;
  }
  if (same(key, key_n, "control")) {
    for (Control c : {Control::none, Control::drop_ipa, Control::drop_s1, Control::drop_all}) {
      if (same(v, n, name(c))) return (o.control = c), true;
    }
  }
  return false;
}

// The words after "linux" on the command line.
bool parse(const char* line, Options& o) {
  bool ok = true;
  for_each_word(line, [&](const char* start, u64 n, unsigned index) {
    if (index < 2) return true;  // program name, "linux"
    u64 eq = 0;
    while (eq < n && start[eq] != '=')
      ++eq;
    if (eq == n || !parse_option(start, eq, start + eq + 1, n - eq - 1, o)) {
      say() << "linux: bad option: ";
      for (u64 i = 0; i < n; ++i) {
        const char text[2] = {start[i], '\0'};
        say() << text;
      }
      say() << "\n";
      ok = false;
    }
    return ok;
  });
  return ok;
}

// ---- EL2 configuration for Linux ------------------------------------------------------------
namespace hcr {
constexpr u64 kVm = u64{1} << 0;
constexpr u64 kSwio = u64{1} << 1;  // set/way invalidation by the guest cleans too
constexpr u64 kTsc = u64{1} << 19;  // SMC traps to EL2: PSCI is emulated here
constexpr u64 kRw = u64{1} << 31;   // EL1 is AArch64
constexpr u64 kApk = u64{1} << 40;  // pointer-authentication key registers: not trapped
constexpr u64 kApi = u64{1} << 41;  // pointer-authentication instructions: not trapped
}  // namespace hcr
// CPTR_EL2 (E2H = 0): only the RES1 bits, so FP/SIMD (TFP), SVE (TZ), SME (TSM), trace (TTA),
// activity monitors (TAM) and CPACR (TCPAC) accesses are not trapped (Arm ARM D17.2, CPTR_EL2).
constexpr u64 kCptrRes1 = 0x22FF;
// CNTHCTL_EL2 (E2H = 0): EL1PCTEN and EL1PCEN, EL1 reads the physical counter and uses the
// physical timer without trapping.
constexpr u64 kCnthctlEl1Access = 0x3;

void configure_cpu(u64 vtcr, u64 vttbr, bool fwb) {
  load_stage2(vtcr, vttbr, fwb);
  u64 hcr, midr, mpidr;
  asm volatile("mrs %0, hcr_el2" : "=r"(hcr));
  hcr |= hcr::kVm | hcr::kSwio | hcr::kTsc | hcr::kRw | hcr::kApk | hcr::kApi;
  asm volatile("mrs %0, midr_el1" : "=r"(midr));
  asm volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
  asm volatile(
      "msr hcr_el2, %0\n\t"
      "msr cptr_el2, %1\n\t"
      "msr cnthctl_el2, %2\n\t"
      "msr cntvoff_el2, xzr\n\t"
      "msr hstr_el2, xzr\n\t"
      "msr vpidr_el2, %3\n\t"
      "msr vmpidr_el2, %4\n\t"
      "isb"
      :
      : "r"(hcr), "r"(kCptrRes1), "r"(kCnthctlEl1Access), "r"(midr), "r"(mpidr)
      : "memory");
}

Status create_table() {
  Run& r = the_run;
  const s2pt::aarch64::FeatureMask mask{.fwb = r.options.fwb, .tlbi_range = r.options.range_tlbi};
  r.arch = DroppingArch(system_cpu_info(), mask, r.options.control);
  const s2pt::Geometry geometry = s2pt::Geometry::make(s2pt::Granule::k4, 40, 48).value();
  const s2pt::TableConfig config{.geometry = geometry,
                                 .vmid = s2pt::Vmid{1},
                                 .use_fwb = r.options.fwb,
                                 .use_tlbi_range = r.options.range_tlbi};
  r.arena_units_before = arena().units_in_use();
  s2pt::Result<s2pt::Table> table = s2pt::Table::create(config, arena(), r.arch);
  if (!table.ok()) return table.status();
  new (r.table_storage) s2pt::Table(static_cast<s2pt::Result<s2pt::Table>&&>(table).value());
  for (const Passthrough& d : kPassthrough) {
    const s2pt::Progress p = r.table().map(s2pt::IpaRange{Ipa{d.base}, d.bytes}, Pa{d.base},
                                           s2pt::Attrs::device(s2pt::Perm::rw));
    if (!p.ok()) return p.status;
  }
  for (unsigned cpu = 0; cpu < kMaxCpus; ++cpu)
    new (r.cache_storage[cpu]) s2pt::PageCache(kPageBytes, cpu);
  return Status::ok;
}

void migrator_job(void*) {
  migrator_main();
}

// ---- the report -----------------------------------------------------------------------------
u64 load(const u64& counter) {
  return __atomic_load_n(&counter, __ATOMIC_RELAXED);
}

const char* on_off(bool b) {
  return b ? "on" : "off";
}

void report(Verdict verdict, u64 table_pages_end, u64 table_pages_after, u64 leaked,
            const s2pt::MaintenanceCounters& m) {
  Run& r = the_run;
  const Counters& c = r.counters;
  const u64 ms = (now_us() - r.start_us) / 1000;
  say() << "linux: run strategy=" << s2pt::name(r.options.strategy)
        << " fwb=" << on_off(r.table().features().fwb)
        << " range=" << on_off(r.table().features().tlbi_range)
        << " control=" << name(r.options.control) << " seed=" << r.options.seed
        << " gap=" << r.options.gap_min_us << "-" << r.options.gap_max_us << " us, " << kGuestCpus
        << " vCPUs + migrator on CPU " << kMigratorCpu << "\n";
  say() << "linux: guest time " << ms / 1000 << "." << (ms % 1000) / 100
        << " s from entry to verdict, " << load(c.psci_calls) << " PSCI calls\n";
  say() << "linux: faults " << load(c.faults) << ": translation " << load(c.translation)
        << ", access-flag " << load(c.access_flag) << "; data " << load(c.data) << ", instruction "
        << load(c.instruction) << ", stage-1 walk " << load(c.s1ptw) << "; leaves mapped "
        << load(c.block_requests) + load(c.page_requests) << " (" << load(c.block_requests)
        << " asked as 2 MiB blocks), already resolved " << load(c.already_resolved)
        << ", busy retries " << load(c.retries) << "\n";
  say() << "linux: migrations " << load(c.migrations) << " (" << load(c.block_migrations)
        << " whole 2 MiB blocks), pages moved " << load(c.pages_moved) << ", idle picks "
        << load(c.idle_picks) << "\n";
  say() << "linux: table pages peak " << load(c.table_pages_peak) << ", at the end "
        << table_pages_end << ", after destroy " << table_pages_after << "; arena pages leaked "
        << leaked << "\n";
  say() << "linux: tlbi ipa " << m.tlbi_ipa << ", range " << m.tlbi_range << ", vmalle1is "
        << m.tlbi_s1 << ", vmalls12e1is " << m.tlbi_vmid << "; dropped by the control "
        << r.arch.dropped() << "\n";
  say() << "linux: verdict " << name(verdict) << "\n";
}

}  // namespace

Run& run() {
  return the_run;
}

const char* name(Verdict v) {
  switch (v) {
    case Verdict::pass:
      return "pass";
    case Verdict::guest_reset:
      return "guest-reset";
    case Verdict::watchdog:
      return "watchdog";
    case Verdict::stray_fault:
      return "stray-fault";
    case Verdict::unexpected_trap:
      return "unexpected-trap";
    case Verdict::hypervisor_error:
      return "hypervisor-error";
  }
  return "?";
}

void note_peak(u64 table_pages) {
  u64& peak = the_run.counters.table_pages_peak;
  u64 seen = __atomic_load_n(&peak, __ATOMIC_RELAXED);
  while (table_pages > seen && !__atomic_compare_exchange_n(&peak, &seen, table_pages, true,
                                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

void park() {
  for (;;)
    asm volatile("wfe");
}

void end_run(Verdict verdict) {
  Run& r = the_run;
  u32 idle = 0;
  if (!__atomic_compare_exchange_n(&r.ending, &idle, 1u, false, __ATOMIC_SEQ_CST,
                                   __ATOMIC_SEQ_CST)) {
    park();
  }
  if (cpu_index() != kMigratorCpu) {
    while (__atomic_load_n(&r.migrator_stopped, __ATOMIC_ACQUIRE) == 0)
      asm volatile("yield");
  }
  // No fault in flight from here on; vCPUs that trap again park (on_guest_trap).
  r.lock.lock();
  r.arena_lock.lock();
  for (unsigned cpu = 0; cpu < kMaxCpus; ++cpu)
    r.cache(cpu).drain(arena());
  r.arena_lock.unlock();
  s2pt::Table& table = r.table();
  const u64 pages_end = table.stats().table_pages;
  note_peak(pages_end);
  const s2pt::MaintenanceCounters m = table.stats().maintenance;
  r.arena_lock.lock();
  table.destroy();
  table.reclaim_all();
  r.arena_lock.unlock();
  const u64 pages_after = table.stats().table_pages;
  const u64 leaked = arena().units_in_use() - r.arena_units_before;
  report(verdict, pages_end, pages_after, leaked, m);
  const bool clean = pages_after == 0 && leaked == 0;
  if (!clean) say() << "linux: FAIL: table pages leaked after destroy\n";
  exit_qemu(verdict == Verdict::pass && clean ? kExitPass : kExitFail);
}

void linux_main(const char* command_line) {
  Run& r = the_run;
  if (!parse(command_line, r.options)) exit_qemu(kExitFatal);
  if (cpu_count() < kMigratorCpu + 1) {
    say() << "linux: needs " << kMigratorCpu + 1 << " CPUs (-smp), has " << cpu_count() << "\n";
    exit_qemu(kExitFatal);
  }
  r.memory.init();
  if (const Status s = create_table(); s != Status::ok) {
    say() << "linux: creating the table failed: " << s2pt::describe(s) << "\n";
    exit_qemu(kExitFatal);
  }
  const u64 vtcr = r.table().geometry().vtcr();
  const u64 vttbr = r.table().vttbr();
  const bool fwb = r.table().features().fwb;
  auto install = [&](unsigned) { configure_cpu(vtcr, vttbr, fwb); };
  on_every_cpu(install);

  say() << "linux: booting the guest: kernel at " << Hex{kKernelEntry} << ", device tree at "
        << Hex{kDtb} << ", RAM " << Hex{kRamBase} << "+" << (kRamBytes >> 20)
        << " MiB demand-mapped, strategy " << s2pt::name(r.options.strategy) << ", control "
        << name(r.options.control) << "\n";
  r.start_us = now_us();
  r.counters.last_progress_us = r.start_us;
  post(kMigratorCpu, migrator_job, nullptr);
  r.vcpus[0].entry = kKernelEntry;
  r.vcpus[0].context = kDtb;
  r.vcpus[0].state = VcpuState::on_pending;
  for (;;) {
    run_vcpu(0);
    // vCPU 0 called CPU_OFF: wait for a CPU_ON naming it.
    while (__atomic_load_n(&r.vcpus[0].state, __ATOMIC_ACQUIRE) != VcpuState::on_pending)
      asm volatile("yield");
  }
}

}  // namespace el2::linux_guest
