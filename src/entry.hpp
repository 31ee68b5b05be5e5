// Loads and stores of live descriptors. Hardware walkers and shared software walkers read them
// concurrently, so every access is a single-copy-atomic 64-bit access.
#pragma once

#include "s2pt/pte.hpp"

namespace s2pt::entry {

inline Pte load(const u64* slot) {
  return Pte::from_raw(__atomic_load_n(slot, __ATOMIC_ACQUIRE));
}

// Release: whatever the new entry points to (a freshly filled table) is visible before it.
inline void store(u64* slot, Pte value) {
  __atomic_store_n(slot, value.raw(), __ATOMIC_RELEASE);
}

// On failure `expected` receives the current value.
inline bool compare_exchange(u64* slot, Pte& expected, Pte desired) {
  u64 raw = expected.raw();
  const bool done = __atomic_compare_exchange_n(slot, &raw, desired.raw(), false, __ATOMIC_ACQ_REL,
                                                __ATOMIC_ACQUIRE);
  expected = Pte::from_raw(raw);
  return done;
}

}  // namespace s2pt::entry
