// libFuzzer target: any byte string goes through the scenario parser; the small scenarios it
// accepts are run against the counting backend, then on the hardware model. Crashes, sanitizer
// reports, leaked table pages and anything the model's oracles or guests find are bugs; failed
// expectations and refused operations are not.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "scenario/model_backend.hpp"
#include "scenario/runner.hpp"

namespace {

// Keeps each input fast: a few dozen operations over at most a few MiB.
bool small_enough(const s2pt::scenario::Scenario& scenario) {
  constexpr std::size_t kMaxSteps = 64;
  constexpr s2pt::u64 kMaxRange = s2pt::u64{16} << 20;
  if (scenario.steps.size() > kMaxSteps) return false;
  for (const s2pt::scenario::Step& step : scenario.steps) {
    if (step.range.size > kMaxRange) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const s2pt::scenario::ParseResult parsed = s2pt::scenario::parse(text);
  if (!parsed.ok() || !small_enough(parsed.scenario)) return 0;
  s2pt::scenario::CountingBackend counting(false);
  const s2pt::scenario::RunResult counted = s2pt::scenario::run(parsed.scenario, counting);
  if (counted.failure && counted.failure->is_bug()) __builtin_trap();
  s2pt::scenario::ModelBackend model(
      s2pt::scenario::ModelOptions{.cpus = 2, .seed = size, .arena_bytes = s2pt::u64{64} << 20});
  const s2pt::scenario::RunResult modelled = s2pt::scenario::run(parsed.scenario, model);
  if (modelled.failure && modelled.failure->is_bug()) {
    std::fprintf(stderr, "line %u: %s\n", modelled.failure->line,
                 modelled.failure->message.c_str());
    __builtin_trap();
  }
  return 0;
}
