#include "scenario/backend.hpp"

namespace s2pt::scenario {

std::optional<BackendKind> parse_backend(std::string_view word) {
  if (word == "counting") return BackendKind::counting;
  if (word == "model") return BackendKind::model;
  return std::nullopt;
}

}  // namespace s2pt::scenario
