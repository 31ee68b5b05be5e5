// Loading a scenario for the run and dump subcommands: read, parse, report errors as
// FILE:LINE:COL, and pick the backend.
#pragma once

#include <memory>
#include <optional>
#include <span>
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
  std::string_view name = "counting";
  std::optional<u64> cpus;
  std::optional<u64> seed;
  const char* error = nullptr;  // set when an option was recognised but its value is bad
};
// Consumes args[i] (and its value) if it is one of the backend options; false otherwise.
bool take_backend_arg(std::span<char* const> args, std::size_t& i, BackendArgs& out);
inline constexpr const char* kBackendUsage =
    "  --backend  counting (default: records the maintenance) or model (the hardware model of\n"
    "             sim/: guests on every CPU use the table during each step, the oracles judge it)\n"
    "  --cpus N   model: CPUs, 1 to 64 (default 4)\n"
    "  --seed S   model: seed of the guests' accesses (default 1); a seed replays a run\n";

// The backend the options name, or nullptr after printing why not to stderr.
std::unique_ptr<scenario::Backend> open_backend(const BackendArgs& args, bool trace,
                                                std::string_view command);

}  // namespace s2pt::tool
