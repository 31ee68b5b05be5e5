// Scenario "boot": the harness itself works. Every CPU runs at EL2 with its MMU on, enters its
// guest through a 4K/40-bit table that maps only the guest payload, reads a word the boot CPU
// wrote there, and traps back; a load outside the payload faults.
#include "scenarios/scenario.hpp"
#include "smp.hpp"
#include "vm.hpp"

namespace el2 {
namespace {

__attribute__((section(".guest.data"))) u64 greeting;

}  // namespace

bool scenario_boot() {
  Checker c("boot");
  TestVm vm;
  const Geometry g = Geometry::make(s2pt::Granule::k4, 40, 48).value();
  if (Status s = vm.create(g, FeatureMask{}); s != Status::ok) {
    return c.expect(false, "create", static_cast<u64>(s));
  }
  const s2pt::Features f = vm.arch().features();
  say() << "  CPU features: FWB " << f.fwb << ", TLBI range " << f.tlbi_range << ", TTL " << f.ttl
        << ", DIC " << f.dic << ", BBM level " << static_cast<unsigned>(f.bbm_level)
        << "; D-cache line " << vm.arch().cpu().dcache_line << " bytes, VMID "
        << vm.arch().cpu().vmid_bits << " bits\n";
  const Pa word{reinterpret_cast<u64>(&greeting)};
  write64(word, 0x600D'B007);
  u64 entered = 0, faulted_outside = 0;
  auto enter = [&](unsigned) {
    const Access a = guest_load(Ipa{word.raw});
    if (!a.faulted && a.value == 0x600D'B007) __atomic_fetch_add(&entered, 1, __ATOMIC_RELAXED);
    const Access outside = guest_load(Ipa{0x1000});
    if (outside.faulted && outside.fault.ipa == Ipa{0x1000}) {
      __atomic_fetch_add(&faulted_outside, 1, __ATOMIC_RELAXED);
    }
  };
  on_every_cpu(enter);
  c.expect(entered == cpu_count(), "CPUs whose guest read the word", entered, cpu_count());
  c.expect(faulted_outside == cpu_count(), "CPUs whose guest faulted outside", faulted_outside);
  c.expect(vm.destroy(), "leak");
  return c.report("every CPU entered its guest");
}

}  // namespace el2
