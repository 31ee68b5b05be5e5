// A ticket lock for EL2 code on several CPUs (needs the MMU on: exclusives and atomics want
// Normal memory).
#pragma once

#include "s2pt/types.hpp"

namespace el2 {

class SpinLock {
 public:
  void lock() {
    const s2pt::u32 ticket = __atomic_fetch_add(&next_, 1u, __ATOMIC_RELAXED);
    while (__atomic_load_n(&serving_, __ATOMIC_ACQUIRE) != ticket) {
      asm volatile("yield");
    }
  }
  void unlock() { __atomic_store_n(&serving_, serving_ + 1, __ATOMIC_RELEASE); }

 private:
  s2pt::u32 next_ = 0;
  s2pt::u32 serving_ = 0;
};

class Guard {
 public:
  explicit Guard(SpinLock& lock) : lock_(lock) { lock_.lock(); }
  ~Guard() { lock_.unlock(); }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  SpinLock& lock_;
};

}  // namespace el2
