// s2pt run FILE: executes a scenario, printing what each operation issued; exits 1 at the first
// failed expectation (FILE:LINE: ...), 2 on a malformed file or bad usage.
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

#include "command.hpp"
#include "scenario/runner.hpp"
#include "scenario_file.hpp"

namespace s2pt::tool {
namespace {

void run_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: s2pt run [--backend counting|model] [--cpus N] [--seed S] [--trace] "
               "[--quiet] FILE\n"
               "%s"
               "  --trace    print every operation issued, not only the counts\n"
               "  --quiet    print only failures\n"
               "The format is described in docs/scenarios.md.\n",
               kBackendUsage);
}

}  // namespace

int run_main(std::span<char* const> args) {
  BackendArgs backend_args;
  bool trace = false;
  bool quiet = false;
  std::string path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--trace") {
      trace = true;
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (take_backend_arg(args, i, backend_args)) {
    } else if (arg == "--help" || arg == "-h") {
      run_usage(stdout);
      return 0;
    } else if (!arg.empty() && arg[0] != '-' && path.empty()) {
      path = arg;
    } else {
      std::fprintf(stderr, "s2pt run: unexpected argument '%s'\n", args[i]);
      run_usage(stderr);
      return 2;
    }
  }
  if (path.empty()) {
    run_usage(stderr);
    return 2;
  }
  std::unique_ptr<scenario::Backend> backend = open_backend(backend_args, trace && !quiet, "run");
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

}  // namespace s2pt::tool
