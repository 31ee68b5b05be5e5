// The QEMU virt machine as seen from EL2: PL011 console, semihosting exit, PSCI, CPU identity.
#pragma once

#include "s2pt/types.hpp"

namespace el2 {

using s2pt::u32;
using s2pt::u64;
using s2pt::u8;

inline constexpr unsigned kMaxCpus = 8;
inline constexpr u64 kRamBase = 0x4000'0000;
inline constexpr u64 kUartBase = 0x0900'0000;

// Index of the calling CPU (MPIDR_EL1.Aff0: QEMU virt numbers CPUs 0..N-1 there).
unsigned cpu_index();

// Console output, serialised between CPUs so lines do not interleave.
class Console {
 public:
  Console& operator<<(const char* text);
  Console& operator<<(u64 value);  // decimal
  Console& operator<<(unsigned value) { return *this << u64{value}; }
  Console& operator<<(int value);
  Console& operator<<(bool value) { return *this << (value ? "yes" : "no"); }
};

struct Hex {
  u64 value;
};
Console& operator<<(Console& out, Hex h);

// Holds the console lock for one statement's worth of output: `say() << "a" << 1 << "\n";`.
class Say {
 public:
  Say();
  ~Say();
  Say(const Say&) = delete;
  Say& operator=(const Say&) = delete;
  template <class T>
  Say& operator<<(const T& value) {
    console_ << value;
    return *this;
  }

 private:
  Console console_;
};
inline Say say() {
  return {};
}

// Ends the QEMU run through semihosting SYS_EXIT with `code` as the process exit status.
[[noreturn]] void exit_qemu(u32 code);

// The semihosting command line (`-semihosting-config arg=...`), or "" if there is none.
const char* command_line();

// Calls fn(word, length, index) for each space-separated word of `line` (index 0: the program
// name) until fn returns false.
template <class Fn>
void for_each_word(const char* line, Fn&& fn) {
  for (unsigned index = 0;; ++index) {
    while (*line == ' ')
      ++line;
    const char* word = line;
    while (*line && *line != ' ')
      ++line;
    const u64 n = static_cast<u64>(line - word);
    if (n == 0 || !fn(word, n, index)) return;
  }
}

// PSCI CPU_ON: starts `cpu` at `entry` (a physical address) with x0 = `context`. 0 on success.
long psci_cpu_on(unsigned cpu, u64 entry, u64 context);

}  // namespace el2

namespace el2 {
// Microseconds since boot (generic timer).
u64 now_us();
}  // namespace el2
