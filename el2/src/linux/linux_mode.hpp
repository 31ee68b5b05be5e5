// The `linux` mode of the EL2 harness (docs/el2.md, "Linux guest").
#pragma once

namespace el2::linux_guest {

// Runs the Linux guest with the options on the semihosting command line; never returns (the
// run ends in exit_qemu with the verdict).
[[noreturn]] void linux_main(const char* command_line);

}  // namespace el2::linux_guest
