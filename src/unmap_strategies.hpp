// The unmap strategies (see UnmapStrategy in table.hpp). The range is already validated.
#pragma once

#include "table_core.hpp"

namespace s2pt {

Progress unmap_per_entry(TableCore& core, IpaRange range);
Progress unmap_deferred(TableCore& core, IpaRange range);
Progress unmap_fast(TableCore& core, IpaRange range);

}  // namespace s2pt
