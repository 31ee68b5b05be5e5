#include "s2pt/sim/sim_arch.hpp"

namespace s2pt::sim {
namespace {
thread_local unsigned current = 0;
}  // namespace

unsigned SimArch::current_cpu() {
  return current;
}

SimArch::Binding::Binding(unsigned cpu) : previous_(current) {
  current = cpu;
}
SimArch::Binding::~Binding() {
  current = previous_;
}

void SimArch::tlbi(const Stage2Context& context, TlbiOp op, u64 operand) {
  machine_.tlbi(current, context, op, operand);
}
void SimArch::dsb_ishst() {
  machine_.dsb_ishst(current);
}
void SimArch::dsb_ish() {
  machine_.dsb_ish(current);
}
void SimArch::dsb_nshst() {
  machine_.dsb_nshst(current);
}
void SimArch::dsb_nsh() {
  machine_.dsb_nsh(current);
}
void SimArch::isb() {
  machine_.isb(current);
}
void SimArch::dc_civac(Pa pa, u64 bytes) {
  machine_.dc_civac(current, pa, bytes);
}
void SimArch::ic_ialluis() {
  machine_.ic_ialluis(current);
}
void SimArch::ic_ivau(Pa pa, u64 bytes) {
  machine_.ic_ivau(current, pa, bytes);
}

}  // namespace s2pt::sim
