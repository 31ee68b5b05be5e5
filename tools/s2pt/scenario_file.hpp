// Loading a scenario for the run and dump subcommands: read, parse, report errors as
// FILE:LINE:COL, and pick the backend.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "scenario/backend.hpp"
#include "scenario/scenario.hpp"

namespace s2pt::tool {

// The parsed scenario, or nullopt after printing why not to stderr.
std::optional<scenario::Scenario> load_scenario(const std::string& path, std::string_view command);
std::optional<scenario::Scenario> parse_scenario(std::string_view text, const std::string& path);

// The backend options run and dump share: --backend NAME, and for the model --cpus N, --seed S.
struct BackendArgs {
  std::string name = "counting";
  unsigned cpus = 4;
  u64 seed = 1;
  CLI::Option* cpus_option = nullptr;
  CLI::Option* seed_option = nullptr;
};
void add_backend_options(CLI::App& app, BackendArgs& args);

// The backend the options name, or nullptr after printing why not to stderr.
std::unique_ptr<scenario::Backend> open_backend(const BackendArgs& args, bool trace,
                                                std::string_view command);

}  // namespace s2pt::tool
