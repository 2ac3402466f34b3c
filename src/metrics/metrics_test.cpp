// Tests for src/metrics: the instruments, label handling, rendering in the Prometheus
// text format (checked both as exact text and through the strict parser of
// exposition_test_util.h), collectors, concurrent use, and the parser itself.
#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics/exposition_test_util.h"
#include "metrics/taskmill_metrics.h"

namespace taskmill::metrics {
namespace {

using testing::Exposition;
using testing::ParseExposition;

Exposition MustParse(const std::string& text) {
  Exposition parsed;
  std::string error = ParseExposition(text, &parsed);
  EXPECT_EQ(error, "") << text;
  return parsed;
}

TEST(MetricsTest, RendersCountersAndGaugesExactly) {
  Registry registry;
  Counter& plain = registry.AddCounter("jobs_total", "Jobs done.").Get();
  CounterFamily& by_kind = registry.AddCounter("errors_total", "Errors, by kind.", {"kind"});
  GaugeFamily& temp = registry.AddGauge("temperature", "Degrees.", {"room", "floor"});
  plain.Increment();
  plain.Increment(4);
  by_kind.WithLabels({"io"}).Increment(2);
  by_kind.WithLabels({"auth"}).Increment();
  temp.WithLabels({"kitchen", "1"}).Set(21.5);
  temp.WithLabels({"attic", "3"}).Set(-4);
  temp.WithLabels({"attic", "3"}).Add(1.25);
  EXPECT_EQ(registry.Render(),
            "# HELP errors_total Errors, by kind.\n"
            "# TYPE errors_total counter\n"
            "errors_total{kind=\"auth\"} 1\n"
            "errors_total{kind=\"io\"} 2\n"
            "# HELP jobs_total Jobs done.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total 5\n"
            "# HELP temperature Degrees.\n"
            "# TYPE temperature gauge\n"
            "temperature{room=\"attic\",floor=\"3\"} -2.75\n"
            "temperature{room=\"kitchen\",floor=\"1\"} 21.5\n");
}

TEST(MetricsTest, AFamilyWithoutChildrenHasOnlyItsHeader) {
  Registry registry;
  registry.AddCounter("requests_total", "Requests.", {"route"});
  std::string text = registry.Render();
  EXPECT_EQ(text, "# HELP requests_total Requests.\n# TYPE requests_total counter\n");
  MustParse(text);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndUpperBoundsInclusive) {
  Registry registry;
  Histogram& h = registry.AddHistogram("latency_seconds", "Latency.", {0.25, 1, 10}).Get();
  // Binary fractions, so that the sum is exact.
  for (double v : {0.125, 0.25, 0.5, 1.0, 3.0, 100.0, 1000.0}) h.Observe(v);
  h.Observe(std::numeric_limits<double>::quiet_NaN());  // ignored
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{le=\"0.25\"} 2\n"
            "latency_seconds_bucket{le=\"1\"} 4\n"
            "latency_seconds_bucket{le=\"10\"} 5\n"
            "latency_seconds_bucket{le=\"+Inf\"} 7\n"
            "latency_seconds_sum 1104.875\n"
            "latency_seconds_count 7\n");
  Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count, 7u);
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 5, 7}));
}

