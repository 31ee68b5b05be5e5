// An Arch backend that executes nothing and records the exact sequence of maintenance
// operations, for tests that pin the sequence down and for the benchmark's counts.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "s2pt/arch.hpp"

namespace s2pt::counting {

enum class OpKind : u8 {
  tlbi,
  dsb_ishst,
  dsb_ish,
  dsb_nshst,
  dsb_nsh,
  isb,
  dc_civac,
  ic_ivau,
  ic_ialluis,
};

struct Op {
  OpKind kind;
  TlbiOp tlbi = TlbiOp::vmalle1is;  // kind == tlbi
  Vmid vmid{};                      // kind == tlbi
  u64 operand = 0;                  // kind == tlbi
  Pa pa{};                          // CMOs
  u64 bytes = 0;                    // CMOs

  bool operator==(const Op&) const = default;
};

// Readable form: "TLBI IPAS2E1IS ipa=0x40000000 ttl=L2", "DSB ISH", "DC CIVAC 0x... +0x1000".
// `ds`: the table's VTCR_EL2.DS (LPA2), which decides the unit of a range TLBI's base.
std::string describe(const Op& op, Granule granule, bool ds = false);

class CountingArch final : public SteppingArch {
 public:
  explicit CountingArch(Features features = {}, bool record = true)
      : features_(features), record_(record) {}

  Features features() const override { return features_; }
  void set_features(const Features& f) { features_ = f; }

  // A plan is stepped through only to record it: without a log there is nothing to do per
  // instruction (the core counts every plan itself, Table::stats()), as a backend that takes the
  // whole plan at once would do.
  void invalidate(const InvalidationPlan& plan) override {
    if (record_) SteppingArch::invalidate(plan);
  }

  void tlbi(const Stage2Context& context, TlbiOp op, u64 operand) override {
    push(Op{.kind = OpKind::tlbi, .tlbi = op, .vmid = context.vmid(), .operand = operand});
  }
  void dsb_ishst() override { push(Op{.kind = OpKind::dsb_ishst}); }
  void dsb_ish() override { push(Op{.kind = OpKind::dsb_ish}); }
  void dsb_nshst() override { push(Op{.kind = OpKind::dsb_nshst}); }
  void dsb_nsh() override { push(Op{.kind = OpKind::dsb_nsh}); }
  void isb() override { push(Op{.kind = OpKind::isb}); }
  void dc_civac(Pa pa, u64 bytes) override {
    push(Op{.kind = OpKind::dc_civac, .pa = pa, .bytes = bytes});
  }
  void ic_ivau(Pa pa, u64 bytes) override {
    push(Op{.kind = OpKind::ic_ivau, .pa = pa, .bytes = bytes});
  }
  void ic_ialluis() override { push(Op{.kind = OpKind::ic_ialluis}); }

  const std::vector<Op>& log() const { return log_; }
  void clear() { log_.clear(); }
  // The log as readable lines, one per operation.
  std::vector<std::string> lines(Granule granule, bool ds = false) const;

 private:
  // Several CPUs (threads) may issue maintenance at once: the log is one shared sequence. Without
  // a log the call returns before the operation is built: the benchmarks time the core, not this.
  [[gnu::always_inline]] void push(const Op& op) {
    if (record_) append(op);
  }
  [[gnu::noinline]] void append(const Op& op) {
    std::lock_guard lock(mutex_);
    log_.push_back(op);
  }

  Features features_;
  bool record_;
  std::vector<Op> log_;
  std::mutex mutex_;
};

}  // namespace s2pt::counting
