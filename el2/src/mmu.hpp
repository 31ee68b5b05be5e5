// The EL2 stage-1 translation regime: an identity map so that the hypervisor (and the core's
// table pages) live in Normal write-back memory, which atomics and exclusives need.
#pragma once

namespace el2 {

// Fills the shared translation table; the boot CPU calls it once, before any CPU enables it.
void build_identity_map();
// Turns the EL2 MMU and caches on for the calling CPU.
void enable_mmu();

// Whether EL2 runs as a VHE host (HCR_EL2.E2H = 1, TGE = 1 outside the guest), as Linux/KVM does
// on CPUs with FEAT_VHE. Chosen by the boot CPU before any other starts.
bool vhe_host();
void set_vhe_host();
// Whether the calling CPU implements FEAT_VHE (ID_AA64MMFR1_EL1.VH).
bool cpu_has_vhe();
// Switches the calling CPU, MMU on, into the VHE host configuration with the same identity map:
// HCR_EL2.{E2H, TGE} = {1, 1} and the EL2&0 regime's TCR_EL2 layout.
void enter_vhe_host();

}  // namespace el2
