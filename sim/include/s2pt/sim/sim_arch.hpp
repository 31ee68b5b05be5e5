// The `sim` Arch backend: the core's maintenance instructions executed by a modelled CPU. Every
// Arch method acts on the calling CPU, so each host thread names the modelled CPU it plays
// (CPU 0 unless bound otherwise).
#pragma once

#include "s2pt/arch.hpp"
#include "s2pt/sim/machine.hpp"

namespace s2pt::sim {

class SimArch final : public SteppingArch {
 public:
  explicit SimArch(Machine& machine) : machine_(machine) {}

  Features features() const override { return machine_.config().features; }
  void tlbi(const Stage2Context& context, TlbiOp op, u64 operand) override;
  void dsb_ishst() override;
  void dsb_ish() override;
  void dsb_nshst() override;
  void dsb_nsh() override;
  void isb() override;
  void dc_civac(Pa pa, u64 bytes) override;
  void ic_ivau(Pa pa, u64 bytes) override;
  void ic_ialluis() override;

  Machine& machine() { return machine_; }

  // The modelled CPU the calling host thread is.
  static unsigned current_cpu();
  // Makes the calling thread CPU `cpu` until destroyed.
  class Binding {
   public:
    explicit Binding(unsigned cpu);
    ~Binding();
    Binding(const Binding&) = delete;
    Binding& operator=(const Binding&) = delete;

   private:
    unsigned previous_;
  };

 private:
  Machine& machine_;
};

}  // namespace s2pt::sim
