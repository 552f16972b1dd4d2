#include "agent/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/strings.h"

namespace sc::agent {
namespace {

bool isNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

// Parses `{a="b",c="d"}` at `s` (which starts at '{'); advances `s` past '}'.
bool parseLabels(std::string_view& s, Labels& out) {
  s.remove_prefix(1);
  while (true) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty()) return false;
    if (s.front() == '}') {
      s.remove_prefix(1);
      return true;
    }
    size_t n = 0;
    while (n < s.size() && isNameChar(s[n], n == 0)) ++n;
    if (n == 0 || n + 1 >= s.size() || s[n] != '=' || s[n + 1] != '"') return false;
    std::string name(s.substr(0, n));
    s.remove_prefix(n + 2);
    std::string value;
    while (true) {
      if (s.empty()) return false;
      char c = s.front();
      s.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        if (s.empty()) return false;
        char e = s.front();
        s.remove_prefix(1);
        value += e == 'n' ? '\n' : e;
      } else {
        value += c;
      }
    }
    out.emplace_back(std::move(name), std::move(value));
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (!s.empty() && s.front() == ',') s.remove_prefix(1);
  }
}

std::string escapeLabel(std::string_view v) {
  std::string o;
  for (char c : v) {
    if (c == '\\')
      o += "\\\\";
    else if (c == '"')
      o += "\\\"";
    else if (c == '\n')
      o += "\\n";
    else
      o += c;
  }
  return o;
}

// The family a sample belongs to: histogram/summary samples carry suffixes.
std::string familyOf(const std::string& sample, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (sample.ends_with(suffix)) {
      std::string base = sample.substr(0, sample.size() - std::string_view(suffix).size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return sample;
}

bool isSampleValue(std::string_view v) {
  if (v == "+Inf" || v == "-Inf" || v == "NaN") return true;
  if (v.empty()) return false;
  std::string copy(v);
  char* end = nullptr;
  std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size();
}

}  // namespace

std::string formatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::vector<Family> parsePrometheusText(std::string_view text, int* bad_lines) {
  std::vector<Family> out;
  std::map<std::string, size_t> index;
  std::map<std::string, std::string> types;
  int bad = 0;
  auto familyFor = [&](const std::string& name) -> Family& {
    auto it = index.find(name);
    if (it != index.end()) return out[it->second];
    index[name] = out.size();
    out.push_back(Family{name, "", types.count(name) ? types[name] : "untyped", {}});
    return out.back();
  };
  for (const std::string& raw : split(text, '\n')) {
    std::string_view line = trim(raw);
    if (line.empty()) continue;
    if (line.starts_with("#")) {
      std::vector<std::string> parts = split(line, ' ');
      if (parts.size() >= 3 && (parts[1] == "HELP" || parts[1] == "TYPE")) {
        const std::string& name = parts[2];
        size_t at = line.find(name, line.find(parts[1]) + parts[1].size()) + name.size();
        std::string rest(trim(line.substr(at)));
        if (parts[1] == "TYPE") {
          types[name] = rest;
          familyFor(name).type = rest;
        } else {
          familyFor(name).help = rest;
        }
      }
      continue;
    }
    std::string_view s = line;
    size_t n = 0;
    while (n < s.size() && isNameChar(s[n], n == 0)) ++n;
    if (n == 0) {
      ++bad;
      continue;
    }
    Sample sample;
    sample.name = std::string(s.substr(0, n));
    s.remove_prefix(n);
    if (!s.empty() && s.front() == '{' && !parseLabels(s, sample.labels)) {
      ++bad;
      continue;
    }
    s = trim(s);
    std::string_view value = s.substr(0, s.find(' '));
    if (!isSampleValue(value)) {
      ++bad;
      continue;
    }
    sample.value = std::string(value);
    familyFor(familyOf(sample.name, types)).samples.push_back(std::move(sample));
  }
  if (bad_lines) *bad_lines = bad;
  return out;
}

std::string renderPrometheusText(const std::vector<Family>& families) {
  std::string o;
  for (const Family& f : families) {
    if (!f.help.empty()) o += "# HELP " + f.name + " " + f.help + "\n";
    o += "# TYPE " + f.name + " " + f.type + "\n";
    for (const Sample& s : f.samples) {
      o += s.name;
      if (!s.labels.empty()) {
        o += '{';
        for (size_t i = 0; i < s.labels.size(); ++i) {
          if (i) o += ',';
          o += s.labels[i].first + "=\"" + escapeLabel(s.labels[i].second) + "\"";
        }
        o += '}';
      }
      o += ' ' + s.value + '\n';
    }
  }
  return o;
}

void mergeFamilies(std::vector<Family>& into, std::vector<Family> more) {
  for (Family& f : more) {
    auto it = std::find_if(into.begin(), into.end(), [&](const Family& x) { return x.name == f.name; });
    if (it == into.end()) {
      into.push_back(std::move(f));
    } else {
      for (Sample& s : f.samples) it->samples.push_back(std::move(s));
    }
  }
}

void addLabels(std::vector<Family>& families, const Labels& fixed,
               const std::function<Labels(const Labels&)>& per_sample) {
  for (Family& f : families) {
    for (Sample& s : f.samples) {
      Labels extra = per_sample ? per_sample(s.labels) : Labels{};
      // Put the new labels first, then the sample's own; a name we add wins over the same name.
      Labels merged = fixed;
      for (auto& l : extra) merged.push_back(std::move(l));
      for (auto& l : s.labels) {
        bool taken = false;
        for (const auto& m : merged) taken = taken || m.first == l.first;
        if (!taken) merged.push_back(std::move(l));
      }
      s.labels = std::move(merged);
    }
  }
}

void MetricsRegistry::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  meta_[name] = {type, help, {}};
}

