// The guest payload: runs at EL1 with its stage-1 MMU off, so every address is an IPA and every
// access goes through the stage-2 table under test. Each routine ends with HVC #0, which returns
// to the EL2 code that started it (run_guest). When EL2 skips a faulting access it sets x9 to 1,
// so a routine clears x9 before each access and tests it after.

  .section .guest.text, "ax"

// x0 = IPA -> x0 = the 64-bit value there.
  .global guest_read
guest_read:
  mov x9, #0
  ldr x0, [x0]
  hvc #0

// x0 = IPA, x1 = value.
  .global guest_write
guest_write:
  mov x9, #0
  str x1, [x0]
  hvc #0

// Reads the first word of `pages` pages from x0 (stride x2) again and again; each must hold
// (its IPA ^ x3) when the read succeeds. x4 = phase word written by EL2: 0 running, 1 unmap
// started, 2 unmap returned (every access must fault from now on: one last pass, then return),
// 3 stop. x5 = where to publish the number of completed passes.
// Returns x0 = successful reads in a pass begun after phase 2 (violations), x1 = wrong values,
// x2 = successful reads before phase 2, x3 = passes.
  .global guest_hammer
guest_hammer:
  mov x10, #0
  mov x11, #0
  mov x12, #0
  mov x13, #0
1:ldar x15, [x4]
  cmp x15, #3
  b.eq 9f
  mov x6, x0
  mov x7, x1
2:mov x9, #0
  ldr x8, [x6]
  cbnz x9, 5f
  eor x8, x8, x3
  cmp x8, x6
  b.ne 3f
  cmp x15, #2
  b.hs 4f
  add x12, x12, #1
  b 5f
3:add x11, x11, #1
  b 5f
4:add x10, x10, #1
5:add x6, x6, x2
  subs x7, x7, #1
  b.ne 2b
  add x13, x13, #1
  stlr x13, [x5]
  cmp x15, #2
  b.lo 1b
9:mov x0, x10
  mov x1, x11
  mov x2, x12
  mov x3, x13
  hvc #0

// One pass over `pages` pages from x0 (stride x2): read the first word and check it against
// (IPA ^ x3), then store x4 at offset x5 of the page. Returns x0 = wrong values, x1 = accesses
// that EL2 skipped.
  .global guest_sweep
guest_sweep:
  mov x10, #0
  mov x11, #0
  mov x6, x0
  mov x7, x1
1:mov x9, #0
  ldr x8, [x6]
  cbnz x9, 3f
  eor x8, x8, x3
  cmp x8, x6
  b.eq 2f
  add x10, x10, #1
2:mov x9, #0
  str x4, [x6, x5]
  cbz x9, 4f
3:add x11, x11, #1
4:add x6, x6, x2
  subs x7, x7, #1
  b.ne 1b
  mov x0, x10
  mov x1, x11
  hvc #0

// EL1 vectors: the guest should never take an exception at EL1; if it does, HVC #1 tells EL2.
.macro guest_vector
  .balign 0x80
  hvc #1
  b .
.endm
  .balign 0x800
  .global guest_vectors
guest_vectors:
  .rept 16
  guest_vector
  .endr
