#include "scenarios/scenario.hpp"

namespace el2 {

bool scenario_boot();
bool scenario_geometry();
bool scenario_unmap();
bool scenario_permissions();
bool scenario_access_flag();
bool scenario_demand();
bool scenario_split();
bool scenario_s1walk();
bool scenario_vhe_host();
bool scenario_dirty();
bool scenario_hafdbs();

namespace {
const Scenario kScenarios[] = {
    {"boot", "EL2 entry, MMU, every CPU enters the guest", scenario_boot},
    {"geometry", "every granule x IPA size: ends, blocks, root seams, exact fault IPAs",
     scenario_geometry},
    {"unmap", "every strategy x FWB x range TLBI: no access survives unmap on any CPU",
     scenario_unmap},
    {"permissions", "write-protect faults stores on every CPU, loads work, relax restores",
     scenario_permissions},
    {"access-flag", "AF clear takes an access-flag fault; mkyoung fixes it", scenario_access_flag},
    {"demand", "pages mapped by the EL2 fault handler, concurrent faults from all CPUs",
     scenario_demand},
    {"split", "block split and collapse (break-before-make) under guest reads", scenario_split},
    {"s1walk", "unmapping the guest's stage-1 tables: IPA/range TLBIs reach the walk cache",
     scenario_s1walk},
    {"dirty", "dirty logging: every store after a harvest is in a later one; control loses some",
     scenario_dirty},
    {"hafdbs", "what stage-2 hardware AF and dirty-state management (FEAT_HAFDBS) does here",
     scenario_hafdbs},
    {"vhe-host", "(with `vhe`) E2H+TGE host; an unmap that leaves TGE set is caught",
     scenario_vhe_host},
};
}  // namespace

ScenarioList scenarios() {
  return {kScenarios, kScenarios + sizeof kScenarios / sizeof kScenarios[0]};
}

}  // namespace el2
