// What a freestanding C++ program needs from its environment, and a fatal-error exit.
#pragma once

#include "platform.hpp"

namespace el2 {

void fill_bytes(void* dst, unsigned char value, u64 bytes);
[[noreturn]] void fatal(const char* what, u64 detail);

// Exit codes of the image (semihosting SYS_EXIT).
inline constexpr u32 kExitPass = 0;
inline constexpr u32 kExitFail = 1;
inline constexpr u32 kExitFatal = 2;

}  // namespace el2
