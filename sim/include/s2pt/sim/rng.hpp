// A small deterministic generator (SplitMix64): the same seed gives the same run on every
// platform, which the standard distributions do not promise.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt::sim {

class Rng {
 public:
  explicit Rng(u64 seed) : state_(seed) {}

  u64 next() {
    u64 z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound); bound > 0. The modulo bias is irrelevant for test workloads.
  u64 below(u64 bound) { return next() % bound; }
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  u64 state_;
};

}  // namespace s2pt::sim
