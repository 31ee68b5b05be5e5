// The demand fault path: guest RAM is not premapped, every stage-2 translation or access-flag
// fault in it (data, instruction fetch, or the guest's own stage-1 walk) is resolved by
// handle_fault under the shared side of the table lock, with table pages from the CPU's page
// cache, topped up beforehand outside the table lock. The leaf is a 2 MiB block when the host
// memory behind the IPA block is one aligned block, else the page.
#include "linux/run.hpp"
#include "page_arena.hpp"

namespace el2::linux_guest {
namespace {

using s2pt::Attrs;
using s2pt::FaultOutcome;
using s2pt::Status;

struct Fault {
  Ipa ipa;
  u64 fsc;
  bool instruction;
  bool s1ptw;
};

Fault decode(u64 esr) {
  u64 far, hpfar;
  asm volatile("mrs %0, far_el2" : "=r"(far));
  asm volatile("mrs %0, hpfar_el2" : "=r"(hpfar));
  // With the guest's stage 1 on, FAR_EL2 is a VA. HPFAR_EL2.FIPA holds IPA[47:12] in bits
  // [43:4] for stage-2 translation and access-flag faults and for faults on a stage-1 walk
  // (Arm ARM D17.2, HPFAR_EL2); the page offset comes from FAR.
  return Fault{.ipa = Ipa{((hpfar >> 4) << 12) | (far & 0xFFF)},
               .fsc = esr & 0x3F,
               .instruction = (esr >> 26) == 0x20,
               .s1ptw = (esr & (u64{1} << 7)) != 0};
}

bool is_translation(u64 fsc) {
  return (fsc & 0x3C) == 0x04;
}
bool is_access_flag(u64 fsc) {
  return (fsc & 0x3C) == 0x08;
}

[[noreturn]] void stray(const Fault& f, const GuestFrame& frame, u64 esr, const char* why) {
  say() << "linux: " << why << " on vCPU " << cpu_index() << ": ipa=" << Hex{f.ipa.raw}
        << " esr=" << Hex{esr} << " pc=" << Hex{frame.pc}
        << (f.instruction ? " (instruction fetch)"
            : f.s1ptw     ? " (stage-1 walk)"
                          : " (data)")
        << "\n";
  end_run(Verdict::stray_fault);
}

void remember(Ipa ipa) {
  Run& r = run();
  const u64 slot = __atomic_fetch_add(&r.recent_next, 1, __ATOMIC_RELAXED) % Run::kRecent;
  __atomic_store_n(&r.recent[slot], ipa.raw, __ATOMIC_RELAXED);
}

// Fills the calling CPU's page cache outside the table lock, as a hypervisor does before it
// takes mmu_lock. The end of the run drains every cache under the same arena lock after it set
// `ending`, so a top-up either finished before the drain or sees `ending` and stops.
void top_up(s2pt::PageCache& cache, unsigned needed) {
  if (cache.size() >= needed) return;
  Run& r = run();
  r.arena_lock.lock();
  if (r.is_ending()) {
    r.arena_lock.unlock();
    park();
  }
  const Status s = cache.topup(arena());
  r.arena_lock.unlock();
  if (s != Status::ok) {
    say() << "linux: the page arena ran out topping up vCPU " << cpu_index() << "'s cache\n";
    end_run(Verdict::hypervisor_error);
  }
}

}  // namespace

u64 handle_stage2_fault(GuestFrame& frame, u64 esr) {
  Run& r = run();
  const Fault f = decode(esr);
  if (!is_translation(f.fsc) && !is_access_flag(f.fsc)) {
    stray(f, frame, esr, "stage-2 fault of an unexpected kind");
  }
  if (!r.memory.contains(f.ipa)) stray(f, frame, esr, "stage-2 fault outside guest RAM");

  Counters& c = r.counters;
  bump(c.faults);
  __atomic_store_n(&c.last_progress_us, now_us(), __ATOMIC_RELAXED);
  bump(is_translation(f.fsc) ? c.translation : c.access_flag);
  bump(f.s1ptw ? c.s1ptw : f.instruction ? c.instruction : c.data);
  remember(f.ipa);

  const unsigned cpu = cpu_index();
  s2pt::Table& table = r.table();
  s2pt::PageCache& cache = r.cache(cpu);
  top_up(cache, table.geometry().levels() - 1);

  s2pt::Result<FaultOutcome> outcome = Status::again;
  bool block = false;
  {
    s2pt::SharedTableLock shared(r.lock, cpu);
    // The backing cannot change while the shared side is held: the migrator moves memory only
    // under the exclusive side, after unmapping it.
    block = r.memory.block_backed(f.ipa);
    const Ipa base = f.ipa.align_down(block ? kBlockBytes : kPageBytes);
    outcome = table.handle_fault({.ipa = f.ipa,
                                  .pa = r.memory.page(base),
                                  .leaf_bytes = block ? kBlockBytes : kPageBytes,
                                  .attrs = Attrs::normal(s2pt::Perm::rwx)},
                                 cache);
  }
  if (!outcome.ok()) {
    if (outcome.status() == Status::again) {
      bump(c.retries);
      return 0;
    }
    say() << "linux: handle_fault failed on vCPU " << cpu << ": "
          << s2pt::describe(outcome.status()) << " ipa=" << Hex{f.ipa.raw} << "\n";
    end_run(Verdict::hypervisor_error);
  }
  switch (outcome.value()) {
    case FaultOutcome::mapped:
      bump(block ? c.block_requests : c.page_requests);
      note_peak(table.stats().table_pages);
      break;
    default:
      bump(c.already_resolved);
      break;
  }
  return 0;  // the guest retries the access
}

}  // namespace el2::linux_guest
