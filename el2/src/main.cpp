// Boot flow: CPU 0 sets up the EL2 MMU, the page arena and the other CPUs, runs the scenarios
// named on the semihosting command line (all of them by default) and exits QEMU with 0 only if
// every one passed.
#include "gic.hpp"
#include "linux/linux_mode.hpp"
#include "mmu.hpp"
#include "page_arena.hpp"
#include "runtime.hpp"
#include "scenarios/scenario.hpp"
#include "smp.hpp"
#include "vcpu.hpp"

extern "C" {
extern char __arena_start[];
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();
}

namespace el2 {
namespace {

// QEMU is started with -m 1G: RAM is [0x40000000, 0x80000000).
constexpr u64 kRamEnd = kRamBase + (u64{1} << 30);

bool same(const char* a, const char* b, u64 n) {
  for (u64 i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return b[n] == '\0';
}

// Whether the command line's word at `index` (0: the program name) is `word`.
bool word_at(const char* line, unsigned index, const char* word) {
  bool found = false;
  for_each_word(line, [&](const char* w, u64 n, unsigned i) {
    found = i == index && same(w, word, n);
    return i < index;
  });
  return found;
}

// Whether the command line holds `word` after the program name.
bool has_word(const char* line, const char* word) {
  bool found = false;
  for_each_word(line, [&](const char* w, u64 n, unsigned i) {
    found = i > 0 && same(w, word, n);
    return !found;
  });
  return found;
}

// Words that set a mode rather than name a scenario.
constexpr const char* kVheWord = "vhe";

// Whether `scenario` was asked for: the words after the program name on the command line (but
// the mode words), or every scenario when there are none (or "all").
bool selected(const char* line, const char* scenario) {
  bool any = false;
  bool chosen = false;
  for_each_word(line, [&](const char* w, u64 n, unsigned i) {
    if (i == 0 || same(w, kVheWord, n)) return true;
    any = true;
    chosen = same(w, "all", n) || same(w, scenario, n);
    return !chosen;
  });
  return chosen || !any;
}

[[noreturn]] void boot_cpu_main() {
  for (auto* init = __init_array_start; init != __init_array_end; ++init)
    (*init)();
  const char* line = command_line();
  if (has_word(line, kVheWord)) {
    if (!cpu_has_vhe()) {
      say() << "FAIL vhe: the CPU does not implement FEAT_VHE\n";
      exit_qemu(kExitFail);
    }
    set_vhe_host();  // before the other CPUs start: each switches itself when it comes up
    enter_vhe_host();
  }
  const u64 arena_start = reinterpret_cast<u64>(__arena_start);
  arena().init(s2pt::Pa{arena_start}, kRamEnd - arena_start);
  init_vcpu(0);
  gic_init_distributor();
  gic_init_cpu();
  const unsigned cpus = start_secondaries();
  say() << "s2pt-el2: " << cpus << " CPUs at EL2" << (vhe_host() ? " as a VHE host" : "") << ", "
        << (gic_v2_present() ? "GICv2 wake-ups" : "no GICv2: idle CPUs spin") << "\n";
  const s2pt::aarch64::CpuInfo& system = system_cpu_info();
  say() << "s2pt-el2: common to all CPUs: D-cache line " << system.dcache_line << ", I-cache line "
        << system.icache_line << (system.features.aliasing_icache ? ", aliasing I-cache" : "")
        << "\n";

  if (word_at(line, 1, "linux") && vhe_host()) {
    say() << "FAIL linux: the Linux guest mode runs on a non-VHE host only\n";
    exit_qemu(kExitFail);
  }
  if (word_at(line, 1, "linux")) linux_guest::linux_main(line);
  bool all_passed = true;
  unsigned ran = 0;
  for (const Scenario& s : scenarios()) {
    if (!selected(line, s.name)) continue;
    ++ran;
    say() << "== " << s.name << ": " << s.what << "\n";
    const bool passed = s.run();
    say() << (passed ? "PASS " : "FAIL ") << s.name << "\n";
    all_passed = all_passed && passed;
  }
  if (ran == 0) {
    say() << "FAIL no scenario matches the command line: " << line << "\n";
    all_passed = false;
  }
  say() << "s2pt-el2: " << (all_passed ? "all passed" : "FAILED") << "\n";
  exit_qemu(all_passed ? kExitPass : kExitFail);
}

}  // namespace
}  // namespace el2

extern "C" [[noreturn]] void el2_cpu_main(unsigned cpu) {
  using namespace el2;
  if (cpu == 0) build_identity_map();
  enable_mmu();
  if (cpu == 0) boot_cpu_main();
  if (vhe_host()) enter_vhe_host();
  init_vcpu(cpu);
  gic_init_cpu();
  secondary_loop(cpu);
}
