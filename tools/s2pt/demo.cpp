// s2pt demo: a 64 MiB VM, 4K-backed, on a 4K-granule 40-bit IPA table; unmapped with per_entry,
// printing the maintenance it issued.
#include <cstdio>

#include "command.hpp"
#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/table.hpp"

namespace s2pt::tool {
namespace {

void print_counters(const char* what, const MaintenanceCounters& c) {
  std::printf(
      "%-28s TLBI ipa=%llu range=%llu vmid=%llu s1=%llu  DSB=%llu  ISB=%llu  DC CIVAC lines=%llu\n",
      what, static_cast<unsigned long long>(c.tlbi_ipa),
      static_cast<unsigned long long>(c.tlbi_range), static_cast<unsigned long long>(c.tlbi_vmid),
      static_cast<unsigned long long>(c.tlbi_s1), static_cast<unsigned long long>(c.dsb_total()),
      static_cast<unsigned long long>(c.isb), static_cast<unsigned long long>(c.dc_civac_lines()));
}

int run_case(bool fwb) {
  constexpr u64 kVmBytes = u64{64} << 20;
  constexpr Ipa kGuestBase{u64{1} << 30};
  constexpr Pa kBacking{u64{1} << 34};
  hosted::PagePool pool;
  counting::CountingArch arch(Features{.fwb = fwb, .tlbi_range = true, .ttl = true});
  const Result<Geometry> geometry = Geometry::make(Granule::k4, 40, 40);
  Result<Table> table = Table::create({.geometry = geometry.value(), .vmid = Vmid{1}}, pool, arch);
  if (!table.ok()) {
    std::fprintf(stderr, "demo: cannot create table: %s\n", describe(table.status()));
    return 1;
  }
  std::printf("\n4K granule, 40-bit IPA (start level %d, %u root pages), FWB %s, VTCR_EL2 0x%llx\n",
              geometry->start_level().value(), geometry->root_pages(), fwb ? "on" : "off",
              static_cast<unsigned long long>(geometry->vtcr()));

  // As a fault handler would: one map call per 4 KiB page.
  const Attrs attrs = Attrs::normal(Perm::rw);
  for (u64 off = 0; off < kVmBytes; off += 4096) {
    const Progress p = table->map({kGuestBase + off, 4096}, kBacking + off, attrs);
    if (!p.ok()) {
      std::fprintf(stderr, "demo: map failed at +0x%llx: %s\n",
                   static_cast<unsigned long long>(off), describe(p.status));
      return 1;
    }
  }
  const TableStats mapped = table->stats();
  std::printf("mapped %llu MiB in 4 KiB pages: %llu table pages\n",
              static_cast<unsigned long long>(kVmBytes >> 20),
              static_cast<unsigned long long>(mapped.table_pages));
  print_counters("  map issued:", mapped.maintenance);

  arch.clear();
  const Progress p = table->unmap({kGuestBase, kVmBytes}, UnmapStrategy::per_entry);
  const TableStats unmapped = table->stats();
  if (!p.ok()) {
    std::fprintf(stderr, "demo: unmap failed: %s\n", describe(p.status));
    return 1;
  }
  print_counters("  unmap (per_entry) issued:", unmapped.maintenance - mapped.maintenance);
  std::printf("  table pages after unmap: %llu (root only)\n",
              static_cast<unsigned long long>(unmapped.table_pages));
  std::printf("  first operations of the unmap:\n");
  const auto lines = arch.lines(Granule::k4);
  for (std::size_t i = 0; i < lines.size() && i < 9; ++i)
    std::printf("    %s\n", lines[i].c_str());

  for (u64 off = 0; off < kVmBytes; off += 4096) {
    if (table->lookup(kGuestBase + off).ok()) {
      std::fprintf(stderr, "demo: IPA still mapped after unmap\n");
      return 1;
    }
  }
  table->destroy();
  table->reclaim_all();  // destroy() only detaches; the pages are freed here
  if (pool.bytes_in_use() != 0) {
    std::fprintf(stderr, "demo: %llu bytes of table pages leaked\n",
                 static_cast<unsigned long long>(pool.bytes_in_use()));
    return 1;
  }
  std::printf("  verified: every page unmapped; destroy left 0 table pages in use\n");
  return 0;
}

}  // namespace

Command add_demo(CLI::App& tool) {
  CLI::App* app = tool.add_subcommand(
      "demo", "build a small 4K-backed VM table, unmap it, print what was issued");
  return {app, [] {
            std::printf(
                "s2pt demo: map a 64 MiB VM page by page, unmap it with the per_entry strategy\n");
            if (int rc = run_case(true); rc != 0) return rc;
            return run_case(false);
          }};
}

}  // namespace s2pt::tool