TEST(MetricsTest, LabeledHistogramPutsLeLast) {
  Registry registry;
  HistogramFamily& family = registry.AddHistogram("size_bytes", "Sizes.", {8, 64}, {"kind"});
  family.WithLabels({"a"}).Observe(10);
  std::string text = registry.Render();
  EXPECT_NE(text.find("size_bytes_bucket{kind=\"a\",le=\"8\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("size_bytes_bucket{kind=\"a\",le=\"+Inf\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("size_bytes_sum{kind=\"a\"} 10\n"), std::string::npos);
  EXPECT_NE(text.find("size_bytes_count{kind=\"a\"} 1\n"), std::string::npos);
  Exposition parsed = MustParse(text);
  EXPECT_EQ(parsed.Value("size_bytes_bucket", {{"kind", "a"}, {"le", "64"}}), 1);
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  GaugeFamily& family = registry.AddGauge("odd", "Help with \\ and\nnewline.", {"v"});
  const std::string nasty = "back\\slash \"quoted\"\nline two";
  family.WithLabels({nasty}).Set(1);
  std::string text = registry.Render();
  EXPECT_NE(text.find("# HELP odd Help with \\\\ and\\nnewline.\n"), std::string::npos) << text;
  EXPECT_NE(text.find("odd{v=\"back\\\\slash \\\"quoted\\\"\\nline two\"} 1\n"), std::string::npos)
      << text;
  Exposition parsed = MustParse(text);
  EXPECT_EQ(parsed.families.at("odd").help, "Help with \\ and\nnewline.");
  EXPECT_EQ(parsed.Value("odd", {{"v", nasty}}), 1);
  EXPECT_EQ(EscapeLabelValue("a\"b"), "a\\\"b");
}

TEST(MetricsTest, ValuesAreFormattedAsTheFormatExpects) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(-1.5), "-1.5");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  // Shortest round trip: 0.1 stays 0.1, not 0.1000000000000000055...
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.0005), "0.0005");
  EXPECT_EQ(FormatValue(1e-7), "1e-07");
  EXPECT_EQ(FormatValue(1104.875), "1104.875");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
}

TEST(MetricsTest, NamesAreValidated) {
  EXPECT_TRUE(ValidMetricName("taskmill_runs"));
  EXPECT_TRUE(ValidMetricName("a:b_c9"));
  EXPECT_TRUE(ValidMetricName("_x"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_FALSE(ValidMetricName("9lives"));
  EXPECT_FALSE(ValidMetricName("with-dash"));
  EXPECT_FALSE(ValidMetricName("space name"));
  EXPECT_TRUE(ValidLabelName("route"));
  EXPECT_FALSE(ValidLabelName("__reserved"));
  EXPECT_FALSE(ValidLabelName("a:b"));
  EXPECT_FALSE(ValidLabelName("1a"));

  Registry registry;
  EXPECT_THROW(registry.AddCounter("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("ok_total", "x", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("ok_total", "x", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("h", "x", {1, 2}, {"le"}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("h", "x", {2, 1}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("h", "x", {1, std::numeric_limits<double>::infinity()}),
               std::invalid_argument);
  CounterFamily& family = registry.AddCounter("ok_total", "x", {"a"});
  EXPECT_THROW(family.WithLabels({"1", "2"}), std::invalid_argument);
  EXPECT_THROW(family.Get(), std::invalid_argument);
}

TEST(MetricsTest, RegisteringTheSameFamilyAgainReturnsIt) {
  Registry registry;
  CounterFamily& first = registry.AddCounter("c_total", "Help.", {"a"});
  EXPECT_EQ(&registry.AddCounter("c_total", "Help.", {"a"}), &first);
  EXPECT_THROW(registry.AddCounter("c_total", "Other help.", {"a"}), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("c_total", "Help.", {"b"}), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("c_total", "Help.", {"a"}), std::invalid_argument);
  // Children are stable: the same label values give the same object.
  Counter& child = first.WithLabels({"x"});
  first.WithLabels({"y"});
  EXPECT_EQ(&first.WithLabels({"x"}), &child);
}

TEST(MetricsTest, CollectorsAreRenderedAtScrapeTimeUntilRemoved) {
  Registry registry;
  registry.AddCounter("a_total", "A.").Get().Increment();
  int calls = 0;
  uint64_t id = registry.AddCollector([&] {
    ++calls;
    GaugeSnapshot depth{.name = "queue_depth", .help = "Depth.", .label_names = {"queue"}};
    depth.samples.push_back({{"default"}, 3});
    depth.samples.push_back({{"mail \"x\""}, 0});
    GaugeSnapshot slots{.name = "slots", .help = "Slots."};
    slots.samples.push_back({{}, 16});
    return std::vector<GaugeSnapshot>{depth, slots};
  });
  std::string text = registry.Render();
  EXPECT_EQ(calls, 1);
  Exposition parsed = MustParse(text);
  EXPECT_EQ(parsed.families.at("queue_depth").type, "gauge");
  EXPECT_EQ(parsed.Value("queue_depth", {{"queue", "default"}}), 3);
  EXPECT_EQ(parsed.Value("queue_depth", {{"queue", "mail \"x\""}}), 0);
  EXPECT_EQ(parsed.Value("slots"), 16);
  EXPECT_EQ(parsed.Value("a_total"), 1);
  registry.RemoveCollector(id);
  text = registry.Render();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(text.find("queue_depth"), std::string::npos);
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCountedAndScrapesStayValid) {
  Registry registry;
  CounterFamily& counters = registry.AddCounter("ops_total", "Ops.", {"worker"});
  Histogram& histogram = registry.AddHistogram("op_seconds", "Op time.", {0.5, 1.5}).Get();
  Gauge& gauge = registry.AddGauge("level", "Level.").Get();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Looked up once, as hot paths do.
      Counter& mine = counters.WithLabels({std::to_string(t % 2)});
      for (int i = 0; i < kPerThread; ++i) {
        mine.Increment();
        histogram.Observe(i % 3);
        gauge.Add(1);
      }
    });
  }
  // Scrapes while the writers run must parse (the +Inf bucket equals _count).
  for (int i = 0; i < 20; ++i) MustParse(registry.Render());
  for (auto& thread : threads) thread.join();
  Exposition parsed = MustParse(registry.Render());
  EXPECT_EQ(parsed.Value("ops_total", {{"worker", "0"}}), 2 * kPerThread);
  EXPECT_EQ(parsed.Value("ops_total", {{"worker", "1"}}), 2 * kPerThread);
  EXPECT_EQ(parsed.Value("op_seconds_count"), kThreads * kPerThread);
  EXPECT_EQ(gauge.Value(), kThreads * kPerThread);
  Histogram::Snapshot s = histogram.Read();
  // i % 3 over 0..19999: 6667 zeros, 6667 ones, 6666 twos per thread.
  EXPECT_EQ(s.cumulative[0], kThreads * 6667u);
  EXPECT_EQ(s.cumulative[1], kThreads * (6667u + 6667u));
  EXPECT_DOUBLE_EQ(s.sum, kThreads * (6667.0 + 2 * 6666.0));
}

