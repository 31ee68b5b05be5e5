// Scenario files: a stage-2 table's life written one operation per line (docs/scenarios.md).
// parse() turns any byte string into either a Scenario or the first error with its line and
// column; it never aborts, throws or reads out of bounds, whatever the input.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s2pt/table.hpp"
#include "scenario/names.hpp"

namespace s2pt::scenario {

struct SourcePos {
  u32 line = 0;    // 1-based
  u32 column = 0;  // 1-based, in bytes
};

// The table a `table` line creates: geometry, the CPU's features, the planner's limits.
struct TableSpec {
  Granule granule = Granule::k4;
  unsigned ipa_bits = 40;
  unsigned pa_bits = 40;
  unsigned vmid_bits = 16;
  unsigned max_root_pages = 16;  // Geometry::make's concatenation limit
  u16 vmid = 1;
  Features features{.fwb = true, .tlbi_range = true, .ttl = true, .lpa2 = true, .lpa = true};
  PlannerLimits limits = {};
};

enum class OpKind : u8 {
  table,
  map,
  unmap,
  write_protect,
  relax,
  mkold,
  mkyoung,
  split,     // Table::split (eager split to a level, with a page budget)
  collapse,  // Table::collapse
  fault,     // Table::handle_fault (the shared fault path, run here on one CPU)
  annotate,
  flush,
  lookup,
  destroy,        // Table::destroy, then reclaim_all: every page freed when the step ends
  destroy_range,  // Table::destroy_range (chunked teardown), then reclaim_all
  reclaim,        // Table::reclaim(budget), or reclaim_all
  fail_alloc,
};
std::string_view op_name(OpKind op);
std::string_view fault_outcome_name(FaultOutcome o);

// What a `lookup ... expect` clause demands; unset fields are not checked.
struct LookupExpect {
  bool mapped = false;
  std::optional<Pa> pa;
  std::optional<Perm> perm;
  std::optional<MemType> mem;
  std::optional<int> level;
  std::optional<bool> af;
  std::optional<u64> size;
  std::optional<OwnerId> owner;  // unmapped only
};

// An `expect-*` line, checking the operation before it.
struct Expectation {
  enum class Kind : u8 { error, pages, ops };
  Kind kind = Kind::error;
  SourcePos pos;
  Status error = Status::ok;                 // error: the status the operation must fail with
  std::optional<u64> done;                   // error: bytes it must have done before stopping
  u64 pages = 0;                             // pages: table pages in use after the operation
  std::vector<std::pair<Counter, u64>> ops;  // ops: counters of what it issued
};

struct Step {
  OpKind op = OpKind::destroy;
  SourcePos pos;
  std::string text;  // the line without its comment and surrounding blanks

  TableSpec table;                                    // table
  IpaRange range;                                     // ranged operations
  Ipa ipa;                                            // lookup
  Pa pa;                                              // map
  Attrs attrs;                                        // map
  MapFlags flags = MapFlags::none;                    // map
  UnmapStrategy strategy = UnmapStrategy::automatic;  // unmap: the core's default
  Perm perm = Perm::none;                             // relax
  OwnerId owner;                                      // annotate
  std::optional<LookupExpect> expect;                 // lookup
  std::optional<u64> fail_after;                      // fail_alloc: none = never fail
  std::optional<u64> budget;                          // destroy_range, reclaim, split: none = all
  int level = Level::kLast;                           // split: the target level
  u64 leaf_bytes = 0;                                 // fault: 0 = one granule
  std::optional<FaultOutcome> fault_expect;           // fault: the outcome it must have

  std::vector<Expectation> expects;
};

struct Scenario {
  std::vector<Step> steps;
};

struct ParseError {
  SourcePos pos;
  std::string message;
};

struct ParseResult {
  Scenario scenario;
  std::optional<ParseError> error;
  bool ok() const { return !error.has_value(); }
};

ParseResult parse(std::string_view text);

// Numbers as scenarios write them: decimal or 0x hex, '_' between digits, an optional K/M/G/T
// (powers of 1024) suffix. nullopt on anything else or on overflow.
std::optional<u64> parse_number(std::string_view token);

// A short, printable rendering of untrusted text for error messages.
std::string quote(std::string_view token);

// "4K", "2M", "1G" when exact, else hex.
std::string size_string(u64 bytes);

}  // namespace s2pt::scenario
