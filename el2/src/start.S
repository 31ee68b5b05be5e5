// Entry at EL2 (boot CPU and secondaries), the EL2 vector table, and the world switch into the
// EL1 guest and back. Layout constants are checked against the C++ structs in vcpu.hpp.

#define STACK_BYTES 32768
#define HOST_CTX_SP 96
#define HOST_CTX_FRAME 104
#define FRAME_PC 248
#define FRAME_SPSR 256

  .section .text.boot, "ax"
  .global _start
_start:
  // Only CPU 0 boots here; the others are started by PSCI CPU_ON at el2_secondary_entry.
  mrs x0, mpidr_el1
  and x0, x0, #0xff
  cbnz x0, park
  // .bss is zeroed with aligned stores: the MMU is off, so memory is Device and unaligned
  // accesses would fault.
  ldr x1, =__bss_start
  ldr x2, =__bss_end
1: cmp x1, x2
  b.hs 2f
  str xzr, [x1], #8
  b 1b
2: mov x0, #0
  b enter_cpu

  .global el2_secondary_entry
el2_secondary_entry:
  // x0 = context id = CPU index (set by the CPU_ON caller).
  b enter_cpu

enter_cpu:
  ldr x1, =el2_stacks
  mov x2, #STACK_BYTES
  madd x1, x0, x2, x1
  add sp, x1, x2
  ldr x1, =el2_vectors
  msr vbar_el2, x1
  isb
  bl el2_cpu_main
park:
  wfe
  b park

// ---- EL2 vector table --------------------------------------------------------------------------
.macro vector_entry target
  .balign 0x80
  b \target
.endm

  .text
  .balign 0x800
  .global el2_vectors
el2_vectors:
  vector_entry el2_unexpected   // current EL, SP_EL0: sync
  vector_entry el2_unexpected   //   irq
  vector_entry el2_unexpected   //   fiq
  vector_entry el2_unexpected   //   serror
  vector_entry el2_unexpected   // current EL, SP_ELx: sync
  vector_entry el2_unexpected   //   irq
  vector_entry el2_unexpected   //   fiq
  vector_entry el2_unexpected   //   serror
  vector_entry guest_sync       // lower EL, AArch64: sync
  vector_entry el2_unexpected   //   irq
  vector_entry el2_unexpected   //   fiq
  vector_entry el2_unexpected   //   serror
  vector_entry el2_unexpected   // lower EL, AArch32
  vector_entry el2_unexpected
  vector_entry el2_unexpected
  vector_entry el2_unexpected

el2_unexpected:
  mrs x0, esr_el2
  mrs x1, elr_el2
  mrs x2, far_el2
  bl el2_unexpected_exception   // does not return

// ---- World switch ------------------------------------------------------------------------------
// u64 run_guest(GuestFrame* frame): enters the guest with the frame's registers; returns when the
// guest exit handler asks for it (el2_guest_sync returning non-zero), with that value.
  .global run_guest
run_guest:
  mrs x1, tpidr_el2
  stp x19, x20, [x1, #0]
  stp x21, x22, [x1, #16]
  stp x23, x24, [x1, #32]
  stp x25, x26, [x1, #48]
  stp x27, x28, [x1, #64]
  stp x29, x30, [x1, #80]
  mov x2, sp
  str x2, [x1, #HOST_CTX_SP]
  str x0, [x1, #HOST_CTX_FRAME]
  b enter_guest

// x0 = frame. Loads the guest registers and returns to EL1.
enter_guest:
  ldr x1, [x0, #FRAME_PC]
  msr elr_el2, x1
  ldr x1, [x0, #FRAME_SPSR]
  msr spsr_el2, x1
  ldp x2, x3, [x0, #16]
  ldp x4, x5, [x0, #32]
  ldp x6, x7, [x0, #48]
  ldp x8, x9, [x0, #64]
  ldp x10, x11, [x0, #80]
  ldp x12, x13, [x0, #96]
  ldp x14, x15, [x0, #112]
  ldp x16, x17, [x0, #128]
  ldp x18, x19, [x0, #144]
  ldp x20, x21, [x0, #160]
  ldp x22, x23, [x0, #176]
  ldp x24, x25, [x0, #192]
  ldp x26, x27, [x0, #208]
  ldp x28, x29, [x0, #224]
  ldr x30, [x0, #240]
  ldp x0, x1, [x0]
  eret

// Synchronous exception from the guest: save all of its registers into the frame, let C++
// decide, then either resume the guest or return from run_guest.
guest_sync:
  sub sp, sp, #16
  stp x0, x1, [sp]
  mrs x0, tpidr_el2
  ldr x0, [x0, #HOST_CTX_FRAME]
  stp x2, x3, [x0, #16]
  stp x4, x5, [x0, #32]
  stp x6, x7, [x0, #48]
  stp x8, x9, [x0, #64]
  stp x10, x11, [x0, #80]
  stp x12, x13, [x0, #96]
  stp x14, x15, [x0, #112]
  stp x16, x17, [x0, #128]
  stp x18, x19, [x0, #144]
  stp x20, x21, [x0, #160]
  stp x22, x23, [x0, #176]
  stp x24, x25, [x0, #192]
  stp x26, x27, [x0, #208]
  stp x28, x29, [x0, #224]
  str x30, [x0, #240]
  ldp x2, x3, [sp]
  stp x2, x3, [x0]
  add sp, sp, #16
  mrs x1, elr_el2
  str x1, [x0, #FRAME_PC]
  mrs x1, spsr_el2
  str x1, [x0, #FRAME_SPSR]
  bl el2_guest_sync
  cbnz x0, 1f
  mrs x0, tpidr_el2
  ldr x0, [x0, #HOST_CTX_FRAME]
  b enter_guest
1: mrs x1, tpidr_el2
  ldp x19, x20, [x1, #0]
  ldp x21, x22, [x1, #16]
  ldp x23, x24, [x1, #32]
  ldp x25, x26, [x1, #48]
  ldp x27, x28, [x1, #64]
  ldp x29, x30, [x1, #80]
  ldr x2, [x1, #HOST_CTX_SP]
  mov sp, x2
  ret

// ---- Semihosting -------------------------------------------------------------------------------
// u64 semihosting_call(u64 op, const void* block)
  .global semihosting_call
semihosting_call:
  hlt #0xf000
  ret

// ---- PSCI --------------------------------------------------------------------------------------
// u64 psci_call(u64 fn, u64 a1, u64 a2, u64 a3): SMC conduit (QEMU virt with EL2, no EL3).
  .global psci_call
psci_call:
  smc #0
  ret

  .bss
  .balign 16
  .global el2_stacks
el2_stacks:
  .space STACK_BYTES * 8
