#include "runtime.hpp"

extern "C" {

// GCC may emit calls to these even in freestanding code (struct copies, zeroing).
void* memset(void* dst, int value, unsigned long bytes) {
  auto* p = static_cast<volatile unsigned char*>(dst);
  for (unsigned long i = 0; i < bytes; ++i)
    p[i] = static_cast<unsigned char>(value);
  return dst;
}

void* memcpy(void* dst, const void* src, unsigned long bytes) {
  auto* d = static_cast<volatile unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  for (unsigned long i = 0; i < bytes; ++i)
    d[i] = s[i];
  return dst;
}

void* memmove(void* dst, const void* src, unsigned long bytes) {
  auto* d = static_cast<volatile unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d < s) {
    for (unsigned long i = 0; i < bytes; ++i)
      d[i] = s[i];
  } else {
    for (unsigned long i = bytes; i > 0; --i)
      d[i - 1] = s[i - 1];
  }
  return dst;
}

int memcmp(const void* a, const void* b, unsigned long bytes) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (unsigned long i = 0; i < bytes; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

void __cxa_pure_virtual() {
  el2::fatal("pure virtual call", 0);
}

int __cxa_atexit(void (*)(void*), void*, void*) {
  return 0;
}
void* __dso_handle = nullptr;
}

namespace el2 {

void fill_bytes(void* dst, unsigned char value, u64 bytes) {
  // Whole 64-bit words where possible: table pages are large and the loop runs under emulation.
  auto* p = static_cast<unsigned char*>(dst);
  const u64 word = 0x0101010101010101ull * value;
  u64 i = 0;
  for (; i < bytes && (reinterpret_cast<u64>(p + i) & 7) != 0; ++i)
    p[i] = value;
  for (; i + 8 <= bytes; i += 8)
    *reinterpret_cast<volatile u64*>(p + i) = word;
  for (; i < bytes; ++i)
    p[i] = value;
}

// Fatal paths write without the console lock: the CPU may have failed while holding it.
void fatal(const char* what, u64 detail) {
  Console() << "FATAL cpu" << cpu_index() << ": " << what << " " << Hex{detail} << "\n";
  exit_qemu(kExitFatal);
}

}  // namespace el2

extern "C" [[noreturn]] void el2_unexpected_exception(el2::u64 esr, el2::u64 elr, el2::u64 far) {
  el2::Console() << "FATAL cpu" << el2::cpu_index() << ": exception at EL2 esr=" << el2::Hex{esr}
                 << " elr=" << el2::Hex{elr} << " far=" << el2::Hex{far} << "\n";
  el2::exit_qemu(el2::kExitFatal);
}
