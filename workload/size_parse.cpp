#include "workload/size_parse.h"

#include <cctype>
#include <limits>

namespace dpdc::vm {

std::optional<std::uint64_t> parse_uint(std::string_view text)
{
    if (text.empty() || text.size() > 20)
        return std::nullopt;
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return std::nullopt;
        std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10)
            return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::uint64_t default_unit)
{
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
        ++digits;
    auto number = parse_uint(text.substr(0, digits));
    if (!number)
        return std::nullopt;
    std::string_view suffix = text.substr(digits);
    std::uint64_t unit = default_unit;
    if (!suffix.empty()) {
        if (suffix.size() != 1)
            return std::nullopt;
        switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
        case 'B': unit = 1; break;
        case 'K': unit = KiB; break;
        case 'M': unit = MiB; break;
        case 'G': unit = GiB; break;
        case 'T': unit = 1024 * GiB; break;
        default: return std::nullopt;
        }
    }
    if (*number > std::numeric_limits<std::uint64_t>::max() / unit)
        return std::nullopt;
    return *number * unit;
}

std::optional<bool> parse_bool(std::string_view text)
{
    if (text == "on" || text == "yes" || text == "true")
        return true;
    if (text == "off" || text == "no" || text == "false")
        return false;
    return std::nullopt;
}

std::vector<std::string> split_commas(std::string_view text)
{
    std::vector<std::string> parts;
    for (;;) {
        auto comma = text.find(',');
        parts.emplace_back(text.substr(0, comma));
        if (comma == std::string_view::npos)
            return parts;
        text.remove_prefix(comma + 1);
    }
}

}  // namespace dpdc::vm
