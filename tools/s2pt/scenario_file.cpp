#include "scenario_file.hpp"

#include <cstdio>

#include "cli.hpp"
#include "scenario/model_backend.hpp"

namespace s2pt::tool {

std::optional<scenario::Scenario> parse_scenario(std::string_view text, const std::string& path) {
  scenario::ParseResult parsed = scenario::parse(text);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s:%u:%u: error: %s\n", path.c_str(), parsed.error->pos.line,
                 parsed.error->pos.column, parsed.error->message.c_str());
    return std::nullopt;
  }
  return std::move(parsed.scenario);
}

std::optional<scenario::Scenario> load_scenario(const std::string& path, std::string_view command) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "s2pt %.*s: cannot open %s\n", static_cast<int>(command.size()),
                 command.data(), path.c_str());
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    std::fprintf(stderr, "s2pt %.*s: cannot read %s\n", static_cast<int>(command.size()),
                 command.data(), path.c_str());
    return std::nullopt;
  }
  return parse_scenario(text, path);
}

void add_backend_options(CLI::App& app, BackendArgs& args) {
  app.add_option("--backend", args.name,
                 "counting (records the maintenance) or model (the hardware model of sim/: guests "
                 "on every CPU use the table during each step, the oracles judge it)")
      ->check(CLI::IsMember({"counting", "model"}))
      ->capture_default_str();
  args.cpus_option = app.add_option("--cpus", args.cpus, "model: CPUs, 1 to 64")
                         ->check(CLI::Range(1u, 64u))
                         ->capture_default_str();
  args.seed_option = app.add_option("--seed", args.seed,
                                    "model: seed of the guests' accesses; a seed replays a run")
                         ->check(cli::whole_number())
                         ->capture_default_str();
}

std::unique_ptr<scenario::Backend> open_backend(const BackendArgs& args, bool trace,
                                                std::string_view command) {
  const auto complain = [&](const std::string& why) {
    std::fprintf(stderr, "s2pt %.*s: %s\n", static_cast<int>(command.size()), command.data(),
                 why.c_str());
    return nullptr;
  };
  const std::optional<scenario::BackendKind> kind = scenario::parse_backend(args.name);
  if (!kind) {
    return complain("unknown backend '" + std::string(args.name) + "' (counting, model)");
  }
  if (*kind == scenario::BackendKind::counting) {
    if (args.cpus_option->count() + args.seed_option->count() != 0)
      return complain("--cpus and --seed apply to --backend model");
    return std::make_unique<scenario::CountingBackend>(trace);
  }
  return std::make_unique<scenario::ModelBackend>(
      scenario::ModelOptions{.cpus = args.cpus, .seed = args.seed, .trace = trace});
}

}  // namespace s2pt::tool
