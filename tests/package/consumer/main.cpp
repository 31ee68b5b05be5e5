// Maps, looks up and unmaps through the installed C++ headers and libraries.
#include <cstdio>

#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/table.hpp"

int main() {
  using namespace s2pt;
  hosted::PagePool pool;
  counting::CountingArch arch(Features{.fwb = true, .tlbi_range = true, .ttl = true});
  Result<Table> table = Table::create(
      {.geometry = Geometry::make(Granule::k4, 40, 40).value(), .vmid = Vmid{3}}, pool, arch);
  if (!table.ok()) return 1;
  if (!table->map({Ipa{0x40000000}, u64{2} << 20}, Pa{0x80000000}, Attrs::normal(Perm::rw)).ok()) {
    return 1;
  }
  const Result<Translation> t = table->lookup(Ipa{0x40001000});
  if (!t.ok() || t->pa != Pa{0x80001000} || t->level != Level{2}) return 1;
  if (!table->unmap({Ipa{0x40000000}, u64{2} << 20}).ok()) return 1;
  if (table->lookup(Ipa{0x40001000}).ok() || arch.log().empty()) return 1;
  table->destroy();
  table->reclaim_all();  // destroy hands the pages to the reclaimer; this frees them
  if (pool.bytes_in_use() != 0) return 1;
  std::printf("consumer (C++): ok\n");
  return 0;
}
