// s2pt: the command-line front end. `s2pt help` (or --help) lists the subcommands, `s2pt CMD
// --help` their options.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "command.hpp"

int main(int argc, char** argv) {
  using namespace s2pt::tool;
  CLI::App app{"s2pt: stage-2 page tables for Arm64 hypervisors, their benchmarks and checks",
               "s2pt"};
  app.require_subcommand(1);
  const std::vector<Command> commands{add_demo(app), add_bench(app),  add_run(app),
                                      add_dump(app), add_stress(app), add_dirty_log(app)};
  if (argc == 2 && std::string_view(argv[1]) == "help") {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  if (argc < 2) {
    std::fputs(app.help().c_str(), stderr);
    return cli::kUsage;
  }
  const std::string_view name = argv[1];
  const bool known = std::any_of(commands.begin(), commands.end(),
                                 [name](const Command& c) { return c.app->get_name() == name; });
  if (!known && !name.starts_with('-')) {
    std::fprintf(stderr, "s2pt: unknown command '%s'\n", argv[1]);
    std::fputs(app.help().c_str(), stderr);
    return cli::kUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    const std::vector<CLI::App*> chosen = app.get_subcommands();
    const std::string who = chosen.empty() ? std::string("s2pt") : "s2pt " + chosen[0]->get_name();
    std::fprintf(stderr, "%s: %s\n(run '%s --help' for the options)\n", who.c_str(), error.what(),
                 who.c_str());
    return cli::kUsage;
  }
  for (const Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return cli::kUsage;  // not reached: one subcommand is required
}
