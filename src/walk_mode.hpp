// Whether a walk (and the maintenance it issues) runs alone or beside others.
#pragma once

#include "s2pt/types.hpp"

namespace s2pt {

enum class WalkMode : u8 {
  exclusive,  // the caller excludes every other software walker; entries are stored
  shared,     // other shared walkers run concurrently; entries change only by compare-and-swap
};

}  // namespace s2pt
