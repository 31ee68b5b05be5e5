#include "vcpu.hpp"

#include "mmu.hpp"
#include "runtime.hpp"
#include "s2pt/arch/aarch64.hpp"

extern "C" el2::u64 run_guest(el2::GuestFrame* frame);

namespace el2 {
namespace {

PerCpu cpus[kMaxCpus];

constexpr u64 kHcrVm = u64{1} << 0;
constexpr u64 kHcrRw = u64{1} << 31;  // EL1 is AArch64
constexpr u64 kHcrTge = u64{1} << 27;
constexpr u64 kHcrE2h = u64{1} << 34;
// SCTLR_EL1 RES1 bits, MMU and caches off: guest addresses are IPAs.
constexpr u64 kSctlrEl1MmuOff = 0x30D00800;
// EL1h with D, A, I and F masked: the guest never takes interrupts.
constexpr u64 kSpsrEl1h = 0x3C5;

namespace esr {
constexpr unsigned kEcShift = 26;
constexpr u64 kEcHvc64 = 0x16;
constexpr u64 kEcInstructionAbortLower = 0x20;
constexpr u64 kEcDataAbortLower = 0x24;
constexpr u64 kWnR = u64{1} << 6;
constexpr u64 kS1ptw = u64{1} << 7;
constexpr u64 kFsc = 0x3F;
}  // namespace esr

u64 read_esr() {
  u64 v;
  asm volatile("mrs %0, esr_el2" : "=r"(v));
  return v;
}

StageTwoFault decode_fault(u64 esr) {
  u64 far, hpfar;
  asm volatile("mrs %0, far_el2" : "=r"(far));
  asm volatile("mrs %0, hpfar_el2" : "=r"(hpfar));
  const u64 fsc = esr & esr::kFsc;
  StageTwoFault f{};
  f.esr = esr;
  f.level = static_cast<int>(fsc & 3);
  switch (fsc & 0x3C) {
    case 0x04:
      f.kind = FaultKind::translation;
      break;
    case 0x28:
      // With FEAT_LPA2, 0b101011 is a translation fault at level -1 (0b101001 an address size
      // fault there).
      if (fsc == 0x2B) {
        f.kind = FaultKind::translation;
        f.level = -1;
      } else {
        f.kind = FaultKind::other;
      }
      break;
    case 0x08:
      f.kind = FaultKind::access_flag;
      break;
    case 0x0C:
      f.kind = FaultKind::permission;
      break;
    default:
      f.kind = FaultKind::other;
      break;
  }
  f.instruction = (esr >> esr::kEcShift) == esr::kEcInstructionAbortLower;
  f.write = !f.instruction && (esr & esr::kWnR) != 0;
  f.s1ptw = (esr & esr::kS1ptw) != 0;
  // HPFAR_EL2 holds IPA[51:12] in bits [43:4] for translation and access-flag faults; for a
  // permission fault the architecture does not promise it is valid (Linux translates FAR
  // instead). This guest runs with stage 1 off, so FAR (the VA) is the IPA itself.
  if (f.kind == FaultKind::permission) {
    f.ipa = Ipa{far};
  } else {
    f.ipa = Ipa{((hpfar & ~u64{0xF}) << 8) | (far & 0xFFF)};
  }
  return f;
}

void record(FaultLog& log, const StageTwoFault& f) {
  ++log.count;
  switch (f.kind) {
    case FaultKind::translation:
      ++log.translation;
      break;
    case FaultKind::access_flag:
      ++log.access_flag;
      break;
    case FaultKind::permission:
      ++log.permission;
      break;
    case FaultKind::other:
      ++log.other;
      break;
  }
  log.last = f;
}

}  // namespace

const char* name(FaultKind kind) {
  switch (kind) {
    case FaultKind::translation:
      return "translation";
    case FaultKind::access_flag:
      return "access-flag";
    case FaultKind::permission:
      return "permission";
    case FaultKind::other:
      return "other";
  }
  return "?";
}

namespace {

// EL1 system registers from EL2: with HCR_EL2.E2H = 1 the _EL1 names reach the EL2 registers, and
// the guest's are reached as _EL12 (Arm ARM D13.2, "Register redirection when E2H is 1").
#define EL2_WRITE_GUEST_SYSREG(name, value)                             \
  do {                                                                  \
    if (vhe_host()) {                                                   \
      asm volatile("msr " #name "_el12, %0" : : "r"(value) : "memory"); \
    } else {                                                            \
      asm volatile("msr " #name "_el1, %0" : : "r"(value) : "memory");  \
    }                                                                   \
  } while (false)

void write_hcr(u64 value) {
  asm volatile("msr hcr_el2, %0\n\tisb" : : "r"(value) : "memory");
}
u64 read_hcr() {
  u64 value;
  asm volatile("mrs %0, hcr_el2" : "=r"(value));
  return value;
}

}  // namespace

PerCpu& this_cpu() {
  PerCpu* cpu;
  asm volatile("mrs %0, tpidr_el2" : "=r"(cpu));
  return *cpu;
}

void init_vcpu(unsigned cpu) {
  PerCpu* self = &cpus[cpu];
  asm volatile("msr tpidr_el2, %0" : : "r"(self));
  EL2_WRITE_GUEST_SYSREG(sctlr, kSctlrEl1MmuOff);
  EL2_WRITE_GUEST_SYSREG(vbar, reinterpret_cast<u64>(&guest_vectors));
  asm volatile("isb" : : : "memory");
}

void load_stage2(u64 vtcr, u64 vttbr, bool fwb) {
  // A VHE host keeps E2H and TGE while it runs; call_guest clears TGE for the guest.
  const u64 hcr = kHcrVm | kHcrRw | (vhe_host() ? kHcrE2h | kHcrTge : 0);
  asm volatile(
      "msr vtcr_el2, %0\n\t"
      "msr vttbr_el2, %1\n\t"
      "msr hcr_el2, %2\n\t"
      "isb"
      :
      : "r"(vtcr), "r"(vttbr), "r"(hcr)
      : "memory");
  s2pt::aarch64::set_hcr_fwb(fwb);
}

void set_guest_stage1(bool enabled, u64 ttbr0) {
  if (!enabled) {
    EL2_WRITE_GUEST_SYSREG(sctlr, kSctlrEl1MmuOff);
    asm volatile("isb" : : : "memory");
    return;
  }
  constexpr u64 kMair = 0xFF;             // index 0: Normal, inner/outer write-back
  constexpr u64 kTcr = 16                 // T0SZ: 48-bit VA, walk starts at level 0
                       | (u64{1} << 8)    // IRGN0 write-back
                       | (u64{1} << 10)   // ORGN0 write-back
                       | (u64{3} << 12)   // SH0 inner shareable
                       | (u64{1} << 23)   // EPD1: no TTBR1 walks
                       | (u64{5} << 32);  // IPS: 48 bits
  constexpr u64 kSctlrOn = kSctlrEl1MmuOff | (u64{1} << 0) | (u64{1} << 2) | (u64{1} << 12);
  EL2_WRITE_GUEST_SYSREG(mair, kMair);
  EL2_WRITE_GUEST_SYSREG(tcr, kTcr);
  EL2_WRITE_GUEST_SYSREG(ttbr0, ttbr0);
  asm volatile("isb" : : : "memory");
  EL2_WRITE_GUEST_SYSREG(sctlr, kSctlrOn);
  asm volatile("isb" : : : "memory");
}

void set_fault_handler(FaultHandler handler, void* context) {
  PerCpu& cpu = this_cpu();
  cpu.handler = handler;
  cpu.handler_context = context;
}

GuestResult call_guest(void (*entry)(), u64 a0, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5) {
  PerCpu& cpu = this_cpu();
  GuestFrame& frame = cpu.frame;
  fill_bytes(&frame, 0, sizeof frame);
  frame.x[0] = a0;
  frame.x[1] = a1;
  frame.x[2] = a2;
  frame.x[3] = a3;
  frame.x[4] = a4;
  frame.x[5] = a5;
  frame.pc = reinterpret_cast<u64>(entry);
  frame.spsr = kSpsrEl1h;
  // On a VHE host the guest runs with TGE clear (with TGE set there is no EL1 to return to), and
  // its exits are handled that way too, as KVM does until it switches back to the host.
  const u64 host_hcr = read_hcr();
  const bool vhe = (host_hcr & kHcrTge) != 0;
  if (vhe) write_hcr(host_hcr & ~kHcrTge);
  const u64 exit = run_guest(&frame);
  if (vhe) write_hcr(host_hcr);
  return GuestResult{.exit = GuestExit(exit),
                     .x = {frame.x[0], frame.x[1], frame.x[2], frame.x[3]},
                     .skipped = frame.x[9] != 0};
}

Access guest_load(Ipa ipa) {
  const u64 before = this_cpu().faults.count;
  const GuestResult r = call_guest(guest_read, ipa.raw);
  if (r.exit != GuestExit::done) fatal("guest load did not complete", ipa.raw);
  const bool faulted = r.skipped && this_cpu().faults.count != before;
  return Access{faulted, r.x[0], this_cpu().faults.last};
}

Access guest_store(Ipa ipa, u64 value) {
  const u64 before = this_cpu().faults.count;
  const GuestResult r = call_guest(guest_write, ipa.raw, value);
  if (r.exit != GuestExit::done) fatal("guest store did not complete", ipa.raw);
  const bool faulted = r.skipped && this_cpu().faults.count != before;
  return Access{faulted, value, this_cpu().faults.last};
}

}  // namespace el2

// Called from the lower-EL synchronous vector with the guest's registers saved in `frame`.
// Returns 0 to resume the guest, or the GuestExit that run_guest returns.
extern "C" el2::u64 el2_guest_sync(el2::GuestFrame* frame) {
  using namespace el2;
  PerCpu& cpu = this_cpu();
  const u64 esr_value = read_esr();
  if (cpu.trap) return cpu.trap(*frame, esr_value);
  const u64 ec = esr_value >> esr::kEcShift;
  if (ec == esr::kEcHvc64) {
    // HVC #0 ends a guest routine; HVC #1 comes from the guest's own EL1 vectors.
    return (esr_value & 0xFFFF) == 0 ? static_cast<u64>(GuestExit::done)
                                     : static_cast<u64>(GuestExit::el1_exception);
  }
  if (ec != esr::kEcDataAbortLower && ec != esr::kEcInstructionAbortLower) {
    say() << "cpu" << cpu_index() << ": unexpected guest exit esr=" << Hex{esr_value}
          << " pc=" << Hex{frame->pc} << "\n";
    return static_cast<u64>(GuestExit::failed);
  }
  const StageTwoFault fault = decode_fault(esr_value);
  record(cpu.faults, fault);
  // The guest payload is always mapped: an instruction abort means the table (or VTCR) is wrong,
  // and skipping instructions would only run the guest into the weeds.
  FaultAction action = cpu.handler ? cpu.handler(fault, cpu.handler_context) : FaultAction::skip;
  if (fault.instruction) {
    say() << "cpu" << cpu_index() << ": guest instruction abort at " << Hex{fault.ipa.raw}
          << " esr=" << Hex{esr_value} << "\n";
    action = FaultAction::fail;
  }
  switch (action) {
    case FaultAction::skip:
      frame->pc += 4;
      frame->x[9] = 1;
      return 0;
    case FaultAction::retry:
      return 0;
    case FaultAction::fail:
      break;
  }
  return static_cast<u64>(GuestExit::failed);
}
