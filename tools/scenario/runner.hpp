// Runs a parsed scenario against a backend: executes each step, checks its expectations, and
// tears the table down at the end checking that no table page leaked.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include "scenario/backend.hpp"
#include "scenario/scenario.hpp"

namespace s2pt::scenario {

struct RunOptions {
  // Where each step's report goes (what it issued); nullptr for none.
  std::FILE* out = nullptr;
  // Print each maintenance operation, not only the counts (the backend must trace).
  bool trace = false;
  // Called with the live table after the last step, before the teardown.
  std::function<void(Table&)> inspect_final = {};
};

struct Failure {
  enum class Cause : u8 {
    expectation,  // the scenario's own expectation (or an unexpected error) failed
    leak,         // table pages left allocated after a destroy
    backend,      // the backend found a problem (the model's oracles, its guests)
  };
  u32 line = 0;  // 0: not tied to a line (the final leak check)
  std::string message;
  Cause cause = Cause::expectation;
  // A leak or a backend's finding is a bug in the core (or the model), whatever the scenario.
  bool is_bug() const { return cause != Cause::expectation; }
};

struct RunResult {
  std::optional<Failure> failure;  // the first one; the run stops there
  u32 steps_run = 0;
  bool passed() const { return !failure.has_value(); }
};

RunResult run(const Scenario& scenario, Backend& backend, const RunOptions& options = {});

}  // namespace s2pt::scenario
