// metrics/metrics.h — a small metrics registry rendered in the Prometheus text
// exposition format, version 0.0.4 (GET /metrics; docs/metrics.md lists the metrics).
//
// Hand-written on purpose: Debian bookworm packages no Prometheus client library for
// C++ (prometheus-cpp is not in the archive), and what taskmill needs is small:
// counters, gauges and fixed-bucket histograms with label sets, plus collectors that
// compute gauges at scrape time.
//
// Hot path: Counter::Increment, Gauge::Set and Histogram::Observe are a few relaxed
// atomic operations, no lock and no allocation. A labeled child is found with
// Family::WithLabels, which locks the family and looks the label values up; callers
// on a hot path look their children up once and keep the reference (children live
// as long as their registry and never move).
//
// Registration (Add*, AddCollector) is for start-up or a component's construction;
// registering a name twice with the same type, help, labels and buckets returns the
// family already there, anything else that conflicts, or an invalid name, throws
// std::invalid_argument (a programming error). Everything here is thread-safe.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill::metrics {

enum class Type { kCounter, kGauge, kHistogram };
std::string_view ToString(Type type);  // "counter", "gauge", "histogram"

// Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]* and
// must not start with "__" (reserved by Prometheus).
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

// A label value escaped for the exposition text: backslash, double quote and line feed
// become \\, \" and \n.
std::string EscapeLabelValue(std::string_view value);
// A sample value as the exposition text writes it: "+Inf", "-Inf", "NaN", or the
// shortest decimal that reads back as the same double, in %g style ("0.0005").
std::string FormatValue(double value);

// A monotonically increasing count.
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted in fixed buckets. Each bucket counts the observations that fall
// in it alone; Read() makes them cumulative. The +Inf bucket and the count are the
// same sum of bucket counts, so a scrape during concurrent observations is still
// consistent (the sum may lag a just-counted observation by one).
class Histogram {
 public:
  // `bounds` (strictly increasing, finite upper bounds; +Inf is implied) must outlive
  // the histogram; the family owns them.
  explicit Histogram(std::span<const double> bounds);

  // Counts `value` in the first bucket whose bound is >= value. NaN is ignored.
  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Commonly useful bucket bounds.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// The children of one metric name, one per label-value tuple.
template <typename T>
class Family;

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the family (HELP, TYPE and its samples) to `out`.
  void Render(std::string* out) const;

 protected:
  // Appends the samples only.
  virtual void RenderSamples(std::string* out) const = 0;

 private:
  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
};

namespace internal {
// Orders label-value tuples, and compares stored ones (strings) with looked-up ones
// (string views) so that a lookup allocates nothing.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// Appends `name{l1="v1",...,extra}` (or just the name with no labels) and a space.
void AppendSeries(std::string* out, std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra = {});
}  // namespace internal

template <typename T>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        bounds_(std::move(bounds)) {}

  // The child for these label values (one per label name, in order), created on first
  // use. Throws std::invalid_argument when the number of values is wrong.
  T& WithLabels(std::span<const std::string_view> values);
  T& WithLabels(std::initializer_list<std::string_view> values) {
    return WithLabels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  // The one child of a family without labels.
  T& Get() { return WithLabels({}); }

  const std::vector<double>& bounds() const { return bounds_; }

 protected:
  void RenderSamples(std::string* out) const override;

 private:
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>, internal::LabelValuesLess>
      children_;  // guarded by mu_
};

// Defined, and instantiated once, in metrics.cpp.
template <>
void Family<Counter>::RenderSamples(std::string* out) const;
template <>
void Family<Gauge>::RenderSamples(std::string* out) const;
template <>
void Family<Histogram>::RenderSamples(std::string* out) const;
extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// A gauge family computed at scrape time by a collector.
struct GaugeSnapshot {
  std::string name;
  std::string help;
  std::vector<std::string> label_names;
  struct Sample {
    std::vector<std::string> label_values;  // one per label name
    double value = 0;
  };
  std::vector<Sample> samples;
};
// Called by Render, on the scraping thread; returns the families it computed. A
// collector that cannot compute one (a storage error) leaves it out and says why in
// the log: the other metrics still reach the scrape.
using Collector = std::function<std::vector<GaugeSnapshot>()>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  // `bounds`: strictly increasing finite upper bounds; the +Inf bucket is implied.
  HistogramFamily& AddHistogram(std::string name, std::string help, std::vector<double> bounds,
                                std::vector<std::string> label_names = {});

  // Adds a collector; returns an id for RemoveCollector. The names it reports must
  // not be registered families.
  uint64_t AddCollector(Collector collector);
  void RemoveCollector(uint64_t id);

  // The exposition text: registered families in name order, then the collectors'.
  std::string Render() const;
  // Appends the same to *out.
  void RenderTo(std::string* out) const;

 private:
  template <typename T>
  Family<T>& Add(std::string name, std::string help, Type type,
                 std::vector<std::string> label_names, std::vector<double> bounds);

  mutable std::mutex collect_mu_;  // held while collectors run; taken before mu_
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_;  // by name; guarded by mu_
  std::map<uint64_t, Collector> collectors_;                     // guarded by mu_
  uint64_t next_collector_ = 1;                                  // guarded by mu_
};

// The process-wide registry: a process serves one engine, and the components that
// observe (runner, storage commits, scheduler, API server) share it without plumbing.
Registry& Default();

// Renders a collector's gauge family like a registered one.
void RenderGauges(const GaugeSnapshot& gauges, std::string* out);

}  // namespace taskmill::metrics
