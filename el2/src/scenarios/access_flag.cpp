// Scenario "access-flag": an entry mapped with AF clear takes an access-flag fault (at the
// exact IPA) on every CPU; mkyoung makes it accessible; test_and_clear_young reports it.
#include <initializer_list>

#include "scenarios/scenario.hpp"
#include "smp.hpp"
#include "vm.hpp"

namespace el2 {
namespace {

using s2pt::Granule;
using s2pt::Level;
using s2pt::MapFlags;

constexpr u64 kPages = 4;

bool run(Granule granule) {
  Checker c("access-flag");
  const Geometry g = Geometry::make(granule, 40, 48).value();
  TestVm vm;
  if (Status s = vm.create(g, FeatureMask{}); s != Status::ok) {
    return c.expect(false, "create", static_cast<u64>(s));
  }
  const u64 page = g.page_bytes();
  const u64 block = g.level_bytes(Level{2});
  const Ipa pages_ipa{u64{1} << 35};
  const Ipa block_ipa{u64{1} << 36};
  const u64 salt = 0xAF;
  const Pa pages_pa = vm.alloc_memory(kPages * page);
  const Pa block_pa = vm.alloc_memory(block);
  fill_pattern(pages_pa, pages_ipa, kPages * page, salt);
  fill_pattern(block_pa, block_ipa, block, salt);
  Attrs old = Attrs::normal(s2pt::Perm::rw);
  old.af = false;
  const IpaRange pages{pages_ipa, kPages * page};
  const IpaRange blocks{block_ipa, block};
  c.expect(vm.table().map(pages, pages_pa, old, MapFlags::no_blocks).ok(), "map pages");
  c.expect(vm.table().map(blocks, block_pa, old).ok(), "map block");
  c.expect(!vm.table().test_and_clear_young(pages).value(), "fresh old pages are young");

  const Ipa probes[] = {pages_ipa + 0x18, pages_ipa + (kPages - 1) * page + 0xFF8, block_ipa + 0x40,
                        block_ipa + block - page + 0x10};
  u64 bad_faults = 0, bad_reads = 0;
  auto expect_af_fault = [&](unsigned) {
    for (Ipa at : probes) {
      const Access a = guest_load(at);
      if (!a.faulted || a.fault.kind != FaultKind::access_flag || a.fault.ipa != at) {
        __atomic_fetch_add(&bad_faults, 1, __ATOMIC_RELAXED);
      }
    }
  };
  on_every_cpu(expect_af_fault);
  c.expect(bad_faults == 0, "no access-flag fault at the exact IPA", bad_faults);

  {
    Guard guard(vm.lock());
    c.expect(vm.table().mkyoung(pages).ok() && vm.table().mkyoung(blocks).ok(), "mkyoung");
  }
  auto expect_reads = [&](unsigned) {
    for (Ipa at : probes) {
      const Ipa base = at.align_down(4096);
      const Access a = guest_load(base);
      if (a.faulted || a.value != pattern(base, salt)) {
        __atomic_fetch_add(&bad_reads, 1, __ATOMIC_RELAXED);
      }
    }
  };
  on_every_cpu(expect_reads);
  c.expect(bad_reads == 0, "read after mkyoung failed", bad_reads);
  c.expect(vm.table().test_and_clear_young(pages).value(), "young pages not reported");
  c.expect(!vm.table().test_and_clear_young(pages).value(), "young bit not cleared");
  c.expect(vm.table().test_and_clear_young(blocks).value(), "young block not reported");
  c.expect(vm.destroy(), "leak");
  say() << (c.ok() ? "PASS" : "FAIL") << " access-flag " << (1u << (granule_shift(granule) - 10))
        << "K\n";
  return c.ok();
}

}  // namespace

bool scenario_access_flag() {
  bool ok = run(Granule::k4);
  ok = run(Granule::k16) && ok;
  return ok;
}

}  // namespace el2
