#include "scenarios/scenario.hpp"

namespace el2 {

bool scenario_boot();
bool scenario_geometry();
bool scenario_unmap();

namespace {
const Scenario kScenarios[] = {
    {"boot", "EL2 entry, MMU, every CPU enters the guest", scenario_boot},
    {"geometry", "every granule x IPA size: ends, blocks, root seams, exact fault IPAs",
     scenario_geometry},
    {"unmap", "every strategy x FWB x range TLBI: no access survives unmap on any CPU",
     scenario_unmap},
};
}  // namespace

ScenarioList scenarios() { return {kScenarios, kScenarios + sizeof kScenarios / sizeof kScenarios[0]}; }

}  // namespace el2
