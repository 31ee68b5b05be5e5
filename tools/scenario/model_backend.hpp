// The hardware model of sim/ as a scenario backend: the table's maintenance runs on modelled
// CPUs whose guests use the table while it changes, and every step is judged by the model's
// oracles. One thread drives everything, so a seed replays a run exactly.
//
// Each `table` line gets a fresh machine with that line's features, its VMID attached to every
// CPU. Around each step:
//  - before: every CPU caches what it can of the step's range, so that whatever the step fails
//    to invalidate is still cached when it returns;
//  - during: at every maintenance instruction guests access and prefetch at random, mostly in
//    the step's range (break-before-make and completion are judged then);
//  - after: the oracles (nothing stale cached on any CPU, every TLBI and CMO complete, table
//    pages counted right, no dirty line on a page no longer mapped, no freed page touched), then
//    every CPU accesses sample IPAs of the range and must see what Table::lookup reports.
#pragma once

#include <functional>
#include <memory>

#include "s2pt/sim/machine.hpp"
#include "s2pt/sim/sim_arch.hpp"
#include "s2pt/sim/sim_mm.hpp"
#include "scenario/backend.hpp"

namespace s2pt::scenario {

struct ModelOptions {
  unsigned cpus = 4;
  u64 seed = 1;
  bool trace = false;
  u64 arena_bytes = u64{1} << 30;  // table memory (a multiple of 1 MiB)
  // For tests: puts an Arch between the table and the machine (to break it on purpose).
  std::function<SteppingArch&(SteppingArch& machine_arch)> interpose = {};
};

class ModelBackend final : public Backend {
 public:
  explicit ModelBackend(const ModelOptions& options);
  ~ModelBackend() override;

  std::string_view name() const override { return "model"; }
  Mm& mm() override { return mm_; }
  u64 table_bytes_in_use() const override { return mm_.live_bytes(); }
  void fail_allocations_after(std::optional<u64> n) override;

  Arch& arch_for(const Features& features) override;
  void table_created(const Table& table) override;
  void table_stopping(const Table& table) override;
  void before_step(const Table& table, IpaRange focus, std::string_view what) override;
  StepFindings after_step(const Table& table, IpaRange focus) override;
  std::vector<std::string> take_trace(Granule granule, bool ds) override;
  std::string summary() const override;

  sim::Machine& machine() { return *machine_; }

 private:
  class TracingArch;
  IpaRange clip(const Table& table, IpaRange focus) const;
  void check_against_lookup(const Table& table, IpaRange range, StepFindings& findings);

  ModelOptions options_;
  sim::SimMm mm_;
  std::unique_ptr<sim::Machine> machine_;
  std::unique_ptr<sim::SimArch> sim_arch_;
  std::unique_ptr<TracingArch> arch_;
  IpaRange window_;  // every range the scenario touched on this table, as one span
  double modeled_ns_before_ = 0;
  u64 accesses_ = 0;  // by earlier machines
  u64 translated_ = 0;
  u64 sample_seed_ = 0;
};

}  // namespace s2pt::scenario
