// Smoke test of the harness itself: every CPU can enter its guest and come back.
#include "platform.hpp"
#include "smp.hpp"
#include "vcpu.hpp"

namespace el2 {

bool scenario_boot() {
  say() << "boot ok\n";
  return true;
}

}  // namespace el2
