#include "scenarios/scenario.hpp"

namespace el2 {

bool scenario_boot();

namespace {
const Scenario kScenarios[] = {
    {"boot", "EL2 entry, MMU, every CPU enters the guest", scenario_boot},
};
}  // namespace

ScenarioList scenarios() { return {kScenarios, kScenarios + sizeof kScenarios / sizeof kScenarios[0]}; }

}  // namespace el2