TEST(MetricsTest, TaskmillMetricsRegisterEveryFinalStatusAndParse) {
  Registry registry;
  TaskmillMetrics m = RegisterTaskmillMetrics(registry);
  // Idempotent: the same children come back.
  TaskmillMetrics again = RegisterTaskmillMetrics(registry);
  EXPECT_EQ(m.attempt_duration, again.attempt_duration);
  EXPECT_EQ(m.finished(RunStatus::kCompleted), again.finished(RunStatus::kCompleted));
  EXPECT_EQ(m.finished(RunStatus::kPending), nullptr);
  EXPECT_EQ(m.finished(RunStatus::kRunning), nullptr);
  m.finished(RunStatus::kFailed)->Increment();
  m.commit_batch_size->Observe(3);
  m.http_requests->WithLabels({"/api/v1/runs/{id}", "200"}).Increment();
  Exposition parsed = MustParse(registry.Render());
  for (RunStatus status : kAllRunStatuses) {
    auto value =
        parsed.Value("taskmill_runs_finished_total", {{"status", std::string(ToString(status))}});
    if (IsFinal(status)) {
      EXPECT_EQ(value, status == RunStatus::kFailed ? 1 : 0) << ToString(status);
    } else {
      EXPECT_FALSE(value) << ToString(status);
    }
  }
  EXPECT_EQ(parsed.Value("taskmill_storage_commit_batch_size_bucket", {{"le", "2"}}), 0);
  EXPECT_EQ(parsed.Value("taskmill_storage_commit_batch_size_bucket", {{"le", "4"}}), 1);
  EXPECT_EQ(parsed.Value("taskmill_http_requests_total",
                         {{"route", "/api/v1/runs/{id}"}, {"code", "200"}}),
            1);
  for (const char* name :
       {"taskmill_attempt_duration_seconds", "taskmill_enqueue_to_start_seconds",
        "taskmill_storage_commit_duration_seconds", "taskmill_storage_commit_batch_size"}) {
    EXPECT_EQ(parsed.families.at(name).type, "histogram") << name;
  }
  EXPECT_EQ(parsed.families.at("taskmill_scheduler_lag_seconds").type, "gauge");
}

