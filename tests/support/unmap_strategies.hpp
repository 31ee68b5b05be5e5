// Every UnmapStrategy the core knows, found by asking name() for each value until it answers "?":
// a strategy added to the enum (and to name()) is picked up by every test and fuzzer that
// iterates this list, without editing them.
#pragma once

#include <string_view>
#include <vector>

#include "s2pt/table.hpp"

namespace s2pt::test {

inline std::vector<UnmapStrategy> all_unmap_strategies() {
  std::vector<UnmapStrategy> strategies;
  for (unsigned v = 0; v <= 0xFF; ++v) {
    const auto s = static_cast<UnmapStrategy>(v);
    if (std::string_view(name(s)) == "?") break;
    strategies.push_back(s);
  }
  return strategies;
}

}  // namespace s2pt::test
