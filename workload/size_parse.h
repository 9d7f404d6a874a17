// QEMU-style size and number parsing (pure).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dpdc::vm {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;

// "256M", "1G", "512k", "4096B", "2T"; a plain number is multiplied by
// `default_unit` (QEMU's -m uses MiB). Returns nullopt on bad syntax or overflow.
std::optional<std::uint64_t> parse_size(std::string_view text, std::uint64_t default_unit = MiB);

// Decimal unsigned integer (no sign, no suffix). nullopt on bad syntax or overflow.
std::optional<std::uint64_t> parse_uint(std::string_view text);

// QEMU boolean: on/off, yes/no, true/false.
std::optional<bool> parse_bool(std::string_view text);

// Splits "a,b,c" at commas (empty parts are kept).
std::vector<std::string> split_commas(std::string_view text);

}  // namespace dpdc::vm
