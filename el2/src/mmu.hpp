// The EL2 stage-1 translation regime: an identity map so that the hypervisor (and the core's
// table pages) live in Normal write-back memory, which atomics and exclusives need.
#pragma once

namespace el2 {

// Fills the shared translation table; the boot CPU calls it once, before any CPU enables it.
void build_identity_map();
// Turns the EL2 MMU and caches on for the calling CPU.
void enable_mmu();

}  // namespace el2
