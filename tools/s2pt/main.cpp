// s2pt: the command-line front end. `s2pt help` lists the subcommands.
#include <cstdio>
#include <span>
#include <string_view>

#include "command.hpp"

namespace {

using s2pt::tool::Command;

constexpr Command kCommands[] = {
    {"demo", "build a small 4K-backed VM table, unmap it, print what was issued",
     s2pt::tool::demo_main},
    {"bench", "unmap a VM's table with each strategy, side by side (--help for options)",
     s2pt::tool::bench_main},
    {"run", "run a scenario file, print what each operation issued, check its expectations",
     s2pt::tool::run_main},
    {"dump", "print the table a scenario leaves (or --demo), ptdump style, text or JSON",
     s2pt::tool::dump_main},
    {"stress", "random workloads against the hardware model's oracles, for a given time",
     s2pt::tool::stress_main},
};

void usage(std::FILE* out) {
  std::fprintf(out, "usage: s2pt <command> [options]\n\ncommands:\n");
  for (const Command& c : kCommands) {
    std::fprintf(out, "  %-8.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fprintf(out, "  %-8s %s\n", "help", "this list");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string_view name = argv[1];
  if (name == "help" || name == "--help" || name == "-h") {
    usage(stdout);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (c.name == name)
      return c.run(std::span<char* const>(argv + 2, static_cast<std::size_t>(argc - 2)));
  }
  std::fprintf(stderr, "s2pt: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
