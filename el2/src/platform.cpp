#include "platform.hpp"

#include "spinlock.hpp"

extern "C" el2::u64 semihosting_call(el2::u64 op, const void* block);
extern "C" el2::u64 psci_call(el2::u64 fn, el2::u64 a1, el2::u64 a2, el2::u64 a3);

namespace el2 {
namespace {

namespace pl011 {
inline constexpr u64 kData = 0x00;
inline constexpr u64 kFlags = 0x18;
inline constexpr u32 kTxFull = 1u << 5;
}  // namespace pl011

namespace semihosting {
inline constexpr u64 kSysExit = 0x18;
inline constexpr u64 kSysGetCmdline = 0x15;
inline constexpr u64 kApplicationExit = 0x20026;  // ADP_Stopped_ApplicationExit
}  // namespace semihosting

inline constexpr u64 kPsciCpuOn64 = 0xC400'0003;

volatile u32* uart_reg(u64 offset) {
  return reinterpret_cast<volatile u32*>(kUartBase + offset);
}

void put_char(char c) {
  while (*uart_reg(pl011::kFlags) & pl011::kTxFull) {
  }
  *uart_reg(pl011::kData) = static_cast<u32>(static_cast<unsigned char>(c));
}

SpinLock console_lock;

}  // namespace

unsigned cpu_index() {
  u64 mpidr;
  asm volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
  return static_cast<unsigned>(mpidr & 0xFF);
}

Console& Console::operator<<(const char* text) {
  for (; *text; ++text) {
    if (*text == '\n') put_char('\r');
    put_char(*text);
  }
  return *this;
}

Console& Console::operator<<(u64 value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0)
    put_char(digits[--n]);
  return *this;
}

Console& Console::operator<<(int value) {
  if (value < 0) {
    put_char('-');
    return *this << static_cast<u64>(-static_cast<long>(value));
  }
  return *this << static_cast<u64>(value);
}

Console& operator<<(Console& out, Hex h) {
  char text[19] = "0x";
  int n = 2;
  bool started = false;
  for (int shift = 60; shift >= 0; shift -= 4) {
    const unsigned nibble = (h.value >> shift) & 0xF;
    if (nibble == 0 && !started && shift != 0) continue;
    started = true;
    text[n++] = "0123456789abcdef"[nibble];
  }
  text[n] = '\0';
  return out << text;
}

Say::Say() {
  console_lock.lock();
}
Say::~Say() {
  console_lock.unlock();
}

void exit_qemu(u32 code) {
  const u64 block[2] = {semihosting::kApplicationExit, code};
  semihosting_call(semihosting::kSysExit, block);
  for (;;)
    asm volatile("wfe");
}

const char* command_line() {
  static char buffer[256];
  struct {
    char* data;
    u64 size;
  } block{buffer, sizeof buffer - 1};
  if (semihosting_call(semihosting::kSysGetCmdline, &block) != 0) return "";
  buffer[block.size] = '\0';
  return buffer;
}

long psci_cpu_on(unsigned cpu, u64 entry, u64 context) {
  return static_cast<long>(psci_call(kPsciCpuOn64, cpu, entry, context));
}

}  // namespace el2

namespace el2 {
u64 now_us() {
  u64 count, freq;
  asm volatile("isb\n\tmrs %0, cntpct_el0" : "=r"(count));
  asm volatile("mrs %0, cntfrq_el0" : "=r"(freq));
  return count / (freq / 1000000);
}
}  // namespace el2
