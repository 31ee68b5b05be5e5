// s2pt-sim-stress: runs the random workload against the hardware model for as long as asked,
// and prints violations, op counts, and modelled hardware time beside host time.
//
//   s2pt-sim-stress [--ops N] [--seed S] [--runs R] [--granule 4k|64k] [--no-fwb] [--no-range]
//                   [--no-ttl] [--stepped] [--cpus K] [--strategy NAME]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "s2pt/sim/workload.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: s2pt-sim-stress [--ops N] [--seed S] [--runs R] [--granule 4k|64k] "
               "[--no-fwb] [--no-range] [--no-ttl] [--stepped] [--cpus K] [--strategy NAME]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace s2pt;
  sim::WorkloadConfig c;
  c.ops = 1000;
  unsigned runs = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--ops") {
      const char* v = value();
      if (v == nullptr) return usage();
      c.ops = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    } else if (arg == "--seed") {
      const char* v = value();
      if (v == nullptr) return usage();
      c.seed = std::strtoull(v, nullptr, 0);
    } else if (arg == "--runs") {
      const char* v = value();
      if (v == nullptr) return usage();
      runs = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    } else if (arg == "--cpus") {
      const char* v = value();
      if (v == nullptr) return usage();
      c.cpus = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    } else if (arg == "--granule") {
      const char* v = value();
      if (v == nullptr) return usage();
      if (std::strcmp(v, "4k") == 0) {
        c.granule = Granule::k4;
      } else if (std::strcmp(v, "64k") == 0) {
        c.granule = Granule::k64;
      } else {
        return usage();
      }
    } else if (arg == "--strategy") {
      const char* v = value();
      if (v == nullptr) return usage();
      bool found = false;
      for (unsigned k = 0; k < 256 && !found; ++k) {
        if (std::strcmp(name(UnmapStrategy(k)), v) == 0) {
          c.strategy = UnmapStrategy(k);
          found = true;
        }
      }
      if (!found) return usage();
    } else if (arg == "--no-fwb") {
      c.fwb = false;
    } else if (arg == "--no-range") {
      c.tlbi_range = false;
    } else if (arg == "--no-ttl") {
      c.ttl = false;
    } else if (arg == "--stepped") {
      c.threaded = false;
    } else {
      return usage();
    }
  }
  std::size_t total_violations = 0;
  for (unsigned run = 0; run < runs; ++run) {
    const sim::WorkloadResult r = sim::run_workload(c);
    std::printf(
        "%s seed %llu: %llu ops (%llu refused), %llu accesses (%llu translated), %llu faults "
        "mapped, %zu violations\n"
        "  TLBI %llu (ipa %llu, range %llu, vmid %llu, s1 %llu), DSB %llu, DC CIVAC %llu lines\n"
        "  modelled hardware time %.3f ms, host time %.3f ms, digest %016llx\n",
        name(c.strategy), static_cast<unsigned long long>(c.seed),
        static_cast<unsigned long long>(r.ops), static_cast<unsigned long long>(r.ops_failed),
        static_cast<unsigned long long>(r.accesses), static_cast<unsigned long long>(r.accesses_ok),
        static_cast<unsigned long long>(r.faults_mapped), r.violations.size(),
        static_cast<unsigned long long>(r.counters.tlbi_total()),
        static_cast<unsigned long long>(r.counters.tlbi_ipa),
        static_cast<unsigned long long>(r.counters.tlbi_range),
        static_cast<unsigned long long>(r.counters.tlbi_vmid),
        static_cast<unsigned long long>(r.counters.tlbi_s1),
        static_cast<unsigned long long>(r.counters.dsb_total()),
        static_cast<unsigned long long>(r.counters.dc_civac_lines()), r.modeled_ns / 1e6,
        r.host_ns / 1e6, static_cast<unsigned long long>(r.digest));
    for (std::size_t i = 0; i < r.violations.size() && i < 20; ++i) {
      std::printf("  %s\n", r.violations[i].describe().c_str());
    }
    total_violations += r.violations.size();
    ++c.seed;
  }
  return total_violations == 0 ? 0 : 1;
}
