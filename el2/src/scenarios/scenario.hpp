// The scenario registry: each scenario is a function that prints its checks and returns whether
// all of them passed.
#pragma once

namespace el2 {

struct Scenario {
  const char* name;
  const char* what;
  bool (*run)();
};

struct ScenarioList {
  const Scenario* first;
  const Scenario* last;
  const Scenario* begin() const { return first; }
  const Scenario* end() const { return last; }
};
ScenarioList scenarios();

}  // namespace el2
