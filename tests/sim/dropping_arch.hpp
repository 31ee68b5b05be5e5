// A test-only Arch in front of another (the model's) that drops the instructions a test asks it
// to: the broken variants the oracles must catch.
#pragma once

#include "s2pt/arch.hpp"

namespace s2pt::sim::test {

class DroppingArch final : public SteppingArch {
 public:
  explicit DroppingArch(SteppingArch& inner) : inner_(inner) {}
  bool drop_tlbi_ipa = false;  // IPAS2(L)E1IS and RIPAS2(L)E1IS
  bool drop_vmalle1is = false;
  bool drop_vmalls12e1is = false;
  bool drop_dsb_ish = false;
  bool drop_dc_civac = false;
  bool drop_ic_ivau = false;
  // By-IPA TLBIs carry a TTL that names the 4K granule, whatever the table's.
  bool ttl_names_4k = false;
  // TLBIs run with the table's VMID over another root (a backend that borrows only the VMID).
  bool borrow_vmid_only = false;

  Features features() const override { return inner_.features(); }
  void tlbi(const Stage2Context& context, TlbiOp op, u64 operand) override {
    // The broadcast forms only, as the flags say: this CPU's own invalidations (IPAS2E1, VMALLE1)
    // go through, so a fault path's local invalidation still lets its vCPU make progress.
    const bool by_ipa = !is_local(op) && op != TlbiOp::vmalle1is && op != TlbiOp::vmalls12e1is;
    if ((drop_tlbi_ipa && by_ipa) || (drop_vmalle1is && op == TlbiOp::vmalle1is) ||
        (drop_vmalls12e1is && op == TlbiOp::vmalls12e1is)) {
      return;
    }
    if (ttl_names_4k && is_by_ipa(op)) {
      constexpr u64 kTtlGranule = u64{3} << (tlbi::kTtlShift + 2);
      if (operand & kTtlGranule)
        operand = (operand & ~kTtlGranule) | (u64{1} << (tlbi::kTtlShift + 2));
    }
    if (borrow_vmid_only) {
      constexpr Pa kOtherRoot{0x7FFF'F000};
      inner_.tlbi(Stage2Context::of(kOtherRoot, context.vmid()), op, operand);
      return;
    }
    inner_.tlbi(context, op, operand);
  }
  void dsb_ishst() override { inner_.dsb_ishst(); }
  void dsb_ish() override {
    if (!drop_dsb_ish) inner_.dsb_ish();
  }
  void isb() override { inner_.isb(); }
  void dc_civac(Pa pa, u64 bytes) override {
    if (!drop_dc_civac) inner_.dc_civac(pa, bytes);
  }
  void ic_ivau(Pa pa, u64 bytes) override {
    if (!drop_ic_ivau) inner_.ic_ivau(pa, bytes);
  }
  void ic_ialluis() override {
    if (!drop_ic_ivau) inner_.ic_ialluis();
  }

 private:
  SteppingArch& inner_;
};

}  // namespace s2pt::sim::test
