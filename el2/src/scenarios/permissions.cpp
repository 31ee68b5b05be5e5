// Scenario "permissions": write-protecting a range (part pages, part a block that must split)
// makes guest stores to it take a stage-2 permission fault on every CPU, even on CPUs that had
// a writable translation cached, while loads keep working; relaxing it restores stores.
#include <initializer_list>

#include "scenarios/scenario.hpp"
#include "smp.hpp"
#include "vm.hpp"

namespace el2 {
namespace {

using s2pt::Granule;
using s2pt::Level;
using s2pt::MapFlags;
using s2pt::Perm;

constexpr u64 kPages = 8;

struct Counters {
  u64 bad = 0;
  Ipa first_bad{};
};

void note(Counters& c, Ipa at) {
  if (__atomic_fetch_add(&c.bad, 1, __ATOMIC_RELAXED) == 0) c.first_bad = at;
}

// After relax, a CPU may still hold the read-only translation (the architecture allows a
// spurious permission fault until it is invalidated): like a hypervisor, retry when the table
// already grants the access.
struct RelaxContext {
  Table* table;
  u64 spurious = 0;
  u64 real = 0;
};
FaultAction retry_if_writable(const StageTwoFault& f, void* context) {
  auto* ctx = static_cast<RelaxContext*>(context);
  const s2pt::Result<s2pt::Translation> t = ctx->table->lookup(f.ipa);
  if (f.kind == FaultKind::permission && t.ok() && has(t.value().attrs.perm, Perm::write)) {
    __atomic_fetch_add(&ctx->spurious, 1, __ATOMIC_RELAXED);
    return FaultAction::retry;
  }
  __atomic_fetch_add(&ctx->real, 1, __ATOMIC_RELAXED);
  return FaultAction::skip;
}

// Relaxing through the shared fault path, as a dirty-logging hypervisor does on the first write to
// a write-protected page: the first CPU to fault relaxes the page and invalidates only its own
// TLB; every other CPU that still holds the read-only entry faults too, finds the page already
// writable (already_resolved) and drops its own copy. A CPU whose copy were never dropped would
// fault on the same store forever: after kMaxFaults on one store it is counted as stuck.
struct FaultRelax {
  Table* table;
  IpaRange range;
  Ipa pages_ipa;
  Pa pages_pa;
  Ipa block_ipa;
  Pa block_pa;
  u64 page;
  s2pt::PageCache* caches[kMaxCpus] = {};
  u64 faults_on_this_store[kMaxCpus] = {};
  u64 relaxed = 0;
  u64 already_resolved = 0;
  u64 stuck = 0;
  u64 errors = 0;
};
constexpr u64 kMaxFaults = 64;

FaultAction relax_through_fault(const StageTwoFault& f, void* context) {
  auto* r = static_cast<FaultRelax*>(context);
  const unsigned cpu = cpu_index();
  if (f.kind != FaultKind::permission || !f.write || !r->range.contains(f.ipa)) {
    __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
    return FaultAction::skip;
  }
  if (++r->faults_on_this_store[cpu] > kMaxFaults) {
    __atomic_fetch_add(&r->stuck, 1, __ATOMIC_RELAXED);
    return FaultAction::skip;
  }
  const Ipa base = f.ipa.align_down(r->page);
  const Pa pa = base < r->block_ipa ? r->pages_pa + (base - r->pages_ipa)
                                    : r->block_pa + (base - r->block_ipa);
  const s2pt::Result<s2pt::FaultOutcome> out = r->table->handle_fault(
      {.ipa = f.ipa, .pa = pa, .leaf_bytes = r->page, .attrs = Attrs::normal(Perm::rw)},
      *r->caches[cpu]);
  if (!out.ok()) {
    if (out.status() == Status::again) return FaultAction::retry;
    __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
    return FaultAction::skip;
  }
  if (out.value() == s2pt::FaultOutcome::relaxed)
    __atomic_fetch_add(&r->relaxed, 1, __ATOMIC_RELAXED);
  if (out.value() == s2pt::FaultOutcome::already_resolved) {
    __atomic_fetch_add(&r->already_resolved, 1, __ATOMIC_RELAXED);
  }
  return FaultAction::retry;
}

bool run(Granule granule, bool fwb) {
  Checker c("permissions");
  const Geometry g = Geometry::make(granule, 40, 48).value();
  TestVm vm;
  if (Status s = vm.create(g, FeatureMask{.fwb = fwb}); s != Status::ok) {
    return c.expect(false, "create", static_cast<u64>(s));
  }
  const u64 page = g.page_bytes();
  const u64 block = g.level_bytes(Level{2});
  const Ipa block_ipa{u64{1} << 36};
  const Ipa pages_ipa = block_ipa - 2 * kPages * page;
  const u64 salt = 0xAB5;
  const Pa pages_pa = vm.alloc_memory(2 * kPages * page);
  const Pa block_pa = vm.alloc_memory(block);
  fill_pattern(pages_pa, pages_ipa, 2 * kPages * page, salt);
  fill_pattern(block_pa, block_ipa, block, salt);
  const Attrs rw = Attrs::normal(Perm::rw);
  c.expect(vm.table()
               .map(IpaRange{pages_ipa, 2 * kPages * page}, pages_pa, rw, MapFlags::no_blocks)
               .ok(),
           "map pages");
  c.expect(vm.table().map(IpaRange{block_ipa, block}, block_pa, rw).ok(), "map block");
  const IpaRange target{block_ipa - kPages * page, 2 * kPages * page};
  auto pa_of = [&](Ipa at) {
    return at < block_ipa ? pages_pa + (at - pages_ipa) : block_pa + (at - block_ipa);
  };

  // Every CPU stores to every page first, so writable translations sit in its TLB.
  Counters warm;
  auto warm_up = [&](unsigned cpu) {
    for (u64 k = 0; k < 2 * kPages; ++k) {
      const Ipa at = target.start + k * page + 8 * (1 + cpu);
      if (guest_store(at, cpu).faulted) note(warm, at);
    }
  };
  on_every_cpu(warm_up);
  c.expect(warm.bad == 0, "store before write-protect faulted", warm.bad, warm.first_bad.raw);

  {
    Guard guard(vm.lock());
    c.expect(vm.table().write_protect(target).ok(), "write_protect");
  }
  // The words the stores below aim at hold 0, so a store that got through (or one that did
  // not) shows whatever the memory held before.
  for (u64 k = 0; k < 2 * kPages; ++k) {
    for (unsigned cpu = 0; cpu < cpu_count(); ++cpu) {
      write64(pa_of(target.start + k * page + 0x100 + 8 * cpu), 0);
      write64(pa_of(target.start + k * page + 0x200 + 8 * cpu), 0);
    }
  }
  Counters stores, loads, outside;
  auto protected_check = [&](unsigned cpu) {
    for (u64 k = 0; k < 2 * kPages; ++k) {
      const Ipa page_ipa = target.start + k * page;
      const Ipa at = page_ipa + 0x100 + 8 * cpu;
      const Access st = guest_store(at, 0xDEAD);
      if (!st.faulted || st.fault.kind != FaultKind::permission || !st.fault.write ||
          st.fault.ipa != at) {
        note(stores, at);
      }
      const Access ld = guest_load(page_ipa);
      if (ld.faulted || ld.value != pattern(page_ipa, salt)) note(loads, page_ipa);
    }
    // Just outside the range, stores still work (the block was split, not protected whole).
    for (Ipa at : {pages_ipa + 8 * cpu, target.end() + 8 * cpu}) {
      if (guest_store(at, cpu).faulted) note(outside, at);
    }
  };
  on_every_cpu(protected_check);
  c.expect(stores.bad == 0, "store to write-protected IPA", stores.bad, stores.first_bad.raw);
  c.expect(loads.bad == 0, "load from write-protected IPA", loads.bad, loads.first_bad.raw);
  c.expect(outside.bad == 0, "store outside the range faulted", outside.bad, outside.first_bad.raw);
  for (u64 k = 0; k < 2 * kPages; ++k) {
    for (unsigned cpu = 0; cpu < cpu_count(); ++cpu) {
      const Ipa at = target.start + k * page + 0x100 + 8 * cpu;
      c.expect(read64(pa_of(at)) == 0, "a faulting store reached memory", at.raw);
    }
  }

  {
    Guard guard(vm.lock());
    c.expect(vm.table().relax(target, Perm::write).ok(), "relax");
  }
  RelaxContext relax{.table = &vm.table()};
  Counters after;
  auto relaxed_check = [&](unsigned cpu) {
    set_fault_handler(retry_if_writable, &relax);
    for (u64 k = 0; k < 2 * kPages; ++k) {
      const Ipa at = target.start + k * page + 0x200 + 8 * cpu;
      const u64 value = 0x5700 + cpu;
      if (guest_store(at, value).faulted || read64(pa_of(at)) != value) note(after, at);
    }
  };
  on_every_cpu(relaxed_check);
  c.expect(after.bad == 0 && relax.real == 0, "store after relax", after.bad, after.first_bad.raw);

  // Write-protect again, let every CPU cache the read-only entries, then relax page by page
  // through the fault path while all CPUs store.
  {
    Guard guard(vm.lock());
    c.expect(vm.table().write_protect(target).ok(), "write_protect again");
  }
  auto read_all = [&](unsigned) {
    for (u64 k = 0; k < 2 * kPages; ++k)
      (void)guest_load(target.start + k * page);
  };
  on_every_cpu(read_all);
  FaultRelax by_fault{.table = &vm.table(),
                      .range = target,
                      .pages_ipa = pages_ipa,
                      .pages_pa = pages_pa,
                      .block_ipa = block_ipa,
                      .block_pa = block_pa,
                      .page = page};
  Counters landed;
  auto fault_relax_check = [&](unsigned cpu) {
    s2pt::PageCache cache(page, cpu);
    {
      Guard guard(vm.lock());
      if (cache.topup(arena()) != Status::ok) note(landed, target.start);
    }
    by_fault.caches[cpu] = &cache;
    set_fault_handler(relax_through_fault, &by_fault);
    for (u64 k = 0; k < 2 * kPages; ++k) {
      by_fault.faults_on_this_store[cpu] = 0;
      const Ipa at = target.start + k * page + 0x300 + 8 * cpu;
      const u64 value = 0x6600 + cpu;
      if (guest_store(at, value).faulted || read64(pa_of(at)) != value) note(landed, at);
    }
    set_fault_handler(nullptr, nullptr);
    Guard guard(vm.lock());
    cache.drain(arena());
    by_fault.caches[cpu] = nullptr;
  };
  on_every_cpu(fault_relax_check);
  c.expect(landed.bad == 0, "store after a fault-path relax", landed.bad, landed.first_bad.raw);
  c.expect(by_fault.stuck == 0, "a CPU kept faulting on a relaxed page", by_fault.stuck);
  c.expect(by_fault.errors == 0, "unexpected fault or fault-path error", by_fault.errors);
  c.expect(by_fault.relaxed == 2 * kPages, "one relax per page", by_fault.relaxed);
  c.expect(vm.destroy(), "leak");
  say() << (c.ok() ? "PASS" : "FAIL") << " permissions " << (1u << (granule_shift(granule) - 10))
        << "K fwb=" << fwb << ": spurious faults after relax " << relax.spurious
        << "; fault-path relax: " << by_fault.relaxed << " relaxed, " << by_fault.already_resolved
        << " already resolved on other CPUs\n";
  return c.ok();
}

}  // namespace

bool scenario_permissions() {
  bool ok = run(Granule::k4, true);
  ok = run(Granule::k16, false) && ok;
  return ok;
}

}  // namespace el2
