// The progress line: silent off a terminal, redrawn in place when forced on.
#include "progress.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace s2pt::tool {
namespace {

std::string written(ProgressLine::Mode mode) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  {
    ProgressLine progress(out, mode);
    progress.interval = std::chrono::milliseconds(0);
    progress.update("unmap", 1, 4, "per_entry");
    progress.update("unmap", 4, 4);
  }
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

TEST(ProgressLine, QuietWhenNotATerminal) {
  EXPECT_EQ(written(ProgressLine::Mode::automatic), "");  // a memory stream is no terminal
  EXPECT_EQ(written(ProgressLine::Mode::never), "");
}

TEST(ProgressLine, RedrawsInPlaceAndErasesAtTheEnd) {
  EXPECT_EQ(written(ProgressLine::Mode::always),
            "\runmap: 1/4 (25%) per_entry\x1b[K\runmap: 4/4 (100%)\x1b[K\r\x1b[K");
}

TEST(ProgressLine, RateLimitsButAlwaysDrawsTheEnd) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  {
    ProgressLine progress(out, ProgressLine::Mode::always);
    progress.interval = std::chrono::hours(1);
    for (int i = 1; i <= 1000; ++i)
      progress.update("x", static_cast<std::uint64_t>(i), 1000);
  }
  std::fclose(out);
  const std::string text(buffer, size);
  std::free(buffer);
  EXPECT_EQ(text, "\rx: 1/1000 (0%)\x1b[K\rx: 1000/1000 (100%)\x1b[K\r\x1b[K");
}

TEST(ProgressLine, RendersWithoutTotal) {
  EXPECT_EQ(ProgressLine::render("ops", 42, 0, "seed 7"), "ops: 42 seed 7");
}

}  // namespace
}  // namespace s2pt::tool
