// The entries a table holds at leaf positions (blocks, pages, annotations), read from its memory
// without the core's walker, each with the IPA region it stands for.
#pragma once

#include <vector>

#include "s2pt/table.hpp"

namespace s2pt::test {

struct LeafEntry {
  Ipa base;
  u64 size;
  Level level;
  Pte pte;
};

// Every non-zero entry that is not a table descriptor, in ascending IPA order.
std::vector<LeafEntry> leaf_entries(Table& table);

}  // namespace s2pt::test
