// The unmap strategies every reliability test and fuzzer iterates: the core's own list, so a new
// strategy is picked up without editing them.
#pragma once

#include <iterator>
#include <vector>

#include "s2pt/table.hpp"

namespace s2pt::test {

inline std::vector<UnmapStrategy> all_unmap_strategies() {
  return {std::begin(kAllUnmapStrategies), std::end(kAllUnmapStrategies)};
}

}  // namespace s2pt::test
