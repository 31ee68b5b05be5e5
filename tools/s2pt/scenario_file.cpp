#include "scenario_file.hpp"

#include <cstdio>

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
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
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

std::unique_ptr<scenario::Backend> open_backend(std::string_view name, bool trace,
                                                std::string_view command) {
  const std::optional<scenario::BackendKind> kind = scenario::parse_backend(name);
  if (!kind) {
    std::fprintf(stderr, "s2pt %.*s: unknown backend '%.*s' (counting, model)\n",
                 static_cast<int>(command.size()), command.data(), static_cast<int>(name.size()),
                 name.data());
    return nullptr;
  }
  std::unique_ptr<scenario::Backend> backend = scenario::make_backend(*kind, trace);
  if (!backend) {
    std::fprintf(stderr,
                 "s2pt %.*s: backend '%.*s' is not available yet (it needs the hardware "
                 "model, sim/)\n",
                 static_cast<int>(command.size()), command.data(), static_cast<int>(name.size()),
                 name.data());
  }
  return backend;
}

}  // namespace s2pt::tool
