// Scenario "s1walk": the guest turns its own stage-1 MMU on, with its page tables in guest
// memory. CPUs hammer data pages whose stage-1 level-3 table lives inside a range of guest
// memory that CPU 0 then unmaps at stage 2 (the data pages themselves stay mapped). After unmap
// returns, every access must fault at stage 2 on the walk of that table (ESR.S1PTW).
//
// Why: with stage 1 off, QEMU caches only combined translations, which VMALLE1IS removes, so the
// IPA-based TLBIs (IPAS2E1IS, RIPAS2E1IS, their operands, TTL hints and range arithmetic) go
// unobserved. QEMU caches the stage-2 translations its stage-1 walker uses in a separate TLB
// that only the IPA-based TLBIs (and VMALLS12E1IS) flush: a TLBI that misses the table's IPA
// leaves the walk working, and the guest keeps reading through a table that is gone.
#include "scenarios/hammer.hpp"
#include "scenarios/scenario.hpp"
#include "smp.hpp"

namespace el2 {
namespace {

using s2pt::Granule;
using s2pt::MapFlags;
using s2pt::UnmapStrategy;

constexpr u64 k4K = 4096;
constexpr u64 k2M = u64{1} << 21;
constexpr u64 kDataPages = 16;         // 4 KiB stage-1 pages the guests read,
constexpr u64 kDataStride = 64 * k4K;  // 256 KiB apart: half under each level-3 table
constexpr u64 kAreaUnits = 64;         // stage-2 pages of guest memory that hold the stage-1 tables
constexpr u64 kDoomedFrom = 16;        // the unmap covers units [16, 64) of it, and the two level-3
                                       // tables sit in its first and its last unit, so a TLBI plan
                                       // that falls short at either end leaves one walk working

// Stage-1 descriptors (4K granule): table, 1 GiB block, page; MAIR index 0, inner shareable, AF.
constexpr u64 kS1Table = 0b11;
constexpr u64 kS1Leaf = (u64{1} << 10) | (u64{3} << 8);
constexpr u64 s1_table(Ipa next) {
  return next.raw | kS1Table;
}
constexpr u64 s1_block(Ipa out) {
  return out.raw | kS1Leaf | 0b01;
}
constexpr u64 s1_page(Ipa out) {
  return out.raw | kS1Leaf | 0b11;
}
constexpr u64 s1_index(Ipa va, int level) {
  return (va.raw >> (12 + 9 * (3 - level))) & 511;
}

struct Setup {
  Granule granule;
  UnmapStrategy strategy;
  bool range_tlbi;
};

bool run(const Setup& setup) {
  Checker c("s1walk");
  const Geometry g = Geometry::make(setup.granule, 40, 48).value();
  TestVm vm;
  if (Status s = vm.create(g, FeatureMask{.tlbi_range = setup.range_tlbi}); s != Status::ok) {
    return c.expect(false, "create", static_cast<u64>(s));
  }
  const u64 unit = g.page_bytes();
  const Ipa area{u64{1} << 36};
  const Ipa data{u64{1} << 37};
  const Pa area_pa = vm.alloc_memory(kAreaUnits * unit, true);  // tables: unused entries 0
  const Pa data_pa = vm.alloc_memory(kDataPages * unit);
  const u64 salt = 0x51A1C ^ static_cast<u64>(setup.strategy);
  const Attrs rw = Attrs::normal(s2pt::Perm::rw);
  for (u64 k = 0; k < kDataPages; ++k) {
    const Ipa at = data + k * kDataStride;
    fill_pattern(data_pa + k * unit, at, unit, salt);
    c.expect(vm.table().map(IpaRange{at, unit}, data_pa + k * unit, rw).ok(), "map data");
  }

  // The guest's stage-1 tables, VA == IPA: level 0 -> level 1, whose entry 1 is a 1 GiB block
  // over the guest payload and whose entry for `data` leads to a level-2 table with two
  // level-3 tables, one for each 2 MiB the data pages span, both in the doomed part.
  const Ipa l0 = area, l1 = area + k4K, l2 = area + 2 * k4K;
  const Ipa l3[2] = {area + kDoomedFrom * unit, area + (kAreaUnits - 1) * unit};
  auto pa_in_area = [&](Ipa ipa) { return area_pa + (ipa - area); };
  const Ipa payload{reinterpret_cast<u64>(__guest_start)};
  write64(pa_in_area(l0) + 8 * s1_index(data, 0), s1_table(l1));
  write64(pa_in_area(l1) + 8 * s1_index(payload, 1), s1_block(payload.align_down(u64{1} << 30)));
  write64(pa_in_area(l1) + 8 * s1_index(data, 1), s1_table(l2));
  for (u64 half = 0; half < 2; ++half) {
    write64(pa_in_area(l2) + 8 * s1_index(data + half * k2M, 2), s1_table(l3[half]));
  }
  for (u64 k = 0; k < kDataPages; ++k) {
    const Ipa at = data + k * kDataStride;
    const Ipa table = l3[(at - data) / k2M];
    write64(pa_in_area(table) + 8 * s1_index(at, 3), s1_page(at));
  }
  c.expect(vm.table().map(IpaRange{area, kAreaUnits * unit}, area_pa, rw, MapFlags::no_blocks).ok(),
           "map stage-1 tables");

  const IpaRange doomed{area + kDoomedFrom * unit, (kAreaUnits - kDoomedFrom) * unit};
  ExpectedFaults expected{.range = doomed};
  auto enter = [&](unsigned) {
    set_guest_stage1(true, l0.raw);
    set_fault_handler(expect_translation_fault_in_range, &expected);
  };
  on_every_cpu(enter);

  const HammerRange hammer{data, kDataPages, kDataStride, salt};
  start_hammers(hammer);
  c.expect(wait_for_passes(2, 20'000'000), "hammers did not get going");
  set_phase(HammerPhase::unmap_started);
  const s2pt::MaintenanceCounters before = vm.table().stats().maintenance;
  s2pt::Progress done;
  {
    Guard guard(vm.lock());
    done = vm.table().unmap(doomed, setup.strategy);
  }
  set_phase(HammerPhase::unmap_returned);
  c.expect(done.ok(), "unmap", static_cast<u64>(done.status));
  const u64 faults_before = this_cpu().faults.count;
  HammerReport reports[kMaxCpus] = {};
  reports[0] = hammer_here(hammer);
  const StageTwoFault last = this_cpu().faults.last;
  c.expect(this_cpu().faults.count - faults_before == kDataPages, "CPU 0 faults after unmap",
           this_cpu().faults.count - faults_before);
  c.expect(last.s1ptw && last.ipa.align_down(k4K) == l3[1], "fault not on the stage-1 walk",
           last.ipa.raw, last.esr);
  join_hammers(reports);
  u64 early = 0;
  for (unsigned cpu = 0; cpu < cpu_count(); ++cpu) {
    const HammerReport& r = reports[cpu];
    c.expect(r.exit == GuestExit::done, "hammer exit", cpu, static_cast<u64>(r.exit));
    c.expect(r.late_successes == 0, "access through the unmapped stage-1 table", cpu,
             r.late_successes);
    c.expect(r.wrong_values == 0, "read returned wrong data", cpu, r.wrong_values);
    if (cpu != 0) c.expect(r.early_successes > 0, "hammer never read the data", cpu);
    early += r.early_successes;
  }
  c.expect(expected.unexpected == 0, "unexpected fault", expected.first_unexpected.ipa.raw,
           expected.first_unexpected.esr);
  auto leave = [&](unsigned) { set_guest_stage1(false); };
  on_every_cpu(leave);

  const s2pt::MaintenanceCounters after = vm.table().stats().maintenance;
  c.expect(vm.destroy(), "leak");
  say() << (c.ok() ? "PASS" : "FAIL") << " s1walk " << name(setup.strategy) << " "
        << (1u << (granule_shift(setup.granule) - 10)) << "K/40 range=" << setup.range_tlbi << ": "
        << early << " reads before; unmap issued TLBI ipa " << after.tlbi_ipa - before.tlbi_ipa
        << " range " << after.tlbi_range - before.tlbi_range << " vmid "
        << after.tlbi_vmid - before.tlbi_vmid << "\n";
  return c.ok();
}

}  // namespace

bool scenario_s1walk() {
  bool ok = true;
  constexpr Granule kGranules[] = {Granule::k4, Granule::k16};
  for (Granule granule : kGranules) {
    for_each_strategy([&](UnmapStrategy strategy) {
      ok = run(Setup{granule, strategy, true}) && ok;
      ok = run(Setup{granule, strategy, false}) && ok;
    });
  }
  return ok;
}

}  // namespace el2
