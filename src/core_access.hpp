// The internal state behind a Table, for the project's own tests, tools and hardware model
// (never installed): they walk a table with their own visitors, read its pages and issue
// maintenance out of order on purpose. Code that uses the library goes through Table.
#pragma once

#include "s2pt/table.hpp"
#include "table_core.hpp"

namespace s2pt {

struct CoreAccess {
  static TableCore& core(Table& table) { return table.core_; }
};

}  // namespace s2pt
