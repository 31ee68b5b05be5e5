// Where a scenario's maintenance operations go. The counting backend records them; the hardware
// model (sim/) will be another backend once it exists.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s2pt/arch.hpp"
#include "s2pt/arch/counting.hpp"

namespace s2pt::scenario {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // The Arch for a new table on a CPU with `features`. Called again for each `table` line, after
  // the previous table was destroyed; the Arch returned before is then no longer used.
  virtual Arch& arch_for(const Features& features) = 0;
  // The operations issued since the last call, one readable line each (empty when the backend
  // was not asked to trace).
  virtual std::vector<std::string> take_trace(Granule granule) = 0;
};

class CountingBackend final : public Backend {
 public:
  explicit CountingBackend(bool trace) : trace_(trace) {}
  std::string_view name() const override { return "counting"; }
  Arch& arch_for(const Features& features) override {
    arch_ = std::make_unique<counting::CountingArch>(features, trace_);
    return *arch_;
  }
  std::vector<std::string> take_trace(Granule granule) override {
    if (!arch_) return {};
    std::vector<std::string> lines = arch_->lines(granule);
    arch_->clear();
    return lines;
  }

 private:
  bool trace_;
  std::unique_ptr<counting::CountingArch> arch_;
};

enum class BackendKind : u8 { counting, model };
std::optional<BackendKind> parse_backend(std::string_view word);
// The backend, or nullptr when it is not built into this tool (model: until sim/ lands).
std::unique_ptr<Backend> make_backend(BackendKind kind, bool trace);

}  // namespace s2pt::scenario
