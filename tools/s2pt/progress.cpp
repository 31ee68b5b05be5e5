#include "progress.hpp"

#include <unistd.h>

namespace s2pt::tool {

ProgressLine::ProgressLine(std::FILE* out, Mode mode)
    : out_(out),
      enabled_(mode == Mode::always ||
               (mode == Mode::automatic && out != nullptr && isatty(fileno(out)) == 1)) {}

ProgressLine::~ProgressLine() {
  finish();
}

std::string ProgressLine::render(std::string_view label, std::uint64_t done, std::uint64_t total,
                                 std::string_view note) {
  char buf[96];
  if (total != 0) {
    const double pct = 100.0 * static_cast<double>(done) / static_cast<double>(total);
    std::snprintf(buf, sizeof buf, ": %llu/%llu (%.0f%%)", static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(total), pct);
  } else {
    std::snprintf(buf, sizeof buf, ": %llu", static_cast<unsigned long long>(done));
  }
  std::string line(label);
  line += buf;
  if (!note.empty()) {
    line += ' ';
    line += note;
  }
  return line;
}

void ProgressLine::update(std::string_view label, std::uint64_t done, std::uint64_t total,
                          std::string_view note) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && done != total && now - last_ < interval) return;
  last_ = now;
  // \r back to column 0, the text, then ESC[K to erase what a longer previous line left.
  std::fprintf(out_, "\r%s\x1b[K", render(label, done, total, note).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressLine::finish() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(out_, "\r\x1b[K");
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace s2pt::tool
