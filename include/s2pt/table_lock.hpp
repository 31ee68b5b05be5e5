// A reader-writer lock for one table that scales with the number of faulting CPUs: each reader
// (a CPU in the fault path) writes only its own cache line, the rare writer (an exclusive
// operation) announces itself and waits for the readers to drain. One shared reader count, as in
// an ordinary rwlock, would bounce between CPUs on every fault. Freestanding: spins, no OS.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

class TableLock {
 public:
  static constexpr unsigned kCpus = 32;  // reader slots; a CPU index selects one

  // Shared side, for handle_fault on CPU `cpu` (< kCpus; one reader per slot at a time).
  void lock_shared(unsigned cpu) {
    for (;;) {
      // Store-then-load on both sides, sequentially consistent: either this reader sees the
      // writer's flag, or the writer sees this reader's (Dekker's argument).
      __atomic_store_n(&readers_[cpu].active, 1u, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(&writer_.active, __ATOMIC_SEQ_CST) == 0) return;
      __atomic_store_n(&readers_[cpu].active, 0u, __ATOMIC_RELEASE);
      while (__atomic_load_n(&writer_.active, __ATOMIC_ACQUIRE) != 0)
        relax();
    }
  }
  void unlock_shared(unsigned cpu) {
    __atomic_store_n(&readers_[cpu].active, 0u, __ATOMIC_RELEASE);
  }

  // Exclusive side, for every other table operation. Writers take turns; a writer waiting keeps
  // new readers out, so a stream of faults cannot starve it.
  void lock() {
    while (__atomic_exchange_n(&writer_.active, 1u, __ATOMIC_SEQ_CST) != 0)
      relax();
    for (const Slot& reader : readers_) {
      while (__atomic_load_n(&reader.active, __ATOMIC_SEQ_CST) != 0)
        relax();
    }
  }
  void unlock() { __atomic_store_n(&writer_.active, 0u, __ATOMIC_RELEASE); }

 private:
  static void relax() {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  // 64-byte strides: each flag on a cache line of its own, whatever the object's alignment.
  struct Slot {
    u32 active = 0;
    u32 padding[15] = {};
  };
  static_assert(sizeof(Slot) == 64);
  Slot writer_;
  Slot readers_[kCpus];
};

// Scoped holders.
class SharedTableLock {
 public:
  SharedTableLock(TableLock& lock, unsigned cpu) : lock_(lock), cpu_(cpu) {
    lock_.lock_shared(cpu_);
  }
  ~SharedTableLock() { lock_.unlock_shared(cpu_); }
  SharedTableLock(const SharedTableLock&) = delete;
  SharedTableLock& operator=(const SharedTableLock&) = delete;

 private:
  TableLock& lock_;
  unsigned cpu_;
};

class ExclusiveTableLock {
 public:
  explicit ExclusiveTableLock(TableLock& lock) : lock_(lock) { lock_.lock(); }
  ~ExclusiveTableLock() { lock_.unlock(); }
  ExclusiveTableLock(const ExclusiveTableLock&) = delete;
  ExclusiveTableLock& operator=(const ExclusiveTableLock&) = delete;

 private:
  TableLock& lock_;
};

}  // namespace s2pt
