// s2pt run FILE: executes a scenario, printing what each operation issued; exits 1 at the first
// failed expectation (FILE:LINE: ...), 2 on a malformed file or bad usage.
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "command.hpp"
#include "scenario/runner.hpp"
#include "scenario_file.hpp"

namespace s2pt::tool {
namespace {

struct Arguments {
  BackendArgs backend;
  bool trace = false;
  bool quiet = false;
  std::string path;
};

int run(const Arguments& a) {
  const bool trace = a.trace;
  const bool quiet = a.quiet;
  const std::string& path = a.path;
  std::unique_ptr<scenario::Backend> backend = open_backend(a.backend, trace && !quiet, "run");
  if (!backend) return 2;
  const std::optional<scenario::Scenario> parsed = load_scenario(path, "run");
  if (!parsed) return 2;

  const scenario::RunResult result = scenario::run(
      *parsed, *backend, scenario::RunOptions{.out = quiet ? nullptr : stdout, .trace = trace});
  std::fflush(stdout);
  if (!result.passed()) {
    if (result.failure->line != 0) {
      std::fprintf(stderr, "%s:%u: %s\n", path.c_str(), result.failure->line,
                   result.failure->message.c_str());
    } else {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), result.failure->message.c_str());
    }
    return 1;
  }
  if (!quiet) {
    std::printf("%s: %u operations, every expectation met, no table page leaked (%.*s backend)\n",
                path.c_str(), result.steps_run, static_cast<int>(backend->name().size()),
                backend->name().data());
    if (const std::string summary = backend->summary(); !summary.empty()) {
      std::printf("%.*s: %s\n", static_cast<int>(backend->name().size()), backend->name().data(),
                  summary.c_str());
    }
  }
  return 0;
}

}  // namespace

Command add_run(CLI::App& tool) {
  CLI::App* app = tool.add_subcommand(
      "run",
      "run a scenario file (docs/scenarios.md), print what each operation issued, check "
      "its expectations");
  auto a = std::make_shared<Arguments>();
  add_backend_options(*app, a->backend);
  app->add_flag("--trace", a->trace, "print every operation issued, not only the counts");
  app->add_flag("--quiet", a->quiet, "print only failures");
  app->add_option("FILE", a->path, "the scenario")->required();
  return {app, [a] { return run(*a); }};
}

}  // namespace s2pt::tool
