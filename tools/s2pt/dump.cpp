// s2pt dump: runs a scenario (or the built-in demo) and prints the final table like a stage-2
// ptdump, as text or JSON.
#include <cstdio>
#include <memory>
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

struct Arguments {
  BackendArgs backend;
  std::string format = "text";
  bool demo = false;
  std::string path;
};

int dump(const Arguments& a) {
  const bool json = a.format == "json";
  const bool demo = a.demo;
  const std::string& path = a.path;
  std::unique_ptr<scenario::Backend> backend = open_backend(a.backend, false, "dump");
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

}  // namespace

Command add_dump(CLI::App& tool) {
  CLI::App* app = tool.add_subcommand(
      "dump", "print the table a scenario FILE (or --demo) leaves, ptdump style, text or JSON");
  app->footer(
      "The scenario runs quietly; the dump shows merged IPA ranges with level, PA, permissions,\n"
      "memory type and AF, and the table pages per level.");
  auto a = std::make_shared<Arguments>();
  app->add_option("--format", a->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  add_backend_options(*app, a->backend);
  CLI::Option* demo = app->add_flag("--demo", a->demo, "a built-in small VM instead of a FILE");
  CLI::Option* file = app->add_option("FILE", a->path, "the scenario");
  demo->excludes(file);
  app->callback([demo, file] {
    if (demo->count() + file->count() == 0) throw CLI::RequiredError("FILE or --demo");
  });
  return {app, [a] { return dump(*a); }};
}

}  // namespace s2pt::tool
