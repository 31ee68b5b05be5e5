#include "support/fixture.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace s2pt::test {

Geometry make_geometry(Granule granule, unsigned ipa_bits, unsigned pa_bits) {
  const Result<Geometry> g = Geometry::make(granule, ipa_bits, pa_bits);
  if (!g.ok()) {
    ADD_FAILURE() << "bad test geometry: " << describe(g.status());
    std::abort();
  }
  return g.value();
}

Rig::Rig(const Geometry& g, const Features& features, bool record)
    : Rig(TableConfig{.geometry = g, .vmid = Vmid{5}}, features, record) {}

Rig::Rig(const TableConfig& config, const Features& features, bool record)
    : geometry(config.geometry), arch(features, record) {
  Result<Table> t = Table::create(config, pool, arch);
  if (!t.ok()) {
    ADD_FAILURE() << "cannot create table: " << describe(t.status());
    std::abort();
  }
  table_.emplace(static_cast<Result<Table>&&>(t).value());
  arch.clear();
}

}  // namespace s2pt::test
