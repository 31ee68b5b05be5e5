// The guest side of the harness: entering EL1 on the calling CPU, and what happens when the
// guest traps back (HVC: the call is over; stage-2 abort: record it, then skip, retry or fail).
#pragma once

#include <cstddef>

#include "platform.hpp"
#include "s2pt/types.hpp"

namespace el2 {

using s2pt::Ipa;

// Guest registers while it runs at EL1, as the world switch in start.S saves them.
struct GuestFrame {
  u64 x[31];
  u64 pc;
  u64 spsr;
};
static_assert(offsetof(GuestFrame, pc) == 248 && offsetof(GuestFrame, spsr) == 256);

// The EL2 registers run_guest must preserve, and the frame of the guest now running.
struct HostContext {
  u64 callee_saved[12];  // x19..x30
  u64 sp;
  GuestFrame* frame;
};
static_assert(offsetof(HostContext, sp) == 96 && offsetof(HostContext, frame) == 104);

enum class FaultKind : u8 { translation, access_flag, permission, other };
const char* name(FaultKind kind);

struct StageTwoFault {
  Ipa ipa;
  FaultKind kind;
  int level;   // from the fault status code
  bool write;  // ESR_EL2.ISS.WnR
  bool instruction;
  bool s1ptw;  // ESR_EL2.ISS.S1PTW: the fault hit the guest's own stage-1 table walk
  u64 esr;
};

// What the EL2 fault handler does with the faulting access.
enum class FaultAction : u8 {
  skip,   // step over the access; the guest sees x9 = 1
  retry,  // return to the same instruction (after the handler fixed the table)
  fail,   // stop the guest: run_guest returns GuestExit::failed
};

// Decides on a stage-2 fault taken by the calling CPU's guest. Runs at EL2 on that CPU.
using FaultHandler = FaultAction (*)(const StageTwoFault& fault, void* context);

// Per-CPU account of the stage-2 faults taken.
struct FaultLog {
  u64 count = 0;
  u64 translation = 0;
  u64 access_flag = 0;
  u64 permission = 0;
  u64 other = 0;
  StageTwoFault last{};
  void clear() { *this = FaultLog{}; }
};

enum class GuestExit : u64 { done = 1, failed = 2, el1_exception = 3 };

struct GuestResult {
  GuestExit exit;
  u64 x[4];      // x0..x3 as the guest left them
  bool skipped;  // x9: EL2 skipped at least the last access
};

// Takes every synchronous exit of the calling CPU's guest instead of the scenario handling
// (the Linux mode: PSCI, demand faults). Returns 0 to resume the guest, or the GuestExit that
// run_guest returns.
using TrapHandler = u64 (*)(GuestFrame& frame, u64 esr);

struct PerCpu {
  HostContext host;  // first: start.S finds it at TPIDR_EL2
  GuestFrame frame;
  FaultLog faults;
  FaultHandler handler = nullptr;
  void* handler_context = nullptr;
  TrapHandler trap = nullptr;
};

PerCpu& this_cpu();
// Sets TPIDR_EL2 and the EL1 state (MMU off, guest vectors) of the calling CPU.
void init_vcpu(unsigned cpu);
// Installs a stage-2 table on the calling CPU: VTCR_EL2, VTTBR_EL2 and HCR_EL2 (VM, RW, FWB).
void load_stage2(u64 vtcr, u64 vttbr, bool fwb);
// The guest's own stage-1 translation on the calling CPU: off (every VA is an IPA), or on with
// 4K granule, 48-bit VA, its level-0 table at IPA `ttbr0`, MAIR index 0 Normal write-back.
void set_guest_stage1(bool enabled, u64 ttbr0 = 0);
// Faults on the calling CPU go to `handler` (nullptr: record and skip).
void set_fault_handler(FaultHandler handler, void* context);

// Runs the guest routine at `entry` on the calling CPU with x0..x5 = args until it returns.
GuestResult call_guest(void (*entry)(), u64 a0 = 0, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0,
                       u64 a5 = 0);

struct Access {
  bool faulted;
  u64 value;
  StageTwoFault fault;  // valid when faulted
};
// One guest load or store of 64 bits at `ipa`, on the calling CPU; a fault is skipped.
Access guest_load(Ipa ipa);
Access guest_store(Ipa ipa, u64 value);

}  // namespace el2

// Guest routines (guest.S).
extern "C" {
void guest_read();
void guest_write();
void guest_hammer();
void guest_sweep();
void guest_vectors();
extern char __guest_start[];
extern char __guest_end[];
}
