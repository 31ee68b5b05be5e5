// Loading a scenario for the run and dump subcommands: read, parse, report errors as
// FILE:LINE:COL, and pick the backend.
#pragma once

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

// The backend named on the command line, or nullptr after printing why not to stderr.
std::unique_ptr<scenario::Backend> open_backend(std::string_view name, bool trace,
                                                std::string_view command);

}  // namespace s2pt::tool
