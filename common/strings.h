// Small string helpers shared by every folder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sc {

// Appends `s` as a JSON string literal (quotes included), escaping as RFC 8259 requires.
void appendJsonString(std::string& out, std::string_view s);
std::string jsonQuote(std::string_view s);

std::vector<std::string> split(std::string_view s, char sep);
std::string_view trim(std::string_view s);
bool startsWith(std::string_view s, std::string_view prefix);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// True when `s` can stand as one word of a configuration line (haproxy.cfg): 1-255 characters of
// [A-Za-z0-9._:/@[]-], so no whitespace, newline, '#', quote or backslash can end it early.
bool isConfigToken(std::string_view s);

// Parses a whole string as a non-negative decimal integer no larger than `max`.
std::optional<uint64_t> parseUint(std::string_view s, uint64_t max = UINT64_MAX);

}  // namespace sc
