#include "common/version.h"

#include <cctype>

#include "common/strings.h"

namespace sc {

std::strong_ordering Version::operator<=>(const Version& o) const {
  const size_t n = std::max(parts.size(), o.parts.size());
  for (size_t i = 0; i < n; ++i) {
    uint64_t a = i < parts.size() ? parts[i] : 0;
    uint64_t b = i < o.parts.size() ? o.parts[i] : 0;
    if (a != b) return a <=> b;
  }
  return std::strong_ordering::equal;
}

std::string Version::toString() const {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) s += '.';
    s += std::to_string(parts[i]);
  }
  return s;
}

Result<Version> parseVersion(std::string_view text) {
  std::string_view t = trim(text);
  if (!t.empty() && (t[0] == 'v' || t[0] == 'V')) t.remove_prefix(1);
  size_t cut = t.find_first_of("-+");
  if (cut != std::string_view::npos) t = t.substr(0, cut);
  if (t.empty()) {
    return makeError(ErrorCode::kInvalidArgument, "parse version", text, "empty");
  }
  Version v;
  for (const std::string& part : split(t, '.')) {
    auto n = parseUint(part);
    if (!n) {
      return makeError(ErrorCode::kInvalidArgument, "parse version", text, "expected dot-separated numbers");
    }
    v.parts.push_back(*n);
  }
  return v;
}

Result<Version> parseAmiVersion(std::string_view text) {
  // Look for <digits>.<digits>.<8 digits> anywhere in the text.
  for (size_t i = 0; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) continue;
    if (i > 0 && (std::isdigit(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '.')) continue;
    size_t j = i;
    int dots = 0;
    size_t last_start = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) {
      if (text[j] == '.') {
        ++dots;
        last_start = j + 1;
      }
      ++j;
    }
    if (dots == 2 && j - last_start == 8) {
      return parseVersion(text.substr(i, j - i));
    }
  }
  return makeError(ErrorCode::kInvalidArgument, "parse AMI version", text, "no version of the form 2.0.YYYYMMDD");
}

}  // namespace sc