TEST(ExpositionParserTest, AcceptsWhatTheFormatAllows) {
  Exposition parsed;
  EXPECT_EQ(ParseExposition("# TYPE x gauge\nx NaN\n# TYPE y counter\ny{a=\"\"} 1e+06\n"
                            "# HELP z Some \\\\ help\n# TYPE z gauge\nz -Inf\n",
                            &parsed),
            "");
  EXPECT_TRUE(std::isnan(*parsed.Value("x")));
  EXPECT_EQ(parsed.Value("y", {{"a", ""}}), 1e6);
  EXPECT_EQ(parsed.families.at("z").help, "Some \\ help");
}

TEST(ExpositionParserTest, RejectsMalformedText) {
  const char* bad[] = {
      "",                                                            // empty
      "# TYPE x gauge\nx 1",                                         // no final line feed
      "# TYPE x gauge\n\nx 1\n",                                     // blank line
      "# comment\n# TYPE x gauge\nx 1\n",                            // a free comment
      "# TYPE x summary\nx 1\n",                                     // unknown type
      "# TYPE x gauge\n# TYPE x gauge\nx 1\n",                       // second TYPE
      "x 1\n",                                                       // no TYPE
      "# HELP x h\nx 1\n",                                           // HELP without TYPE
      "# TYPE 1x gauge\n1x 1\n",                                     // invalid name
      "# TYPE x gauge\nx{1a=\"v\"} 1\n",                             // invalid label name
      "# TYPE x gauge\nx{a=\"v\",} 1\n",                             // trailing comma
      "# TYPE x gauge\nx{a=\"v\",a=\"w\"} 1\n",                      // label twice
      "# TYPE x gauge\nx{a=\"v\\t\"} 1\n",                           // undefined escape
      "# TYPE x gauge\nx{a=\"v} 1\n",                                // unterminated value
      "# TYPE x gauge\nx{a=v} 1\n",                                  // unquoted value
      "# TYPE x gauge\nx 1 1700000000\n",                            // timestamp
      "# TYPE x gauge\nx inf\n",                                     // lower-case infinity
      "# TYPE x gauge\nx one\n",                                     // not a number
      "# TYPE x gauge\nx  1\n",                                      // two spaces
      "# TYPE x gauge\nx 1\nx 2\n",                                  // series repeated
      "# TYPE x gauge\ny 1\n",                                       // sample of another family
      "# TYPE x counter\nx -1\n",                                    // negative counter
      "# TYPE x gauge\nx{le=\"1\"} 1\n",                             // le outside a histogram
      "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\n# HELP x again\n",  // x split
      "# HELP x a\\tb\n# TYPE x gauge\nx 1\n",                       // undefined escape in HELP
      // Histograms: missing +Inf, decreasing, +Inf != count, no sum, bounds unordered.
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
      "# TYPE h histogram\nh_bucket{le=\"2\"} 0\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\n"
      "h_sum 0\nh_count 0\n",
      "# TYPE h histogram\nh 1\n",  // bare name in a histogram
  };
  for (const char* text : bad) {
    Exposition parsed;
    EXPECT_NE(ParseExposition(text, &parsed), "") << "accepted: " << text;
  }
}

}  // namespace
}  // namespace taskmill::metrics
