// Scenario "dirty": dirty logging by write protection on a real ISA. A 2 MiB block (split lazily
// by its first write) and 64 pages are logged. CPUs 1..N-1 store to random pages, one guest run
// per store. A store to a write-protected page takes a permission fault, which the EL2 handler
// resolves with the core's shared fault path under the read side of a TableLock: the page becomes
// writable and its bit is set. Meanwhile CPU 0 harvests with clear_dirty under the write side,
// again and again. Every store that began after harvest h returned must be reported by a harvest
// after h, and a page never stored to is never reported. A store that went through a writable TLB
// entry clear_dirty failed to invalidate would be missed: the control run drops every TLBI and
// must lose stores.
#include "linux/dropping_arch.hpp"
#include "s2pt/table_lock.hpp"
#include "scenarios/scenario.hpp"
#include "smp.hpp"
#include "vm.hpp"

namespace el2 {
namespace {

using s2pt::DirtyBitmap;

constexpr u64 kPage = 4096;
constexpr u64 kBlock = u64{2} << 20;
constexpr u64 kPages = kBlock / kPage + 64;
constexpr u64 kWords = (kPages + 63) / 64;
constexpr unsigned kHarvests = 120;
constexpr Ipa kStart{u64{1} << 36};

struct Migration {
  TestVm* vm;
  Pa backing;
  s2pt::TableLock lock;
  s2pt::PageCache* caches[kMaxCpus] = {};
  u64 dirty[kWords] = {};
  u64 harvests_done = 0;  // written by CPU 0 once each clear_dirty returned
  u64 stop = 0;
  // Per CPU and page: 1 + the harvests done when the CPU's latest store to the page began (0:
  // never stored to). Per harvest and page: the last harvest that reported the page.
  u32 stored_after[kMaxCpus][kPages] = {};
  u32 last_report[kPages] = {};
  u64 stores = 0;
  u64 write_faults = 0;
  u64 fault_errors = 0;
  u64 unexpected = 0;
};

FaultAction log_write(const StageTwoFault& f, void* context) {
  auto* m = static_cast<Migration*>(context);
  const IpaRange range{kStart, kPages * kPage};
  // A permission fault on a write-protected page; or a translation fault while another CPU's
  // lazy split holds the block's entry invalid (break-before-make), which the fault path answers
  // with `again`, and the store is retried.
  const bool expected = f.kind == FaultKind::permission || f.kind == FaultKind::translation;
  if (!range.contains(f.ipa) || !expected || !f.write) {
    __atomic_fetch_add(&m->unexpected, 1, __ATOMIC_RELAXED);
    return FaultAction::skip;
  }
  if (f.kind == FaultKind::permission) __atomic_fetch_add(&m->write_faults, 1, __ATOMIC_RELAXED);
  s2pt::PageCache& cache = *m->caches[cpu_index()];
  Table& table = m->vm->table();
  if (cache.size() < table.geometry().levels() - 1) {
    Guard guard(m->vm->lock());  // the arena's lock
    if (cache.topup(arena()) != Status::ok) {
      __atomic_fetch_add(&m->fault_errors, 1, __ATOMIC_RELAXED);
      return FaultAction::skip;
    }
  }
  const Ipa page = f.ipa.align_down(kPage);
  s2pt::Result<s2pt::FaultOutcome> r = Status::again;
  {
    s2pt::SharedTableLock reader(m->lock, cpu_index());
    r = table.handle_fault({.ipa = f.ipa,
                            .pa = m->backing + (page - kStart),
                            .leaf_bytes = kPage,
                            .attrs = Attrs::normal(s2pt::Perm::rw)},
                           cache);
  }
  if (!r.ok() && r.status() != Status::again) {
    __atomic_fetch_add(&m->fault_errors, 1, __ATOMIC_RELAXED);
    return FaultAction::skip;
  }
  return FaultAction::retry;
}

// xorshift: each CPU its own sequence of pages.
u64 next(u64& state) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

bool run(const char* label, s2pt::DirtyTracking tracking, s2pt::Arch* control) {
  Checker c("dirty");
  const Geometry g = Geometry::make(s2pt::Granule::k4, 40, 48).value();
  TestVm vm;
  const bool hardware = tracking == s2pt::DirtyTracking::hardware;
  if (Status s = vm.create(g, FeatureMask{}, control, hardware); s != Status::ok) {
    return c.expect(false, "create", static_cast<u64>(s));
  }
  static Migration migration;  // too big for an EL2 stack
  Migration& m = *new (&migration) Migration{};
  m.vm = &vm;
  m.backing = vm.alloc_memory(2 * kBlock);  // 2 MiB-aligned: the first 2 MiB map as a block
  const IpaRange range{kStart, kPages * kPage};
  const Attrs rw = Attrs::normal(s2pt::Perm::rw);
  c.expect(vm.table().map(IpaRange{kStart, kBlock}, m.backing, rw).ok(), "map the block");
  c.expect(vm.table()
               .map(IpaRange{kStart + kBlock, 64 * kPage}, m.backing + kBlock, rw,
                    s2pt::MapFlags::no_blocks)
               .ok(),
           "map the pages");
  c.expect(vm.table().lookup(kStart)->size == kBlock, "mapped as a block");
  const s2pt::DirtyLogOptions options{
      .tracking = tracking,
      .blocks = hardware ? s2pt::BlockSplitting::eager : s2pt::BlockSplitting::lazy};
  c.expect(vm.table().enable_dirty_log(range, DirtyBitmap{m.dirty, kPages}, options).ok(),
           "enable");

  u64 mask[kWords];
  u64 cleared[kWords];
  for (u64& w : mask)
    w = ~u64{0};
  // Harvest `index`: everything dirty, under the write side; the pages it reports are covered.
  auto harvest = [&](u32 index) {
    {
      s2pt::ExclusiveTableLock writer(m.lock);
      c.expect(vm.table()
                   .clear_dirty(range, DirtyBitmap{mask, kPages}, DirtyBitmap{cleared, kPages})
                   .ok(),
               "clear_dirty");
    }
    for (u64 p = 0; p < kPages; ++p) {
      if ((cleared[p / 64] >> (p % 64)) & 1) m.last_report[p] = index;
    }
  };
  // One guest store to page `p` by the calling CPU, which began after `epoch` harvests returned.
  auto store = [&](unsigned cpu, u64 p, u64 epoch) {
    const GuestResult r = call_guest(guest_write, (kStart + p * kPage).raw, epoch);
    if (r.exit != GuestExit::done || r.skipped) {
      __atomic_fetch_add(&m.fault_errors, 1, __ATOMIC_RELAXED);
      return false;
    }
    m.stored_after[cpu][p] = static_cast<u32>(epoch + 1);
    return true;
  };
  // Runs `body` on the calling CPU as a vCPU whose stage-2 faults go to log_write.
  auto as_vcpu = [&](unsigned cpu, auto&& body) {
    s2pt::PageCache cache(kPage, cpu);
    m.caches[cpu] = &cache;
    set_fault_handler(log_write, &m);
    body();
    Guard guard(vm.lock());
    cache.drain(arena());
    m.caches[cpu] = nullptr;
    set_fault_handler(nullptr, nullptr);
  };

  auto work = [&](unsigned cpu) {
    as_vcpu(cpu, [&] {
      if (cpu == 0) {
        // The migration thread: harvest, publish, let the vCPUs run a little, again.
        for (u32 h = 1; h <= kHarvests; ++h) {
          harvest(h);
          __atomic_store_n(&m.harvests_done, u64{h}, __ATOMIC_RELEASE);
          const u64 until = now_us() + 200;
          while (now_us() < until)
            asm volatile("yield");
        }
        __atomic_store_n(&m.stop, u64{1}, __ATOMIC_RELEASE);
        return;
      }
      u64 state = 0x9E3779B97F4A7C15 * (cpu + 1);
      u64 stores = 0;
      while (__atomic_load_n(&m.stop, __ATOMIC_ACQUIRE) == 0) {
        // A few pages written often, the rest now and then.
        const u64 p = next(state) % 4 == 0 ? next(state) % 8 : next(state) % kPages;
        if (store(cpu, p, __atomic_load_n(&m.harvests_done, __ATOMIC_ACQUIRE))) ++stores;
      }
      __atomic_fetch_add(&m.stores, stores, __ATOMIC_RELAXED);
    });
  };
  on_every_cpu(work);

  // Then in lock step, so that no fault of a CPU's own (its local invalidation drops its whole
  // TLB) can hide a harvest's missing invalidation: each vCPU stores to a page of its own (a
  // fault, a writable TLB entry), CPU 0 harvests, each stores to the same page again. That second
  // store must fault and be logged.
  u32 harvests = kHarvests;
  auto store_own = [&](unsigned cpu) {
    if (cpu != 0) as_vcpu(cpu, [&] { store(cpu, kPages - cpu, harvests); });
  };
  for (unsigned round = 0; round < 4; ++round) {
    on_every_cpu(store_own);
    harvest(++harvests);
    on_every_cpu(store_own);
  }
  // The last stores, with every vCPU stopped.
  harvest(++harvests);

  u64 lost = 0, phantom = 0, written = 0;
  for (u64 p = 0; p < kPages; ++p) {
    u32 latest = 0;
    for (unsigned cpu = 1; cpu < cpu_count(); ++cpu)
      latest = latest > m.stored_after[cpu][p] ? latest : m.stored_after[cpu][p];
    if (latest != 0) ++written;
    // A store that began after harvest (latest - 1) returned needs a report from a later one.
    if (latest != 0 && m.last_report[p] < latest) ++lost;
    if (latest == 0 && m.last_report[p] != 0) ++phantom;
  }
  const bool is_control = control != nullptr;
  c.expect(m.unexpected == 0 && m.fault_errors == 0, "faults the handler could not resolve",
           m.unexpected, m.fault_errors);
  c.expect(cpu_count() == 1 || written > kPages / 4, "too few pages written", written);
  c.expect(phantom == 0, "pages reported that were never written", phantom);
  // By the hardware's dirty state a store never faults: the walker records it.
  if (hardware)
    c.expect(m.write_faults == 0, "write faults with hardware dirty state", m.write_faults);
  if (is_control) {
    c.expect(lost > 0, "the control lost no store: the scenario cannot see a missing invalidation");
  } else {
    c.expect(lost == 0, "stores no later harvest reported", lost);
  }
  c.expect(vm.table().disable_dirty_log(range).ok(), "disable");
  c.expect(vm.destroy(), "leak");
  say() << (c.ok() ? "PASS" : "FAIL") << " dirty " << label << ": " << m.stores << " stores by "
        << (cpu_count() - 1) << " CPUs to " << written << " of " << kPages << " pages, " << harvests
        << " harvests, " << m.write_faults
        << " write faults; stores missed by every later harvest: " << lost << "\n";
  return c.ok();
}

}  // namespace

bool scenario_dirty() {
  if (cpu_count() < 2) say() << "  note: one CPU only, nobody stores while harvests run\n";
  bool ok = run("write protection", s2pt::DirtyTracking::write_protect, nullptr);
  const bool hafdbs = system_cpu_info().features.hw_dirty;
  if (hafdbs) {
    ok = run("hardware dirty state", s2pt::DirtyTracking::hardware, nullptr) && ok;
  } else {
    say() << "  note: no FEAT_HAFDBS dirty state here: hardware tracking not run\n";
  }
  if (cpu_count() >= 2) {
    linux_guest::DroppingArch dropping(system_cpu_info(), FeatureMask{},
                                       linux_guest::Control::drop_all);
    ok = run("control, write protection, every TLBI dropped", s2pt::DirtyTracking::write_protect,
             &dropping) &&
         ok;
    if (hafdbs) {
      ok = run("control, hardware dirty state, every TLBI dropped", s2pt::DirtyTracking::hardware,
               &dropping) &&
           ok;
    }
  }
  return ok;
}

}  // namespace el2
