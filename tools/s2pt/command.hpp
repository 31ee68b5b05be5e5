// The s2pt tool's subcommands: each lives in its own file and registers here.
#pragma once

#include <span>
#include <string_view>

namespace s2pt::tool {

// argv after the subcommand name. Returns the process exit code: 0 success, 1 a failed check,
// 2 bad usage.
using CommandMain = int (*)(std::span<char* const> args);

struct Command {
  std::string_view name;
  std::string_view summary;
  CommandMain run;
};

int demo_main(std::span<char* const> args);
int stress_main(std::span<char* const> args);
int bench_main(std::span<char* const> args);
int run_main(std::span<char* const> args);
int dump_main(std::span<char* const> args);

}  // namespace s2pt::tool
