// A ptdump-style view of a stage-2 table, gathered by a visitor over the core's walker: runs of
// leaves with the same level and attributes, contiguous in both IPA and PA, merged into one
// region; annotated (owned) invalid ranges; and the table pages per level.
#pragma once

#include <array>
#include <cstdio>
#include <vector>

#include "s2pt/table.hpp"

namespace s2pt::ptdump {

struct Region {
  enum class Kind : u8 {
    mapped,     // valid blocks or pages
    annotated,  // invalid entries carrying an owner
    locked,     // an entry a walker holds (never seen between exclusive operations)
    reserved,   // a descriptor encoding s2pt never writes
  };
  Kind kind = Kind::mapped;
  Ipa start = {};
  u64 size = 0;
  Level level{kLastLevel};
  u64 entries = 0;  // descriptors merged into the region

  // mapped: where the first byte goes and what the leaves say.
  Pa pa = {};
  Attrs attrs = {};
  bool memattr_known = true;  // false: MemAttr is not an encoding s2pt writes
  u64 memattr = 0;            // the raw MemAttr field
  OwnerId owner = {};         // annotated
  u64 raw = 0;                // reserved, locked: the descriptor

  Ipa end() const { return start + size; }
};

// Table pages by level; index level + 1 so that level -1 (LPA2) has a slot.
struct TablePages {
  std::array<u64, 5> by_level{};
  u64 total() const;
  u64& at(Level level) { return by_level[slot(level)]; }
  u64 at(Level level) const { return by_level[slot(level)]; }

 private:
  static constexpr std::size_t slot(Level level) {
    return static_cast<std::size_t>(level.value()) + 1;
  }
};

struct Dump {
  std::vector<Region> regions;
  TablePages pages;  // counted by the walk, root included
};

// Walks the whole IPA space of a live table. Reads only.
Dump collect(Table& table);

void print_text(std::FILE* out, const Table& table, const Dump& dump);
void print_json(std::FILE* out, const Table& table, const Dump& dump);

}  // namespace s2pt::ptdump
