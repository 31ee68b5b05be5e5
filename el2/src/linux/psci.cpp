// PSCI for the Linux guest, emulated at EL2 (the guest's SMCs trap with HCR_EL2.TSC): without
// the trap QEMU's own PSCI would start a secondary at EL2, outside stage 2. vCPU k runs on
// physical CPU k; CPU_ON hands the entry point to that CPU, CPU_OFF returns it to EL2.
#include "linux/run.hpp"
#include "smp.hpp"

namespace el2::linux_guest {
namespace {

namespace fn {
constexpr u32 kVersion = 0x8400'0000;
constexpr u32 kCpuSuspend = 0x8400'0001;
constexpr u32 kCpuOff = 0x8400'0002;
constexpr u32 kCpuOn = 0x8400'0003;
constexpr u32 kAffinityInfo = 0x8400'0004;
constexpr u32 kMigrateInfoType = 0x8400'0006;
constexpr u32 kSystemOff = 0x8400'0008;
constexpr u32 kSystemReset = 0x8400'0009;
constexpr u32 kFeatures = 0x8400'000A;
constexpr u32 kSmc64 = 0x4000'0000;  // the SMC64 form of a function: bit 30
}  // namespace fn

namespace ret {
constexpr u64 kSuccess = 0;
constexpr u64 kNotSupported = static_cast<u64>(-1);
constexpr u64 kInvalidParameters = static_cast<u64>(-2);
constexpr u64 kAlreadyOn = static_cast<u64>(-4);
constexpr u64 kOnPending = static_cast<u64>(-5);
constexpr u64 kTosNotPresentMp = 2;  // MIGRATE_INFO_TYPE: no trusted OS to migrate
}  // namespace ret

constexpr u64 kPsciVersion10 = 0x1'0000;
constexpr u64 kSctlrEl1MmuOff = 0x30D00800;  // RES1 bits; MMU and caches off
constexpr u64 kAffinityOn = 0;
constexpr u64 kAffinityOff = 1;
constexpr u64 kAffinityOnPending = 2;

VcpuState state_of(unsigned vcpu) {
  return __atomic_load_n(&run().vcpus[vcpu].state, __ATOMIC_ACQUIRE);
}

// The guest's vCPU k = MPIDR Aff0 k (QEMU's device tree); the higher affinity fields are 0.
bool vcpu_of(u64 mpidr, unsigned& vcpu) {
  if ((mpidr & 0xFF'00FF'FF00) != 0 || (mpidr & 0xFF) >= kGuestCpus) return false;
  vcpu = static_cast<unsigned>(mpidr & 0xFF);
  return true;
}

void secondary_session(void* context) {
  run_vcpu(static_cast<unsigned>(reinterpret_cast<u64>(context)));
}

u64 cpu_on(u64 mpidr, u64 entry, u64 context) {
  unsigned vcpu;
  if (!vcpu_of(mpidr, vcpu)) return ret::kInvalidParameters;
  Vcpu& v = run().vcpus[vcpu];
  VcpuState expected = VcpuState::off;
  if (!__atomic_compare_exchange_n(&v.state, &expected, VcpuState::on_pending, false,
                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    return expected == VcpuState::on ? ret::kAlreadyOn : ret::kOnPending;
  }
  v.entry = entry;
  v.context = context;
  if (vcpu != 0) post(vcpu, secondary_session, reinterpret_cast<void*>(u64{vcpu}));
  return ret::kSuccess;
}

u64 affinity_info(u64 mpidr, u64 level) {
  unsigned vcpu;
  if (level != 0 || !vcpu_of(mpidr, vcpu)) return ret::kInvalidParameters;
  switch (state_of(vcpu)) {
    case VcpuState::on:
      return kAffinityOn;
    case VcpuState::on_pending:
      return kAffinityOnPending;
    case VcpuState::off:
      break;
  }
  return kAffinityOff;
}

bool implemented(u32 function) {
  switch (function & ~fn::kSmc64) {
    case fn::kVersion:
    case fn::kCpuOff:
    case fn::kCpuOn:
    case fn::kAffinityInfo:
    case fn::kMigrateInfoType:
    case fn::kSystemOff:
    case fn::kSystemReset:
    case fn::kFeatures:
      return true;
    default:
      return false;
  }
}

}  // namespace

u64 handle_psci(GuestFrame& frame) {
  bump(run().counters.psci_calls);
  __atomic_store_n(&run().counters.last_progress_us, now_us(), __ATOMIC_RELAXED);
  const u32 function = static_cast<u32>(frame.x[0]);
  u64& result = frame.x[0];
  switch (function & ~fn::kSmc64) {
    case fn::kVersion:
      result = kPsciVersion10;
      return 0;
    case fn::kCpuOn:
      result = cpu_on(frame.x[1], frame.x[2], frame.x[3]);
      return 0;
    case fn::kCpuOff:
      __atomic_store_n(&run().vcpus[cpu_index()].state, VcpuState::off, __ATOMIC_RELEASE);
      return static_cast<u64>(GuestExit::done);
    case fn::kAffinityInfo:
      result = affinity_info(frame.x[1], frame.x[2]);
      return 0;
    case fn::kMigrateInfoType:
      result = ret::kTosNotPresentMp;
      return 0;
    case fn::kSystemOff:
      say() << "linux: vCPU " << cpu_index() << " called PSCI SYSTEM_OFF\n";
      end_run(Verdict::pass);
    case fn::kSystemReset:
      say() << "linux: vCPU " << cpu_index() << " called PSCI SYSTEM_RESET\n";
      end_run(Verdict::guest_reset);
    case fn::kFeatures:
      result = implemented(static_cast<u32>(frame.x[1])) ? ret::kSuccess : ret::kNotSupported;
      return 0;
    case fn::kCpuSuspend:
    default:
      // Refused: CPU_SUSPEND (the device tree has no idle states), SMCCC_VERSION and the
      // SMCCC architecture calls (so the guest assumes SMCCC 1.0 and asks nothing further),
      // and everything else.
      result = ret::kNotSupported;
      return 0;
  }
}

void run_vcpu(unsigned vcpu) {
  Vcpu& v = run().vcpus[vcpu];
  set_fault_handler(nullptr, nullptr);
  this_cpu().trap = on_guest_trap;
  // The boot protocol's entry state (Documentation/arch/arm64/booting.rst): MMU and caches off,
  // EL1h with every interrupt masked (call_guest's SPSR), x0 = the context.
  asm volatile("msr sctlr_el1, %0\n\tisb" : : "r"(kSctlrEl1MmuOff) : "memory");
  __atomic_store_n(&v.state, VcpuState::on, __ATOMIC_RELEASE);
  call_guest(reinterpret_cast<void (*)()>(v.entry), v.context);
  // Back at EL2: the vCPU called CPU_OFF (every other way out ends the run).
}

}  // namespace el2::linux_guest
