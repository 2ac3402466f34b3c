#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace taskmill::metrics {

std::string_view ToString(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// HELP text escapes only backslash and line feed (the format's rule for docstrings).
void AppendHelp(std::string* out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

void AppendLabelValue(std::string* out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '"') {
      *out += "\\\"";
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

void AppendValue(std::string* out, double value) {
  if (std::isnan(value)) {
    *out += "NaN";
  } else if (std::isinf(value)) {
    *out += value > 0 ? "+Inf" : "-Inf";
  } else {
    // The shortest digits that read back as the same double, written like printf's %g
    // (0.0001 rather than 1e-04: as other clients write bucket bounds).
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general);
    out->append(buf, ec == std::errc() ? end : buf);
  }
}

void AppendValue(std::string* out, uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out->append(buf, end);
}

void AppendHeader(std::string* out, std::string_view name, std::string_view help, Type type) {
  *out += "# HELP ";
  *out += name;
  *out += ' ';
  AppendHelp(out, help);
  *out += "\n# TYPE ";
  *out += name;
  *out += ' ';
  *out += ToString(type);
  *out += '\n';
}

void CheckNames(std::string_view name, const std::vector<std::string>& label_names, Type type) {
  if (!ValidMetricName(name)) {
    throw std::invalid_argument("metrics: invalid metric name '" + std::string(name) + "'");
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!ValidLabelName(label) || (type == Type::kHistogram && label == "le")) {
      throw std::invalid_argument("metrics: invalid label name '" + label + "' of " +
                                  std::string(name));
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == label) {
        throw std::invalid_argument("metrics: label '" + label + "' twice in " + std::string(name));
      }
    }
  }
}

template <typename T>
std::unique_ptr<T> MakeChild(const std::vector<double>&) {
  return std::make_unique<T>();
}
template <>
std::unique_ptr<Histogram> MakeChild<Histogram>(const std::vector<double>& bounds) {
  return std::make_unique<Histogram>(bounds);
}

}  // namespace

bool ValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = IsAlpha(c) || c == '_' || c == ':' || (i > 0 && IsDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = IsAlpha(c) || c == '_' || (i > 0 && IsDigit(c));
    if (!ok) return false;
  }
  return true;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  AppendLabelValue(&out, value);
  return out;
}

std::string FormatValue(double value) {
  std::string out;
  AppendValue(&out, value);
  return out;
}

// ---- Histogram ----------------------------------------------------------------------

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // Buckets are a dozen or so bounds: a binary search is a handful of comparisons.
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                 bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative[i] = total;
  }
  snapshot.count = total;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  bounds.reserve(static_cast<size_t>(std::max(0, count)));
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

// ---- families -----------------------------------------------------------------------

namespace internal {

void AppendSeries(std::string* out, std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra) {
  *out += name;
  if (!names.empty() || !extra.empty()) {
    *out += '{';
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) *out += ',';
      *out += names[i];
      *out += "=\"";
      AppendLabelValue(out, i < values.size() ? std::string_view(values[i]) : std::string_view());
      *out += '"';
    }
    if (!extra.empty()) {
      if (!names.empty()) *out += ',';
      *out += extra;
    }
    *out += '}';
  }
  *out += ' ';
}

}  // namespace internal

void FamilyBase::Render(std::string* out) const {
  AppendHeader(out, name_, help_, type_);
  RenderSamples(out);
}

template <typename T>
T& Family<T>::WithLabels(std::span<const std::string_view> values) {
  if (values.size() != label_names().size()) {
    throw std::invalid_argument("metrics: " + name() + " takes " +
                                std::to_string(label_names().size()) + " label values, got " +
                                std::to_string(values.size()));
  }
  std::lock_guard lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    it = children_
             .emplace(std::vector<std::string>(values.begin(), values.end()), MakeChild<T>(bounds_))
             .first;
  }
  return *it->second;
}

template <>
void Family<Counter>::RenderSamples(std::string* out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, counter] : children_) {
    internal::AppendSeries(out, name(), label_names(), values);
    AppendValue(out, counter->Value());
    *out += '\n';
  }
}

