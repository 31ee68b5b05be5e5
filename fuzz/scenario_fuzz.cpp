// libFuzzer target: any byte string goes through the scenario parser; the small scenarios it
// accepts are run against the counting backend. Crashes, sanitizer reports and leaked table pages
// are bugs; failed expectations and refused operations are not.
#include <cstddef>
#include <cstdint>
#include <string_view>

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
  s2pt::scenario::CountingBackend backend(false);
  const s2pt::scenario::RunResult result = s2pt::scenario::run(parsed.scenario, backend);
  if (result.failure && result.failure->leak) __builtin_trap();
  return 0;
}
