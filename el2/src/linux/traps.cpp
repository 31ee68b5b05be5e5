// Every synchronous exit of a Linux vCPU: SMC (PSCI, trapped by HCR_EL2.TSC), HVC (refused),
// stage-2 aborts (demand faults). Anything else ends the run: the hypervisor traps nothing else,
// so another exit means its configuration is wrong.
#include "linux/run.hpp"

namespace el2::linux_guest {
namespace {

namespace ec {
constexpr u64 kHvc64 = 0x16;
constexpr u64 kSmc64 = 0x17;
constexpr u64 kInstructionAbortLower = 0x20;
constexpr u64 kDataAbortLower = 0x24;
}  // namespace ec

constexpr u64 kSmcccNotSupported = ~u64{0};  // -1

}  // namespace

u64 on_guest_trap(GuestFrame& frame, u64 esr) {
  if (run().is_ending()) park();
  switch (esr >> 26) {
    case ec::kSmc64:
      // A trapped SMC returns to the SMC instruction itself (Arm ARM D1.10.5, "Exceptions
      // caused by trapped instructions"): step over it.
      frame.pc += 4;
      return handle_psci(frame);
    case ec::kHvc64:
      // HVC returns after the instruction already. The device tree names SMC as the PSCI
      // conduit; nothing else is offered here.
      frame.x[0] = kSmcccNotSupported;
      return 0;
    case ec::kInstructionAbortLower:
    case ec::kDataAbortLower:
      return handle_stage2_fault(frame, esr);
    default:
      break;
  }
  say() << "linux: unexpected guest exit on vCPU " << cpu_index() << ": esr=" << Hex{esr}
        << " pc=" << Hex{frame.pc} << "\n";
  end_run(Verdict::unexpected_trap);
}

}  // namespace el2::linux_guest
