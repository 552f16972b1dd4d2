// Prometheus text exposition (format 0.0.4): the agent's own figures, and every proxy's metrics
// relabelled with the task they belong to and merged into one page.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sc::agent {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name;  // full sample name (a histogram's name_bucket, name_sum, ...)
  Labels labels;
  std::string value;  // as printed: "12", "0.25", "+Inf", "NaN"
};

struct Family {
  std::string name;
  std::string help;
  std::string type;  // counter, gauge, histogram, summary, untyped
  std::vector<Sample> samples;
};

// Parses exposition text into families in order of appearance. Malformed lines are skipped and
// counted in `*bad_lines` (a proxy's page must never take the agent's page down).
std::vector<Family> parsePrometheusText(std::string_view text, int* bad_lines = nullptr);

// Renders families; label values are escaped.
std::string renderPrometheusText(const std::vector<Family>& families);

// Merges `more` into `into`: samples of a family already present join it (its HELP/TYPE kept).
void mergeFamilies(std::vector<Family>& into, std::vector<Family> more);

// Adds labels to every sample: `fixed` to all, plus those `per_sample` returns for the sample's
// own labels (for a proxy page: direction and discovery name from the HAProxy `proxy` label).
void addLabels(std::vector<Family>& families, const Labels& fixed,
               const std::function<Labels(const Labels& sample_labels)>& per_sample = {});

// The agent's own metrics. Thread-safe.
class MetricsRegistry {
 public:
  void describe(const std::string& name, const std::string& type, const std::string& help);
  void set(const std::string& name, const Labels& labels, double value);
  void add(const std::string& name, const Labels& labels, double delta);
  // Histogram with the buckets given at describeHistogram().
  void describeHistogram(const std::string& name, const std::string& help, std::vector<double> buckets);
  void observe(const std::string& name, const Labels& labels, double value);
  // Makes the series exist with zero (a counter at 0, a histogram with no observations), so that
  // rate() and alerts on it work before the first event. Existing values are kept.
  void touch(const std::string& name, const Labels& labels);
  std::vector<Family> snapshot() const;

 private:
  struct Hist {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bound, cumulative at render
    uint64_t count = 0;
    double sum = 0;
  };
  struct Meta {
    std::string type;
    std::string help;
    std::vector<double> buckets;
  };
  Hist& histLocked(const std::string& name, const Labels& labels);  // mu_ held
  mutable std::mutex mu_;
  std::map<std::string, Meta> meta_;
  std::map<std::string, std::map<Labels, double>> values_;
  std::map<std::string, std::map<Labels, Hist>> hists_;
};

std::string formatMetricValue(double v);

}  // namespace sc::agent
