// Scenario "demand": nothing is mapped up front; the guests on all CPUs touch memory at once
// (the same pages, and pages of their own), and the EL2 fault handler maps each page on its
// first fault, then lets the guest retry. Two handlers: one maps under the lock that serialises
// the core's exclusive operations; the other is the core's shared fault path (handle_fault),
// called by all CPUs at once with no lock, its compare-and-swap races real on this ISA. Every
// page is mapped once, every store lands in the one backing page.
#include "scenarios/scenario.hpp"
#include "smp.hpp"
#include "vm.hpp"

namespace el2 {
namespace {

using s2pt::Granule;

constexpr u64 kSharedPages = 32;
constexpr u64 kOwnPages = 8;
constexpr unsigned kRounds = 4;

// Lines the CPUs up so that their first faults on the shared pages really are concurrent.
class StartLine {
 public:
  explicit StartLine(unsigned cpus) : cpus_(cpus) {}
  void arrive() {
    __atomic_add_fetch(&arrived_, 1u, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&arrived_, __ATOMIC_ACQUIRE) < cpus_)
      asm volatile("yield");
  }

 private:
  unsigned cpus_;
  unsigned arrived_ = 0;
};

struct Demand {
  TestVm* vm;
  IpaRange range;
  Pa backing;
  u64 page;
  u64 maps = 0;
  u64 already_mapped = 0;
  u64 unexpected = 0;
  u64 map_errors = 0;
  // Each CPU's first fault of a round waits here until every CPU has faulted once (they all
  // start on the same shared page), so the faults on one page really are concurrent whatever
  // the host's thread scheduling does.
  u64 faulted_cpus = 0;
  u64 all_cpus = 0;
  // Shared handler: each CPU's page cache (on that CPU's stack while its guest runs).
  s2pt::PageCache* caches[kMaxCpus] = {};
};

void wait_for_the_others(Demand& d) {
  const u64 me = u64{1} << cpu_index();
  if (__atomic_fetch_or(&d.faulted_cpus, me, __ATOMIC_ACQ_REL) & me) return;
  const u64 deadline = now_us() + 2'000'000;
  while (__atomic_load_n(&d.faulted_cpus, __ATOMIC_ACQUIRE) != d.all_cpus && now_us() < deadline) {
    asm volatile("yield");
  }
}

FaultAction map_on_fault(const StageTwoFault& f, void* context) {
  auto* d = static_cast<Demand*>(context);
  if (!d->range.contains(f.ipa) || f.kind != FaultKind::translation) {
    __atomic_fetch_add(&d->unexpected, 1, __ATOMIC_RELAXED);
    return FaultAction::skip;
  }
  wait_for_the_others(*d);
  Guard guard(d->vm->lock());
  const Ipa base = f.ipa.align_down(d->page);
  Table& table = d->vm->table();
  if (table.lookup(base).ok()) {
    // Another CPU mapped it between this CPU's fault and taking the lock.
    ++d->already_mapped;
    return FaultAction::retry;
  }
  const s2pt::Progress p = table.map(IpaRange{base, d->page}, d->backing + (base - d->range.start),
                                     Attrs::normal(s2pt::Perm::rw));
  if (!p.ok()) {
    ++d->map_errors;
    return FaultAction::skip;
  }
  ++d->maps;
  return FaultAction::retry;
}

// The core's shared fault path: no lock around the walk; the arena is locked only to top the
// CPU's page cache up, outside the walk, as a hypervisor would.
FaultAction handle_on_fault(const StageTwoFault& f, void* context) {
  auto* d = static_cast<Demand*>(context);
  if (!d->range.contains(f.ipa) || f.kind != FaultKind::translation) {
    __atomic_fetch_add(&d->unexpected, 1, __ATOMIC_RELAXED);
    return FaultAction::skip;
  }
  wait_for_the_others(*d);
  s2pt::PageCache& cache = *d->caches[cpu_index()];
  Table& table = d->vm->table();
  if (cache.size() < table.geometry().levels() - 1) {
    Guard guard(d->vm->lock());
    if (cache.topup(arena()) != Status::ok) {
      __atomic_fetch_add(&d->map_errors, 1, __ATOMIC_RELAXED);
      return FaultAction::skip;
    }
  }
  const Ipa base = f.ipa.align_down(d->page);
  const s2pt::Result<s2pt::FaultOutcome> r =
      table.handle_fault({.ipa = f.ipa,
                          .pa = d->backing + (base - d->range.start),
                          .leaf_bytes = d->page,
                          .attrs = Attrs::normal(s2pt::Perm::rw)},
                         cache);
  if (!r.ok()) {
    if (r.status() == Status::again) return FaultAction::retry;
    __atomic_fetch_add(&d->map_errors, 1, __ATOMIC_RELAXED);
    return FaultAction::skip;
  }
  __atomic_fetch_add(r.value() == s2pt::FaultOutcome::mapped ? &d->maps : &d->already_mapped, 1,
                     __ATOMIC_RELAXED);
  return FaultAction::retry;
}

bool run(Granule granule, bool shared) {
  Checker c("demand");
  const Geometry g = Geometry::make(granule, 40, 48).value();
  TestVm vm;
  if (Status s = vm.create(g, FeatureMask{}); s != Status::ok) {
    return c.expect(false, "create", static_cast<u64>(s));
  }
  const u64 page = g.page_bytes();
  const u64 pages = kSharedPages + kMaxCpus * kOwnPages;
  const Ipa start{u64{1} << 37};
  const u64 salt = 0xDE4A;
  // The region is page-aligned only, so the handler maps pages (no block fits a fault).
  const Pa backing = vm.alloc_memory(pages * page);
  fill_pattern(backing, start, pages * page, salt);
  auto clear_tags = [&] {
    for (u64 k = 0; k < pages; ++k) {
      for (unsigned w = 1; w <= kMaxCpus; ++w)
        write64(backing + k * page + 8 * w, 0);
    }
  };
  Demand demand{
      .vm = &vm, .range = IpaRange{start, pages * page}, .backing = backing, .page = page};

  u64 wrong = 0, skipped = 0;
  StartLine* line = nullptr;
  auto touch = [&](unsigned cpu) {
    s2pt::PageCache cache(page, cpu);
    demand.caches[cpu] = &cache;
    set_fault_handler(shared ? handle_on_fault : map_on_fault, &demand);
    line->arrive();

    // Shared pages: everyone at once, each CPU storing its tag at its own offset.
    GuestResult r =
        call_guest(guest_sweep, start.raw, kSharedPages, page, salt, cpu + 1, 8 * (1 + cpu));
    __atomic_fetch_add(&wrong, r.x[0], __ATOMIC_RELAXED);
    __atomic_fetch_add(&skipped, r.x[1], __ATOMIC_RELAXED);
    // Pages of its own.
    const Ipa own = start + (kSharedPages + cpu * kOwnPages) * page;
    r = call_guest(guest_sweep, own.raw, kOwnPages, page, salt, cpu + 1, 8);

    __atomic_fetch_add(&wrong, r.x[0], __ATOMIC_RELAXED);
    __atomic_fetch_add(&skipped, r.x[1], __ATOMIC_RELAXED);
    Guard guard(vm.lock());
    cache.drain(arena());
    demand.caches[cpu] = nullptr;
  };
  const unsigned cpus = cpu_count();
  const u64 touched = kSharedPages + cpus * kOwnPages;
  // Each round starts from nothing mapped: the previous round's pages are unmapped first.
  for (unsigned round = 0; round < kRounds; ++round) {
    StartLine start_line(cpus);
    line = &start_line;
    clear_tags();  // each round's stores must be seen anew
    const u64 maps_before = demand.maps;
    demand.faulted_cpus = 0;
    demand.all_cpus = (u64{1} << cpus) - 1;
    on_every_cpu(touch);
    c.expect(demand.maps - maps_before == touched, "pages mapped", demand.maps - maps_before,
             touched);
    if (round + 1 < kRounds) {
      Guard guard(vm.lock());
      c.expect(vm.table().unmap(demand.range).ok(), "unmap between rounds");
    }
  }
  c.expect(wrong == 0, "guest read wrong data", wrong);
  c.expect(cpus == 1 || demand.already_mapped > 0, "no two CPUs faulted on the same page");
  c.expect(skipped == 0 && demand.unexpected == 0 && demand.map_errors == 0,
           "faults the handler could not resolve", demand.unexpected, demand.map_errors);
  for (u64 k = 0; k < kSharedPages; ++k) {
    for (unsigned cpu = 0; cpu < cpus; ++cpu) {
      const Pa at = backing + k * page + 8 * (1 + cpu);
      c.expect(read64(at) == cpu + 1, "store did not reach the backing page", at.raw, cpu);
    }
  }
  for (unsigned cpu = 0; cpu < cpus; ++cpu) {
    for (u64 k = 0; k < kOwnPages; ++k) {
      const Pa at = backing + (kSharedPages + cpu * kOwnPages + k) * page + 8;
      c.expect(read64(at) == cpu + 1, "store did not reach its own page", at.raw, cpu);
    }
  }
  c.expect(vm.destroy(), "leak");
  say() << (c.ok() ? "PASS" : "FAIL") << " demand " << (shared ? "shared fault path " : "")
        << (1u << (granule_shift(granule) - 10)) << "K, " << cpus << " CPUs, " << kRounds
        << " rounds: " << demand.maps << " pages mapped on fault, " << demand.already_mapped
        << " faults found the page already mapped\n";
  return c.ok();
}

}  // namespace

bool scenario_demand() {
  bool ok = run(Granule::k4, false);
  ok = run(Granule::k64, false) && ok;
  ok = run(Granule::k4, true) && ok;
  ok = run(Granule::k64, true) && ok;
  return ok;
}

}  // namespace el2
