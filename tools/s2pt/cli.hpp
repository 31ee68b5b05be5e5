// What the subcommands share on their command lines (CLI11): byte sizes, on/off/both switches,
// granule names, and the "s2pt CMD: why" error convention with exit status 2.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s2pt/geometry.hpp"

namespace s2pt::tool::cli {

// The exit status of a command line the tool refuses.
inline constexpr int kUsage = 2;

// A byte count as digits with an optional K, M, G or T suffix (powers of 1024, either case).
// Zero and counts that do not fit in 64 bits are refused.
std::optional<u64> parse_size(std::string_view text);
// The shortest exact spelling of `bytes` in the units parse_size() reads: 4096 -> "4K".
std::string size_name(u64 bytes);
// A validator that accepts what parse_size() reads and rewrites it to the decimal byte count,
// so an option of unsigned type (or a list of them, with delimiter ',') receives bytes.
CLI::Validator byte_size();
// Only powers of two (after byte_size()).
CLI::Validator power_of_two();

// Refuses a leading minus sign (for a number of seconds).
CLI::Validator non_negative();
// Only digits that fit in 64 bits: CLI11 alone would wrap "-1" and saturate 2^64 into an
// unsigned option's largest value.
CLI::Validator whole_number();

// "on", "off" or "both", as the list of values to run with.
inline const std::vector<std::string> kSwitchWords{"on", "off", "both"};
std::vector<bool> switch_values(std::string_view word);

// "4K", "16K", "64K" (either case).
inline const std::vector<std::string> kGranuleWords{"4K", "16K", "64K"};
Granule granule_named(std::string_view word);
CLI::Validator granule_word();

}  // namespace s2pt::tool::cli
