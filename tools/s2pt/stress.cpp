// s2pt stress: random table workloads against the hardware model, for a given time, over every
// strategy, granule and feature combination asked for. Prints what was done, every violation the
// oracles report (exit 1 on any), and the command that replays a run.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "command.hpp"
#include "progress.hpp"
#include "s2pt/sim/workload.hpp"
#include "scenario/scenario.hpp"

namespace s2pt::tool {
namespace {

constexpr u64 kMaxCount = u64{1} << 20;

struct Options {
  double seconds = 10;
  u64 runs = 0;  // 0: as many as fit in `seconds`
  u64 seed = 0;
  bool seed_given = false;
  unsigned cpus = 3;
  unsigned ops = 200;
  bool stepped = false;
  std::vector<UnmapStrategy> strategies;
  std::vector<Granule> granules{Granule::k4, Granule::k64};
  std::vector<bool> fwb{true, false};
  std::vector<bool> range{true, false};
  bool ttl = true;
};

int usage(const char* why) {
  if (why) std::fprintf(stderr, "s2pt stress: %s\n", why);
  std::fprintf(stderr,
               "usage: s2pt stress [--seconds T] [--runs N] [--seed S] [--cpus K] [--ops N]\n"
               "                   [--strategy NAME|all] [--granule 4K|64K|both]\n"
               "                   [--fwb on|off|both] [--tlbi-range on|off|both] [--ttl on|off]\n"
               "                   [--stepped]\n"
               "  Threaded runs (default) race real host threads and are not exactly\n"
               "  reproducible; --stepped runs are, from their seed.\n");
  return 2;
}

bool parse_switch(std::string_view v, std::vector<bool>& out) {
  if (v == "on")
    out = {true};
  else if (v == "off")
    out = {false};
  else if (v == "both")
    out = {true, false};
  else
    return false;
  return true;
}

bool parse_number(const char* text, double& out) {
  char* end = nullptr;
  out = std::strtod(text, &end);
  return end != text && *end == '\0' && out >= 0;
}

const char* on_off(bool b) {
  return b ? "on" : "off";
}

}  // namespace

int stress_main(std::span<char* const> args) {
  Options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--stepped") {
      o.stepped = true;
      continue;
    }
    if (i + 1 >= args.size()) return usage("an option lacks its value");
    const char* value = args[++i];
    if (arg == "--seconds") {
      if (!parse_number(value, o.seconds)) return usage("--seconds takes a number");
    } else if (arg == "--runs" || arg == "--seed") {
      const std::optional<u64> n = scenario::parse_number(value);
      if (!n) return usage("--runs and --seed take a whole number");
      if (arg == "--runs") o.runs = *n;
      if (arg == "--seed") o.seed = *n, o.seed_given = true;
    } else if (arg == "--cpus" || arg == "--ops") {
      const std::optional<u64> n = scenario::parse_number(value);
      if (!n || *n > kMaxCount) return usage("--cpus and --ops take a whole number up to 2^20");
      if (arg == "--cpus") o.cpus = static_cast<unsigned>(*n);
      if (arg == "--ops") o.ops = static_cast<unsigned>(*n);
    } else if (arg == "--strategy") {
      o.strategies.clear();
      for (UnmapStrategy s : kAllUnmapStrategies) {
        if (std::string_view(value) == "all" || std::string_view(value) == name(s)) {
          o.strategies.push_back(s);
        }
      }
      if (o.strategies.empty()) return usage("unknown strategy");
    } else if (arg == "--granule") {
      const std::string_view v = value;
      if (v == "4K" || v == "4k")
        o.granules = {Granule::k4};
      else if (v == "64K" || v == "64k")
        o.granules = {Granule::k64};
      else if (v == "both")
        o.granules = {Granule::k4, Granule::k64};
      else
        return usage("--granule takes 4K, 64K or both");
    } else if (arg == "--fwb") {
      if (!parse_switch(value, o.fwb)) return usage("--fwb takes on, off or both");
    } else if (arg == "--tlbi-range") {
      if (!parse_switch(value, o.range)) return usage("--tlbi-range takes on, off or both");
    } else if (arg == "--ttl") {
      std::vector<bool> ttl;
      if (!parse_switch(value, ttl) || ttl.size() != 1) return usage("--ttl takes on or off");
      o.ttl = ttl.front();
    } else {
      return usage("unknown option");
    }
  }
  if (o.cpus < 2 || o.cpus > 64) {
    return usage("--cpus must be from 2 (one writer, one guest) to 64");
  }
  if (o.strategies.empty())
    o.strategies.assign(std::begin(kAllUnmapStrategies), std::end(kAllUnmapStrategies));
  if (!o.seed_given) {
    o.seed =
        static_cast<u64>(std::chrono::steady_clock::now().time_since_epoch().count()) % 1000000;
  }

  // Every combination, in turn, each run with the next seed.
  struct Combo {
    UnmapStrategy strategy;
    Granule granule;
    bool fwb;
    bool range;
  };
  std::vector<Combo> combos;
  for (UnmapStrategy s : o.strategies) {
    for (Granule g : o.granules) {
      for (bool f : o.fwb) {
        for (bool r : o.range)
          combos.push_back({s, g, f, r});
      }
    }
  }

  std::printf("s2pt stress: %s runs, %u CPUs, %u operations per run, first seed %llu\n",
              o.stepped ? "stepped (reproducible)" : "threaded", o.cpus, o.ops,
              static_cast<unsigned long long>(o.seed));
  ProgressLine progress;
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  u64 runs = 0, ops = 0, accesses = 0, faults = 0, violations = 0;
  while (o.runs ? runs < o.runs : elapsed() < o.seconds) {
    const Combo& c = combos[runs % combos.size()];
    sim::WorkloadConfig config;
    config.granule = c.granule;
    config.fwb = c.fwb;
    config.tlbi_range = c.range;
    config.ttl = o.ttl;
    config.strategy = c.strategy;
    config.ops = o.ops;
    config.seed = o.seed + runs;
    config.threaded = !o.stepped;
    config.cpus = o.cpus;
    const sim::WorkloadResult r = sim::run_workload(config);
    ++runs;
    ops += r.ops;
    accesses += r.accesses;
    faults += r.faults_mapped;
    progress.finish();
    std::printf(
        "%-9s %-3s FWB %-3s range %-3s seed %-8llu %5llu ops (%llu refused) %7llu accesses "
        "%5llu faults mapped | TLBI %llu (ipa %llu, range %llu, vmid %llu, s1 %llu) DSB %llu "
        "DC lines %llu | modelled %.3f ms, host %.3f ms | %zu violations\n",
        name(c.strategy), c.granule == Granule::k4 ? "4K" : "64K", on_off(c.fwb), on_off(c.range),
        static_cast<unsigned long long>(config.seed), static_cast<unsigned long long>(r.ops),
        static_cast<unsigned long long>(r.ops_failed), static_cast<unsigned long long>(r.accesses),
        static_cast<unsigned long long>(r.faults_mapped),
        static_cast<unsigned long long>(r.counters.tlbi_total()),
        static_cast<unsigned long long>(r.counters.tlbi_ipa),
        static_cast<unsigned long long>(r.counters.tlbi_range),
        static_cast<unsigned long long>(r.counters.tlbi_vmid),
        static_cast<unsigned long long>(r.counters.tlbi_s1),
        static_cast<unsigned long long>(r.counters.dsb_total()),
        static_cast<unsigned long long>(r.counters.dc_civac_lines()), r.modeled_ns / 1e6,
        r.host_ns / 1e6, r.violations.size());
    if (!r.violations.empty()) {
      violations += r.violations.size();
      std::printf("VIOLATIONS in run with seed %llu (%s, %s, FWB %s, TLBI range %s):\n",
                  static_cast<unsigned long long>(config.seed), name(c.strategy),
                  c.granule == Granule::k4 ? "4K" : "64K", on_off(c.fwb), on_off(c.range));
      for (const sim::Violation& v : r.violations)
        std::printf("  %s\n", v.describe().c_str());
      std::printf(
          "  replay: s2pt stress --runs 1 --seed %llu --strategy %s --granule %s --fwb %s "
          "--tlbi-range %s --cpus %u --ops %u%s\n",
          static_cast<unsigned long long>(config.seed), name(c.strategy),
          c.granule == Granule::k4 ? "4K" : "64K", on_off(c.fwb), on_off(c.range), o.cpus, o.ops,
          o.stepped ? " --stepped" : "");
    }
    char note[96];
    std::snprintf(note, sizeof note, "%llu runs, %llu violations",
                  static_cast<unsigned long long>(runs),
                  static_cast<unsigned long long>(violations));
    if (o.runs) {
      progress.update("stress", runs, o.runs, note);
    } else {
      progress.update("stress", static_cast<u64>(elapsed() * 1000),
                      static_cast<u64>(o.seconds * 1000), note);
    }
  }
  progress.finish();
  std::printf(
      "%llu runs (seeds %llu..%llu), %llu operations, %llu guest accesses, %llu faults "
      "mapped by handle_fault, %llu violations, %.1f s\n",
      static_cast<unsigned long long>(runs), static_cast<unsigned long long>(o.seed),
      static_cast<unsigned long long>(o.seed) + (runs ? runs - 1 : 0),
      static_cast<unsigned long long>(ops), static_cast<unsigned long long>(accesses),
      static_cast<unsigned long long>(faults), static_cast<unsigned long long>(violations),
      elapsed());
  return violations == 0 ? 0 : 1;
}

}  // namespace s2pt::tool
