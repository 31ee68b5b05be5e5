// s2pt dump: runs a scenario (or the built-in demo) and prints the final table like a stage-2
// ptdump, as text or JSON.
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

#include "command.hpp"
#include "ptdump/ptdump.hpp"
#include "scenario/runner.hpp"
#include "scenario_file.hpp"

namespace s2pt::tool {
namespace {

// A small VM: RAM in blocks and pages, a read-only and an executable region, a device page, a
// range carved out of a block by an unmap (which splits it) and an owner-annotated hole.
constexpr std::string_view kDemo = R"(
table granule=4K ipa=40 pa=40 fwb=off tlbi_range=on ttl=on
map 0x40000000 1G 0x100000000 rw normal_wb       # RAM: one 1G block
map 0x80000000 4M 0x200000000 r-x normal_wb      # firmware: two 2M blocks
map 0x80400000 64K 0x200400000 r-- normal_wb no_blocks
map 0x09000000 4K 0x09000000 rw- device_ngnre    # UART
unmap 0x40200000 8K                               # a hole: splits the 1G and 2M blocks
annotate 0xC0000000 2M 3                          # owned by 3, nothing mapped
mkold 0x80000000 2M
)";

void dump_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: s2pt dump [--format text|json] [--backend counting|model] [--cpus N] "
               "[--seed S] (FILE | --demo)\n"
               "  Runs the scenario FILE (docs/scenarios.md) quietly and prints the table it\n"
               "  leaves: merged IPA ranges with level, PA, permissions, memory type and AF,\n"
               "  and the table pages per level.\n"
               "%s",
               kBackendUsage);
}

}  // namespace

int dump_main(std::span<char* const> args) {
  BackendArgs backend_args;
  bool json = false;
  bool demo = false;
  std::string path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--demo") {
      demo = true;
    } else if (arg == "--format" && i + 1 < args.size()) {
      const std::string_view format = args[++i];
      if (format != "text" && format != "json") {
        std::fprintf(stderr, "s2pt dump: unknown format '%s' (text, json)\n", args[i]);
        return 2;
      }
      json = format == "json";
    } else if (take_backend_arg(args, i, backend_args)) {
    } else if (arg == "--help" || arg == "-h") {
      dump_usage(stdout);
      return 0;
    } else if (!arg.empty() && arg[0] != '-' && path.empty()) {
      path = arg;
    } else {
      std::fprintf(stderr, "s2pt dump: unexpected argument '%s'\n", args[i]);
      dump_usage(stderr);
      return 2;
    }
  }
  if (demo == !path.empty()) {
    dump_usage(stderr);
    return 2;
  }
  std::unique_ptr<scenario::Backend> backend = open_backend(backend_args, false, "dump");
  if (!backend) return 2;
  const std::optional<scenario::Scenario> parsed =
      demo ? parse_scenario(kDemo, "<demo>") : load_scenario(path, "dump");
  if (!parsed) return 2;

  bool dumped = false;
  bool pages_agree = true;
  const scenario::RunOptions options{.inspect_final = [&](Table& table) {
    const ptdump::Dump dump = ptdump::collect(table);
    if (json) {
      ptdump::print_json(stdout, table, dump);
    } else {
      ptdump::print_text(stdout, table, dump);
    }
    dumped = true;
    pages_agree = dump.pages.total() == table.stats().table_pages;
    if (!pages_agree) {
      std::fprintf(stderr, "s2pt dump: the walk found %llu table pages, the table counts %llu\n",
                   static_cast<unsigned long long>(dump.pages.total()),
                   static_cast<unsigned long long>(table.stats().table_pages));
    }
  }};
  const scenario::RunResult result = scenario::run(*parsed, *backend, options);
  const std::string name = demo ? "<demo>" : path;
  if (!result.passed()) {
    std::fprintf(stderr, "%s:%u: %s\n", name.c_str(), result.failure->line,
                 result.failure->message.c_str());
    return 1;
  }
  if (!dumped) std::printf("%s: no live table at the end (destroyed)\n", name.c_str());
  return pages_agree ? 0 : 1;
}

}  // namespace s2pt::tool
