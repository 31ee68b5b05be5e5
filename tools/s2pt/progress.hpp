// A one-line progress display for long runs (bench, stress): redrawn in place on a terminal,
// silent when the stream is not one (a pipe, a file, CI logs).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace s2pt::tool {

class ProgressLine {
 public:
  enum class Mode { automatic, always, never };

  // automatic: shown only if `out` is a terminal.
  explicit ProgressLine(std::FILE* out = stderr, Mode mode = Mode::automatic);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }

  // "label: done/total (pct%) note". Redraws at most every `interval`, and always when done ==
  // total, so a tight loop may call it on every step.
  void update(std::string_view label, std::uint64_t done, std::uint64_t total,
              std::string_view note = {});
  // Erases the line, leaving the cursor at the start of an empty line.
  void finish();

  // The text update() would draw, without terminal control characters.
  static std::string render(std::string_view label, std::uint64_t done, std::uint64_t total,
                            std::string_view note);

  std::chrono::milliseconds interval{100};

 private:
  std::FILE* out_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace s2pt::tool
