// Scenario "hafdbs": what this CPU (QEMU's -cpu max) does with stage-2 hardware access-flag and
// dirty-state updates (FEAT_HAFDBS), the evidence for dirty logging by DBM. The page is mapped by
// the core, then its descriptor is changed by hand (s2pt does not write DBM yet): read-only with
// DBM set, or AF clear; VTCR_EL2.HD and HA are set, and the guest stores or loads. Hardware
// dirty-state management turns the read-only DBM page writable (S2AP[1], bit 7) on the store
// with no fault (Arm ARM D8.4.7, "Hardware management of the dirty state"); hardware AF
// management sets AF on the load with no fault. The scenario prints what happened and checks that
// it matches what ID_AA64MMFR1_EL1.HAFDBS advertises.
#include "scenarios/scenario.hpp"
#include "smp.hpp"
#include "vm.hpp"

namespace el2 {
namespace {

constexpr u64 kPage = 4096;
constexpr Ipa kIpa{u64{1} << 35};
constexpr u64 kVtcrHa = u64{1} << 21;
constexpr u64 kVtcrHd = u64{1} << 22;
constexpr u64 kAf = u64{1} << 10;
constexpr u64 kS2apWrite = u64{1} << 7;
constexpr u64 kDbm = u64{1} << 51;
constexpr u64 kAddress = ((u64{1} << 48) - 1) & ~(kPage - 1);

// The level-3 descriptor of `ipa` in a 4K, 40-bit table (start level 1, two root pages), found
// by hand: the core has no interface to a raw descriptor, and this probe needs one.
volatile u64* descriptor(Table& table, Ipa ipa) {
  const u64* l1 = reinterpret_cast<const u64*>(table.root().raw);
  const u64 l2 = l1[ipa.raw >> 30] & kAddress;
  const u64 l3 = reinterpret_cast<const u64*>(l2)[(ipa.raw >> 21) & 511] & kAddress;
  return reinterpret_cast<volatile u64*>(l3) + ((ipa.raw >> 12) & 511);
}

u64 read_descriptor(volatile u64* d) {
  sync_with_guest(Pa{reinterpret_cast<u64>(d)}, 8);
  return *d;
}
void write_descriptor(volatile u64* d, u64 value) {
  *d = value;
  sync_with_guest(Pa{reinterpret_cast<u64>(d)}, 8);
}

}  // namespace

bool scenario_hafdbs() {
  Checker c("hafdbs");
  u64 mmfr1;
  asm volatile("mrs %0, id_aa64mmfr1_el1" : "=r"(mmfr1));
  const u64 hafdbs = mmfr1 & 0xF;
  say() << "  ID_AA64MMFR1_EL1.HAFDBS = " << hafdbs
        << (hafdbs >= 2   ? " (access flag and dirty state)"
            : hafdbs == 1 ? " (access flag only)"
                          : " (none)")
        << "\n";
  const Geometry g = Geometry::make(s2pt::Granule::k4, 40, 48).value();
  TestVm vm;
  if (Status s = vm.create(g, FeatureMask{}); s != Status::ok) {
    return c.expect(false, "create", static_cast<u64>(s));
  }
  const Pa memory = vm.alloc_memory(2 * kPage, true);
  c.expect(vm.table()
               .map(IpaRange{kIpa, 2 * kPage}, memory, Attrs::normal(s2pt::Perm::rw),
                    s2pt::MapFlags::no_blocks)
               .ok(),
           "map");
  volatile u64* dirty_page = descriptor(vm.table(), kIpa);
  volatile u64* young_page = descriptor(vm.table(), kIpa + kPage);
  c.expect((read_descriptor(dirty_page) & kAddress) == memory.raw, "found the descriptor");
  // Read-only with DBM: writable-clean. AF clear on the other.
  write_descriptor(dirty_page, (read_descriptor(dirty_page) & ~kS2apWrite) | kDbm);
  write_descriptor(young_page, read_descriptor(young_page) & ~kAf);
  // Nothing of them is cached yet (never accessed), and VTCR_EL2 is reloaded with HD and HA.
  load_stage2(g.vtcr() | kVtcrHa | kVtcrHd, vm.table().vttbr(), vm.table().features().fwb);
  this_cpu().faults.clear();

  const Access store = guest_store(kIpa, 0x5EED);
  const u64 after_store = read_descriptor(dirty_page);
  const Access load = guest_load(kIpa + kPage);
  const u64 after_load = read_descriptor(young_page);
  const bool dirty_by_hardware = !store.faulted && (after_store & kS2apWrite) != 0;
  const bool young_by_hardware = !load.faulted && (after_load & kAf) != 0;
  say() << "  store to a read-only DBM page: " << (store.faulted ? "permission fault" : "no fault")
        << ", descriptor now " << Hex{after_store}
        << (dirty_by_hardware ? " (S2AP[1] set by the walker)" : "") << "\n";
  say() << "  load from a page with AF clear: " << (load.faulted ? "access-flag fault" : "no fault")
        << ", descriptor now " << Hex{after_load}
        << (young_by_hardware ? " (AF set by the walker)" : "") << "\n";
  c.expect(dirty_by_hardware == (hafdbs >= 2), "dirty-state update disagrees with HAFDBS", hafdbs);
  c.expect(young_by_hardware == (hafdbs >= 1), "access-flag update disagrees with HAFDBS", hafdbs);
  if (dirty_by_hardware) {
    c.expect(read64(memory) == 0x5EED, "the store did not reach memory");
    c.expect((after_store & kDbm) != 0, "DBM cleared by the update");
  }
  // Back to the table's own VTCR before the table is torn down.
  load_stage2(g.vtcr(), vm.table().vttbr(), vm.table().features().fwb);
  c.expect(vm.destroy(), "leak");
  return c.report(dirty_by_hardware ? "QEMU updates stage-2 dirty state and AF in hardware"
                                    : "no stage-2 hardware dirty-state update");
}

}  // namespace el2
