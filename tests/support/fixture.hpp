// A table with a hosted page pool and a counting backend, for tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/table.hpp"

namespace s2pt::test {

Geometry make_geometry(Granule granule, unsigned ipa_bits, unsigned pa_bits = 48);

inline constexpr Features kAllFeatures{.fwb = true, .tlbi_range = true, .ttl = true};
inline constexpr Features kNoFeatures{};

struct Rig {
  explicit Rig(const Geometry& geometry, const Features& features = kAllFeatures,
               bool record = true);
  explicit Rig(const TableConfig& config, const Features& features = kAllFeatures,
               bool record = true);

  Table& table() { return *table_; }
  // The recorded maintenance since the last clear(), as readable lines.
  std::vector<std::string> ops() const {
    return arch.lines(geometry.granule(), geometry.oa_layout() == OaLayout::lpa2);
  }

  Geometry geometry;
  hosted::PagePool pool;
  counting::CountingArch arch;
  std::optional<Table> table_;
};

}  // namespace s2pt::test
