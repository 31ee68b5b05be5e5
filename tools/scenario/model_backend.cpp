#include "scenario/model_backend.hpp"

#include <algorithm>
#include <cstdio>

#include "s2pt/sim/rng.hpp"

namespace s2pt::scenario {
namespace {

// Enough walks to fill a CPU's TLB from the head of a range and a little of its tail; more only
// slows large scenarios down without caching anything the TLB could keep.
constexpr u64 kPrefetchWalks = 2048;
constexpr u64 kTailBytes = u64{1} << 20;
// IPAs of the step's range every CPU reads and writes after it.
constexpr unsigned kRandomSamples = 6;

std::string hex(u64 v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string nanoseconds(double ns) {
  char buf[32];
  if (ns < 1e3) {
    std::snprintf(buf, sizeof buf, "%.0fns", ns);
  } else if (ns < 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fus", ns / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fms", ns / 1e6);
  }
  return buf;
}

// Why a guest's access disagrees with what the table says of its IPA, or nothing. The hardware
// may be stricter than the table (a TLB may keep an older entry with fewer permissions, or with
// the access flag set, until the guest's fault is handled) but never looser, and when it
// translates it must reach the table's PA.
std::optional<std::string> disagreement(const Result<Translation>& table, const sim::Access& hw) {
  using sim::AccessResult;
  if (hw.result == AccessResult::walk_aborted) return "the walk met a freed table page";
  if (!table.ok()) {
    if (hw.result == AccessResult::translation_fault) return std::nullopt;
    if (hw.result == AccessResult::ok) {
      return "still translates (to PA " + hex(hw.pa.raw) + ") although the table maps nothing";
    }
    return std::string("gets a ") + sim::name(hw.result) + " although the table maps nothing";
  }
  const Translation& m = table.value();
  switch (hw.result) {
    case AccessResult::ok:
      if (hw.pa != m.pa) {
        return "reaches PA " + hex(hw.pa.raw) + ", the table maps PA " + hex(m.pa.raw);
      }
      if (!has(m.attrs.perm, hw.write ? Perm::write : Perm::read)) {
        return "is allowed although the table denies it";
      }
      return std::nullopt;
    case AccessResult::translation_fault:
      return "gets a translation fault although the table maps PA " + hex(m.pa.raw);
    case AccessResult::access_flag_fault:
      if (m.attrs.af) return "gets an access flag fault although the table's AF is set";
      return std::nullopt;
    case AccessResult::permission_fault:
    case AccessResult::walk_aborted:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

// What the table issues goes to the machine, and is recorded for --trace on the way.
class ModelBackend::TracingArch final : public SteppingArch {
 public:
  TracingArch(SteppingArch& machine, const Features& features, bool trace)
      : machine_(machine), recorder_(features, trace) {}

  Features features() const override { return machine_.features(); }
  void tlbi(const Stage2Context& context, TlbiOp op, u64 operand) override {
    recorder_.tlbi(context, op, operand);
    machine_.tlbi(context, op, operand);
  }
  void dsb_ishst() override {
    recorder_.dsb_ishst();
    machine_.dsb_ishst();
  }
  void dsb_ish() override {
    recorder_.dsb_ish();
    machine_.dsb_ish();
  }
  void dsb_nshst() override {
    recorder_.dsb_nshst();
    machine_.dsb_nshst();
  }
  void dsb_nsh() override {
    recorder_.dsb_nsh();
    machine_.dsb_nsh();
  }
  void isb() override {
    recorder_.isb();
    machine_.isb();
  }
  void dc_civac(Pa pa, u64 bytes) override {
    recorder_.dc_civac(pa, bytes);
    machine_.dc_civac(pa, bytes);
  }
  void ic_ivau(Pa pa, u64 bytes) override {
    recorder_.ic_ivau(pa, bytes);
    machine_.ic_ivau(pa, bytes);
  }
  void ic_ialluis() override {
    recorder_.ic_ialluis();
    machine_.ic_ialluis();
  }

  std::vector<std::string> take_lines(Granule granule, bool ds) {
    std::vector<std::string> lines = recorder_.lines(granule, ds);
    recorder_.clear();
    return lines;
  }

 private:
  SteppingArch& machine_;
  counting::CountingArch recorder_;
};

ModelBackend::ModelBackend(const ModelOptions& options)
    : options_(options), mm_(options.arena_bytes), sample_seed_(options.seed ^ 0x5A3Dull) {
  if (options_.cpus == 0) options_.cpus = 1;
}

ModelBackend::~ModelBackend() = default;

void ModelBackend::fail_allocations_after(std::optional<u64> n) {
  if (n) {
    mm_.fail_after(*n);
  } else {
    mm_.never_fail();
  }
}

Arch& ModelBackend::arch_for(const Features& features) {
  if (machine_) {
    const sim::Machine::AccessCounts counts = machine_->access_counts();
    accesses_ += counts.total;
    translated_ += counts.ok;
    arch_.reset();
    sim_arch_.reset();
    machine_.reset();
    // No machine is left to walk the quarantined pages.
    mm_.release_quarantine();
  }
  sim::MachineConfig config;
  config.cpus = options_.cpus;
  config.seed = options_.seed;
  config.features = features;
  machine_ = std::make_unique<sim::Machine>(config, mm_);
  sim_arch_ = std::make_unique<sim::SimArch>(*machine_);
  SteppingArch& below = options_.interpose ? options_.interpose(*sim_arch_) : *sim_arch_;
  arch_ = std::make_unique<TracingArch>(below, features, options_.trace);
  window_ = IpaRange{};
  return *arch_;
}

void ModelBackend::table_created(const Table& table) {
  machine_->attach(table);
}

void ModelBackend::table_stopping(const Table& table) {
  // The VM's vCPUs are stopped for good before its table pages are freed.
  machine_->set_stepping(sim::Stepping{});
  machine_->detach(table.vmid());
}

IpaRange ModelBackend::clip(const Table& table, IpaRange focus) const {
  const u64 limit = u64{1} << table.geometry().ipa_bits();
  if (focus.start.raw >= limit) return IpaRange{};
  return IpaRange{focus.start, std::min(focus.size, limit - focus.start.raw)};
}

void ModelBackend::before_step(const Table& table, IpaRange focus, std::string_view what) {
  focus = clip(table, focus);
  if (focus.size == 0) {
    focus = window_;
  } else if (window_.size == 0) {
    window_ = focus;
  } else {
    const Ipa start = std::min(window_.start, focus.start);
    const Ipa end = std::max(window_.end(), focus.end());
    window_ = IpaRange{start, end - start};
  }
  sim::Machine& m = *machine_;
  if (!table.destroyed()) {
    m.set_stepping(sim::Stepping{.enabled = true,
                                 .vmid = table.vmid(),
                                 .window = window_,
                                 .accesses_per_step = 2,
                                 .prefetches_per_step = 2});
    m.set_focus(focus);
    for (unsigned cpu = 0; cpu < m.cpus(); ++cpu) {
      m.prefetch_all(cpu, table.vmid(), focus, kPrefetchWalks);
      if (focus.size > kTailBytes) {
        m.prefetch_all(cpu, table.vmid(), IpaRange{focus.end() - kTailBytes, kTailBytes},
                       kPrefetchWalks);
      }
    }
  }
  modeled_ns_before_ = m.modeled_ns();
  m.begin_op(std::string(what));
}

StepFindings ModelBackend::after_step(const Table& table, IpaRange focus) {
  StepFindings findings;
  sim::Machine& m = *machine_;
  focus = clip(table, focus);
  if (focus.size == 0) focus = window_;
  if (!table.destroyed() && focus.size != 0) check_against_lookup(table, focus, findings);
  const std::vector<sim::Violation> found = m.end_op();
  for (const sim::Violation& v : found)
    findings.problems.push_back(v.describe());
  // Freed table pages stay poisoned in quarantine until they fill a quarter of the arena, and
  // go back only at a clean return: then no cache or walk is known to reach them.
  if (found.empty() && mm_.quarantined_bytes() > options_.arena_bytes / 4) {
    mm_.release_quarantine();
  }
  findings.note = "modelled " + nanoseconds(m.modeled_ns() - modeled_ns_before_);
  return findings;
}

// The guests' view against the table's: the range's first and last bytes and a few random
// IPAs, read and written by every CPU.
void ModelBackend::check_against_lookup(const Table& table, IpaRange range,
                                        StepFindings& findings) {
  sim::Rng rng(sample_seed_++);
  std::vector<Ipa> samples{range.start, range.end() - 8};
  for (unsigned i = 0; i < kRandomSamples; ++i)
    samples.push_back(range.start + (rng.below(range.size) & ~u64{7}));
  for (const Ipa ipa : samples) {
    const Result<Translation> view = table.lookup(ipa);
    if (!view.ok() && view.status() != Status::not_mapped) continue;
    for (unsigned cpu = 0; cpu < machine_->cpus(); ++cpu) {
      for (const bool write : {false, true}) {
        const sim::Access a = machine_->access(cpu, table.vmid(), ipa, write);
        if (const std::optional<std::string> why = disagreement(view, a)) {
          findings.problems.push_back("CPU " + std::to_string(cpu) + (write ? " write" : " read") +
                                      " at IPA " + hex(ipa.raw) + " " + *why);
        }
      }
    }
  }
}

std::vector<std::string> ModelBackend::take_trace(Granule granule, bool ds) {
  return arch_ ? arch_->take_lines(granule, ds) : std::vector<std::string>{};
}

std::string ModelBackend::summary() const {
  u64 accesses = accesses_;
  u64 translated = translated_;
  if (machine_) {
    const sim::Machine::AccessCounts counts = machine_->access_counts();
    accesses += counts.total;
    translated += counts.ok;
  }
  return std::to_string(options_.cpus) + " CPUs, seed " + std::to_string(options_.seed) + ", " +
         std::to_string(accesses) + " guest accesses (" + std::to_string(translated) +
         " translated), every oracle clean";
}

}  // namespace s2pt::scenario
