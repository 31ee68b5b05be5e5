// Scenario "split": a block is split into pages and collapsed back again and again
// (break-before-make each time) while the other CPUs' guests read every page of it. A read
// that meets the break window faults; the handler finds the page mapped again (it waits on the
// lock the core's exclusive operations hold) and retries. No read may ever return wrong data.
#include "scenarios/hammer.hpp"
#include "scenarios/scenario.hpp"
#include "smp.hpp"

namespace el2 {
namespace {

using s2pt::Granule;
using s2pt::Level;
using s2pt::MapFlags;

constexpr unsigned kRounds = 16;

struct Retry {
  TestVm* vm;
  IpaRange range;
  u64 retried = 0;
  u64 unexpected = 0;
};

FaultAction retry_when_mapped(const StageTwoFault& f, void* context) {
  auto* r = static_cast<Retry*>(context);
  Guard guard(r->vm->lock());
  if (r->range.contains(f.ipa) && f.kind == FaultKind::translation &&
      r->vm->table().lookup(f.ipa).ok()) {
    ++r->retried;
    return FaultAction::retry;
  }
  ++r->unexpected;
  return FaultAction::skip;
}

bool run(Granule granule) {
  Checker c("split");
  const Geometry g = Geometry::make(granule, 40, 48).value();
  TestVm vm;
  if (Status s = vm.create(g, FeatureMask{}); s != Status::ok) {
    return c.expect(false, "create", static_cast<u64>(s));
  }
  const u64 block = g.level_bytes(Level{2});
  const u64 page = g.page_bytes();
  const Ipa block_ipa{u64{1} << 38};
  const u64 salt = 0x5B11;
  const Pa block_pa = vm.alloc_memory(block);
  fill_pattern(block_pa, block_ipa, block, salt);
  const IpaRange range{block_ipa, block};
  const Attrs rw = Attrs::normal(s2pt::Perm::rw);
  c.expect(vm.table().map(range, block_pa, rw).ok(), "map block");

  Retry retry{.vm = &vm, .range = range};
  auto install = [&](unsigned) { set_fault_handler(retry_when_mapped, &retry); };
  on_every_cpu(install);
  // Reads every 4 KiB of the first 256 KiB and the last 256 KiB would do as well; the whole
  // block keeps every page of the split table in play.
  const u64 stride = page < 0x4000 ? 0x4000 : page;
  start_hammers(HammerRange{block_ipa, block / stride, stride, salt});
  c.expect(wait_for_passes(1, 20'000'000), "hammers did not get going");
  u64 split_ok = 0, collapse_ok = 0;
  for (unsigned round = 0; round < kRounds; ++round) {
    {
      Guard guard(vm.lock());
      c.expect(vm.table().map(range, block_pa, rw, MapFlags::replace | MapFlags::no_blocks).ok(),
               "split");
    }
    const s2pt::Result<s2pt::Translation> as_pages = vm.table().lookup(block_ipa + block / 2);
    split_ok += as_pages.ok() && as_pages.value().size == page;
    {
      Guard guard(vm.lock());
      c.expect(vm.table().map(range, block_pa, rw, MapFlags::replace).ok(), "collapse");
    }
    const s2pt::Result<s2pt::Translation> as_block = vm.table().lookup(block_ipa + block / 2);
    collapse_ok += as_block.ok() && as_block.value().size == block;
  }
  set_phase(HammerPhase::stop);
  HammerReport reports[kMaxCpus] = {};
  join_hammers(reports);
  u64 reads = 0;
  for (unsigned cpu = 1; cpu < cpu_count(); ++cpu) {
    c.expect(reports[cpu].exit == GuestExit::done, "hammer exit", cpu);
    c.expect(reports[cpu].wrong_values == 0, "read returned wrong data", cpu,
             reports[cpu].wrong_values);
    reads += reports[cpu].early_successes;
  }
  c.expect(split_ok == kRounds && collapse_ok == kRounds, "split/collapse not seen in lookup",
           split_ok, collapse_ok);
  c.expect(retry.unexpected == 0, "fault on an IPA that was not mapped again", retry.unexpected);
  c.expect(vm.destroy(), "leak");
  say() << (c.ok() ? "PASS" : "FAIL") << " split " << (1u << (granule_shift(granule) - 10))
        << "K: " << kRounds << " split+collapse rounds under " << reads << " guest reads, "
        << retry.retried << " reads met a break window and retried\n";
  return c.ok();
}

}  // namespace

bool scenario_split() {
  bool ok = run(Granule::k4);
  ok = run(Granule::k16) && ok;
  return ok;
}

}  // namespace el2
