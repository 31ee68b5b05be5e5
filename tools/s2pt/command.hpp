// The s2pt tool's subcommands: each lives in its own file and registers its options on the
// tool's CLI11 application.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace s2pt::tool {

// A registered subcommand. `run` is called once the whole command line parsed and returns the
// process exit status: 0 success, 1 a failed check, 2 bad usage.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_demo(CLI::App& tool);
Command add_bench(CLI::App& tool);
Command add_run(CLI::App& tool);
Command add_dump(CLI::App& tool);
Command add_stress(CLI::App& tool);
Command add_dirty_log(CLI::App& tool);

}  // namespace s2pt::tool
