// The plain reference model the table is checked against: one slot per page of an IPA window,
// each either unmapped or (PA, attributes). No levels, no blocks, no maintenance.
#pragma once

#include <optional>
#include <vector>

#include "s2pt/table.hpp"

namespace s2pt::test {

class ReferenceModel {
 public:
  struct Mapping {
    Pa pa;
    Attrs attrs;
    bool operator==(const Mapping&) const = default;
  };

  ReferenceModel(Ipa window_start, u64 window_bytes, u64 page_bytes);

  bool any_mapped(IpaRange range) const;
  // Whether a page of the range is mapped as Device memory (execute permission refused there).
  bool any_device(IpaRange range) const;
  void map(IpaRange range, Pa pa, const Attrs& attrs);
  void unmap(IpaRange range);
  void change_perm(IpaRange range, Perm remove, Perm add);
  std::optional<Mapping> lookup(Ipa ipa) const;

  Ipa window_start() const { return start_; }
  u64 window_bytes() const { return pages_.size() * page_; }
  u64 page_bytes() const { return page_; }

 private:
  u64 index(Ipa ipa) const { return (ipa - start_) / page_; }

  Ipa start_;
  u64 page_;
  std::vector<std::optional<Mapping>> pages_;
};

}  // namespace s2pt::test
