#include "cli.hpp"

#include <cctype>
#include <charconv>

namespace s2pt::tool::cli {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<u64> parse_size(std::string_view text) {
  u64 count = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (error != std::errc{} || end == text.data()) return std::nullopt;
  const std::string unit = upper(std::string_view(end, text.data() + text.size() - end));
  unsigned shift = 0;
  if (unit == "K")
    shift = 10;
  else if (unit == "M")
    shift = 20;
  else if (unit == "G")
    shift = 30;
  else if (unit == "T")
    shift = 40;
  else if (!unit.empty())
    return std::nullopt;
  if (count == 0 || count > (~u64{0} >> shift)) return std::nullopt;
  return count << shift;
}

std::string size_name(u64 bytes) {
  static constexpr const char* kUnits[] = {"", "K", "M", "G", "T"};
  unsigned unit = 0;
  while (unit < 4 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + kUnits[unit];
}

CLI::Validator byte_size() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        const std::optional<u64> bytes = parse_size(value);
        if (!bytes) return "'" + value + "' is not a size (a number with K, M, G or T)";
        value = std::to_string(*bytes);
        return {};
      },
      "SIZE", "byte size");
}

CLI::Validator power_of_two() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        u64 n = 0;
        const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (error != std::errc{} || n == 0 || (n & (n - 1)) != 0)
          return size_name(n) + " is not a power of two";
        return {};
      },
      "", "power of two");
}

CLI::Validator non_negative() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (!value.empty() && value.front() == '-') return value + " is negative";
        return {};
      },
      "", "not negative");
}

CLI::Validator whole_number() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        u64 n = 0;
        const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (error == std::errc::result_out_of_range) return value + " does not fit in 64 bits";
        if (error != std::errc{} || end != value.data() + value.size())
          return value + " is not a whole number";
        return {};
      },
      "", "whole number");
}

std::vector<bool> switch_values(std::string_view word) {
  if (word == "on") return {true};
  if (word == "off") return {false};
  return {true, false};
}

Granule granule_named(std::string_view word) {
  const std::string w = upper(word);
  if (w == "16K") return Granule::k16;
  if (w == "64K") return Granule::k64;
  return Granule::k4;
}

CLI::Validator granule_word() {
  return CLI::IsMember(kGranuleWords, CLI::ignore_case);
}

}  // namespace s2pt::tool::cli
