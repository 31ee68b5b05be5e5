// Where the Linux guest lives. el2/linux/run-linux.sh loads the kernel, the initramfs and the
// device tree at these addresses and prepare-guest.sh writes them into the device tree: keep the
// three in step.
#pragma once

#include "platform.hpp"

namespace el2::linux_guest {

// Guest RAM: IPA [base, base + bytes). Until the migrator moves a page, its host memory is the
// page with the same address (QEMU loaded the kernel there), so the window starts out identity
// backed.
inline constexpr u64 kRamBase = 0x8000'0000;
inline constexpr u64 kRamBytes = u64{256} << 20;
inline constexpr u64 kKernelEntry = kRamBase + (u64{2} << 20);  // Image, 2 MiB aligned
inline constexpr u64 kDtb = kRamBase + (u64{126} << 20);
inline constexpr u64 kInitrd = kRamBase + (u64{128} << 20);

// Host memory the migrator moves guest pages to: the rest of QEMU's -m 2G RAM.
inline constexpr u64 kSpareBase = kRamBase + kRamBytes;
inline constexpr u64 kSpareEnd = 0xC000'0000;

inline constexpr u64 kPageBytes = 4096;
inline constexpr u64 kBlockBytes = u64{2} << 20;
inline constexpr u64 kPages = kRamBytes / kPageBytes;
inline constexpr u64 kBlocks = kRamBytes / kBlockBytes;

// Devices the guest reaches directly (IPA == PA, Device memory): QEMU virt's GICv2 distributor
// and CPU interface, the PL011 UART and the PL031 RTC. Nothing else is mapped outside RAM.
struct Passthrough {
  const char* name;
  u64 base;
  u64 bytes;
};
inline constexpr Passthrough kPassthrough[] = {
    {"gic-distributor", 0x0800'0000, 0x1'0000},
    {"gic-cpu-interface", 0x0801'0000, 0x1'0000},
    {"pl011", 0x0900'0000, 0x1000},
    {"pl031", 0x0901'0000, 0x1000},
};

inline constexpr unsigned kGuestCpus = 2;    // vCPU k runs on physical CPU k
inline constexpr unsigned kMigratorCpu = 2;  // the migrator's own physical CPU

}  // namespace el2::linux_guest