void MetricsRegistry::describeHistogram(const std::string& name, const std::string& help, std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  meta_[name] = {"histogram", help, std::move(buckets)};
}

void MetricsRegistry::set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  values_[name][labels] = value;
}

void MetricsRegistry::add(const std::string& name, const Labels& labels, double delta) {
  std::lock_guard lock(mu_);
  values_[name][labels] += delta;
}

MetricsRegistry::Hist& MetricsRegistry::histLocked(const std::string& name, const Labels& labels) {
  Hist& h = hists_[name][labels];
  if (h.bounds.empty()) {
    h.bounds = meta_[name].buckets;
    h.counts.assign(h.bounds.size(), 0);
  }
  return h;
}

void MetricsRegistry::touch(const std::string& name, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto m = meta_.find(name);
  if (m != meta_.end() && m->second.type == "histogram") {
    (void)histLocked(name, labels);
  } else {
    values_[name][labels] += 0;
  }
}

void MetricsRegistry::observe(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  Hist& h = histLocked(name, labels);
  for (size_t i = 0; i < h.bounds.size(); ++i)
    if (value <= h.bounds[i]) ++h.counts[i];
  ++h.count;
  h.sum += value;
}

std::vector<Family> MetricsRegistry::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<Family> out;
  for (const auto& [name, m] : meta_) {
    Family f{name, m.help, m.type, {}};
    if (m.type == "histogram") {
      if (auto it = hists_.find(name); it != hists_.end()) {
        for (const auto& [labels, h] : it->second) {
          for (size_t i = 0; i < h.bounds.size(); ++i) {
            Labels l = labels;
            l.emplace_back("le", formatMetricValue(h.bounds[i]));
            f.samples.push_back({name + "_bucket", l, std::to_string(h.counts[i])});
          }
          Labels inf = labels;
          inf.emplace_back("le", "+Inf");
          f.samples.push_back({name + "_bucket", inf, std::to_string(h.count)});
          f.samples.push_back({name + "_sum", labels, formatMetricValue(h.sum)});
          f.samples.push_back({name + "_count", labels, std::to_string(h.count)});
        }
      }
    } else if (auto it = values_.find(name); it != values_.end()) {
      for (const auto& [labels, v] : it->second) f.samples.push_back({name, labels, formatMetricValue(v)});
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace sc::agent
