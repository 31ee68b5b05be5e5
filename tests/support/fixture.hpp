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

// The sizes tests speak in (`using namespace test::sizes;`).
namespace sizes {
inline constexpr u64 k4K = u64{4} << 10;
inline constexpr u64 k16K = u64{16} << 10;
inline constexpr u64 k64K = u64{64} << 10;
inline constexpr u64 k2M = u64{2} << 20;
inline constexpr u64 k32M = u64{32} << 20;
inline constexpr u64 k512M = u64{512} << 20;
inline constexpr u64 k1G = u64{1} << 30;
}  // namespace sizes

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