template <>
void Family<Gauge>::RenderSamples(std::string* out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, gauge] : children_) {
    internal::AppendSeries(out, name(), label_names(), values);
    AppendValue(out, gauge->Value());
    *out += '\n';
  }
}

template <>
void Family<Histogram>::RenderSamples(std::string* out) const {
  const std::string bucket = name() + "_bucket";
  const std::string sum = name() + "_sum";
  const std::string count = name() + "_count";
  std::lock_guard lock(mu_);
  for (const auto& [values, histogram] : children_) {
    Histogram::Snapshot s = histogram->Read();
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      std::string le = "le=\"";
      le += i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf";
      le += '"';
      internal::AppendSeries(out, bucket, label_names(), values, le);
      AppendValue(out, s.cumulative[i]);
      *out += '\n';
    }
    internal::AppendSeries(out, sum, label_names(), values);
    AppendValue(out, s.sum);
    *out += '\n';
    internal::AppendSeries(out, count, label_names(), values);
    AppendValue(out, s.count);
    *out += '\n';
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Registry -----------------------------------------------------------------------

template <typename T>
Family<T>& Registry::Add(std::string name, std::string help, Type type,
                         std::vector<std::string> label_names, std::vector<double> bounds) {
  CheckNames(name, label_names, type);
  if (type == Type::kHistogram) {
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
        throw std::invalid_argument("metrics: buckets of " + name +
                                    " must be finite and strictly increasing");
      }
    }
  }
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    auto* existing = dynamic_cast<Family<T>*>(it->second.get());
    if (!existing || existing->type() != type || existing->help() != help ||
        existing->label_names() != label_names || existing->bounds() != bounds) {
      throw std::invalid_argument("metrics: " + name + " is already registered differently");
    }
    return *existing;
  }
  auto family = std::make_unique<Family<T>>(name, std::move(help), type, std::move(label_names),
                                            std::move(bounds));
  Family<T>& out = *family;
  families_.emplace(std::move(name), std::move(family));
  return out;
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  return Add<Counter>(std::move(name), std::move(help), Type::kCounter, std::move(label_names), {});
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  return Add<Gauge>(std::move(name), std::move(help), Type::kGauge, std::move(label_names), {});
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<double> bounds,
                                        std::vector<std::string> label_names) {
  return Add<Histogram>(std::move(name), std::move(help), Type::kHistogram, std::move(label_names),
                        std::move(bounds));
}

uint64_t Registry::AddCollector(Collector collector) {
  std::lock_guard lock(mu_);
  uint64_t id = next_collector_++;
  collectors_.emplace(id, std::move(collector));
  return id;
}

void Registry::RemoveCollector(uint64_t id) {
  // Waits for a scrape that is calling collectors: after this returns, the removed
  // collector is never called again, so what it captured may go.
  std::lock_guard collecting(collect_mu_);
  std::lock_guard lock(mu_);
  collectors_.erase(id);
}

std::string Registry::Render() const {
  std::string out;
  RenderTo(&out);
  return out;
}

void Registry::RenderTo(std::string* out) const {
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, family] : families_) family->Render(out);
  }
  // Collectors query storage: they run without the registry lock, so registering or
  // observing never waits for a scrape.
  std::lock_guard collecting(collect_mu_);
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, collector] : collectors_) collectors.push_back(collector);
  }
  for (const Collector& collector : collectors) {
    for (const GaugeSnapshot& gauges : collector()) RenderGauges(gauges, out);
  }
}

void RenderGauges(const GaugeSnapshot& gauges, std::string* out) {
  AppendHeader(out, gauges.name, gauges.help, Type::kGauge);
  for (const GaugeSnapshot::Sample& sample : gauges.samples) {
    internal::AppendSeries(out, gauges.name, gauges.label_names, sample.label_values);
    AppendValue(out, sample.value);
    *out += '\n';
  }
}

Registry& Default() {
  static Registry* registry = new Registry();  // never destroyed: used until exit
  return *registry;
}

}  // namespace taskmill::metrics
