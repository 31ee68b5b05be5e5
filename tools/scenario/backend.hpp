// Where a scenario runs. A backend owns the memory table pages come from and the Arch that
// executes the maintenance; the hardware model also runs guests around every step and checks its
// oracles after it (model_backend.hpp).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s2pt/arch.hpp"
#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/table.hpp"

namespace s2pt::scenario {

// What a backend found wrong with one step, beyond the scenario's own expectations.
struct StepFindings {
  std::vector<std::string> problems;  // empty: nothing wrong
  std::string note;                   // for the step's report line (may be empty)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // Table memory: one Mm for the whole run, so what one table leaks the next `table` line sees.
  virtual Mm& mm() = 0;
  virtual u64 table_bytes_in_use() const = 0;
  // Allocation number n (0: the next) and every later one fail; nullopt: none fails.
  virtual void fail_allocations_after(std::optional<u64> n) = 0;

  // The Arch for a new table on a CPU with `features`. Called again for each `table` line, after
  // the previous table was destroyed; the Arch returned before is then no longer used.
  virtual Arch& arch_for(const Features& features) = 0;
  // The table `arch_for` was for now exists: guests may run on it.
  virtual void table_created(const Table& /*table*/) {}
  // The guests stop running on the table (before its pages are freed).
  virtual void table_stopping(const Table& /*table*/) {}

  // Around every operation on a table: `focus` is the IPA range it works on (empty: all of the
  // table), `what` the scenario's line.
  virtual void before_step(const Table& /*table*/, IpaRange /*focus*/, std::string_view /*what*/) {}
  virtual StepFindings after_step(const Table& /*table*/, IpaRange /*focus*/) { return {}; }

  // The operations issued since the last call, one readable line each (empty when the backend
  // was not asked to trace).
  virtual std::vector<std::string> take_trace(Granule granule, bool ds) = 0;
  // One line on the whole run, printed once it passed (may be empty).
  virtual std::string summary() const { return {}; }
};

// Maintenance is recorded, not executed; table pages come from a hosted page pool.
class CountingBackend final : public Backend {
 public:
  explicit CountingBackend(bool trace) : trace_(trace) {}
  std::string_view name() const override { return "counting"; }

  Mm& mm() override { return pool_; }
  u64 table_bytes_in_use() const override { return pool_.bytes_in_use(); }
  void fail_allocations_after(std::optional<u64> n) override {
    if (n) {
      pool_.fail_after(*n);
    } else {
      pool_.never_fail();
    }
  }

  Arch& arch_for(const Features& features) override {
    arch_ = std::make_unique<counting::CountingArch>(features, trace_);
    return *arch_;
  }
  std::vector<std::string> take_trace(Granule granule, bool ds) override {
    if (!arch_) return {};
    std::vector<std::string> lines = arch_->lines(granule, ds);
    arch_->clear();
    return lines;
  }

 private:
  bool trace_;
  hosted::PagePool pool_;
  std::unique_ptr<counting::CountingArch> arch_;
};

enum class BackendKind : u8 { counting, model };
std::optional<BackendKind> parse_backend(std::string_view word);

}  // namespace s2pt::scenario
