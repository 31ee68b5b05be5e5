// The unmap strategies (see UnmapStrategy in table.hpp). The range is already validated.
#pragma once

#include "table_core.hpp"

namespace s2pt {

Progress unmap_per_entry(TableCore& core, IpaRange range);
Progress unmap_deferred(TableCore& core, IpaRange range);
Progress unmap_fast(TableCore& core, IpaRange range);
// unmap_fast one `chunk`-aligned piece after another (chunk a power of two) until about `budget`
// table pages were detached (at least one chunk), with one invalidation for all of them.
Progress unmap_fast_chunked(TableCore& core, IpaRange range, u64 chunk, u64 budget);

}  // namespace s2pt
