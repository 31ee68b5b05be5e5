#include "scenario/backend.hpp"

namespace s2pt::scenario {

std::optional<BackendKind> parse_backend(std::string_view word) {
  if (word == "counting") return BackendKind::counting;
  if (word == "model") return BackendKind::model;
  return std::nullopt;
}

std::unique_ptr<Backend> make_backend(BackendKind kind, bool trace) {
  switch (kind) {
    case BackendKind::counting:
      return std::make_unique<CountingBackend>(trace);
    case BackendKind::model:
      return nullptr;  // the hardware model (sim/) is not built yet
  }
  return nullptr;
}

}  // namespace s2pt::scenario
