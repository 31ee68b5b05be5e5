#include "scenario_file.hpp"

#include <cstdio>

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

bool take_backend_arg(std::span<char* const> args, std::size_t& i, BackendArgs& out) {
  const std::string_view arg = args[i];
  if (arg != "--backend" && arg != "--cpus" && arg != "--seed") return false;
  if (i + 1 >= args.size()) {
    out.error = "an option lacks its value";
    return true;
  }
  const std::string_view value = args[++i];
  if (arg == "--backend") {
    out.name = value;
    return true;
  }
  const std::optional<u64> n = scenario::parse_number(value);
  if (arg == "--cpus") {
    if (!n || *n == 0 || *n > 64) out.error = "--cpus takes a number from 1 to 64";
    out.cpus = n;
  } else {
    if (!n) out.error = "--seed takes a number";
    out.seed = n;
  }
  return true;
}

std::unique_ptr<scenario::Backend> open_backend(const BackendArgs& args, bool trace,
                                                std::string_view command) {
  const auto complain = [&](const std::string& why) {
    std::fprintf(stderr, "s2pt %.*s: %s\n", static_cast<int>(command.size()), command.data(),
                 why.c_str());
    return nullptr;
  };
  if (args.error) return complain(args.error);
  const std::optional<scenario::BackendKind> kind = scenario::parse_backend(args.name);
  if (!kind) {
    return complain("unknown backend '" + std::string(args.name) + "' (counting, model)");
  }
  if (*kind == scenario::BackendKind::counting) {
    if (args.cpus || args.seed) return complain("--cpus and --seed apply to --backend model");
    return std::make_unique<scenario::CountingBackend>(trace);
  }
  return std::make_unique<scenario::ModelBackend>(
      scenario::ModelOptions{.cpus = static_cast<unsigned>(args.cpus.value_or(4)),
                             .seed = args.seed.value_or(1),
                             .trace = trace});
}

}  // namespace s2pt::tool
