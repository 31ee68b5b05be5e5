// s2pt stress: random table workloads against the hardware model, for a given time, over every
// strategy, granule and feature combination asked for. Prints what was done, every violation the
// oracles report (exit 1 on any), and the command that replays a run.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
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

// The command line as CLI11 fills it; resolved into Options after the parse.
struct Arguments {
  Options options;
  std::string strategy = "all";
  std::string granule = "both";
  std::string fwb = "both";
  std::string tlbi_range = "both";
  std::string ttl = "on";
  CLI::Option* seed = nullptr;
};

void add_options(CLI::App& app, Arguments& a) {
  Options& o = a.options;
  app.add_option("--seconds", o.seconds, "run for this long (unless --runs)")
      ->check(cli::non_negative())
      ->capture_default_str();
  app.add_option("--runs", o.runs, "exactly this many runs, whatever the time")
      ->check(cli::whole_number());
  a.seed = app.add_option("--seed", o.seed, "the first run's seed [default: from the clock]")
               ->check(cli::whole_number());
  app.add_option("--cpus", o.cpus, "CPUs: one writer, the rest run guests, 2 to 64")
      ->check(CLI::Range(2u, 64u))
      ->capture_default_str();
  app.add_option("--ops", o.ops, "operations per run, up to 2^20")
      ->check(CLI::Range(u64{1}, kMaxCount))
      ->capture_default_str();
  std::vector<std::string> strategies{"all"};
  for (UnmapStrategy s : kAllUnmapStrategies)
    strategies.emplace_back(name(s));
  app.add_option("--strategy", a.strategy, "an unmap strategy, or all")
      ->check(CLI::IsMember(strategies))
      ->capture_default_str();
  app.add_option("--granule", a.granule, "4K, 64K or both")
      ->check(CLI::IsMember({"4K", "64K", "both"}, CLI::ignore_case))
      ->capture_default_str();
  app.add_option("--fwb", a.fwb, "FEAT_S2FWB: on, off or both")
      ->check(CLI::IsMember(cli::kSwitchWords))
      ->capture_default_str();
  app.add_option("--tlbi-range", a.tlbi_range, "FEAT_TLBIRANGE: on, off or both")
      ->check(CLI::IsMember(cli::kSwitchWords))
      ->capture_default_str();
  app.add_option("--ttl", a.ttl, "FEAT_TTL level hints: on or off")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_flag("--stepped", o.stepped,
               "reproducible stepped runs; threaded runs (the default) race real host threads and "
               "are not exactly reproducible");
}

Options resolve(const Arguments& a) {
  Options o = a.options;
  o.seed_given = a.seed->count() != 0;
  for (UnmapStrategy s : kAllUnmapStrategies) {
    if (a.strategy == "all" || a.strategy == name(s)) o.strategies.push_back(s);
  }
  if (a.granule == "both")
    o.granules = {Granule::k4, Granule::k64};
  else
    o.granules = {cli::granule_named(a.granule)};
  o.fwb = cli::switch_values(a.fwb);
  o.range = cli::switch_values(a.tlbi_range);
  o.ttl = a.ttl == "on";
  return o;
}

const char* on_off(bool b) {
  return b ? "on" : "off";
}

int stress(Options o) {
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

}  // namespace

Command add_stress(CLI::App& tool) {
  CLI::App* app = tool.add_subcommand(
      "stress", "random workloads against the hardware model's oracles, for a given time");
  auto a = std::make_shared<Arguments>();
  add_options(*app, *a);
  return {app, [a] { return stress(resolve(*a)); }};
}

}  // namespace s2pt::tool
