#include "api/function_stats.h"

#include <algorithm>
#include <cmath>

namespace taskmill::api {

namespace {

int64_t UnixSecond(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}

int64_t MinuteOf(int64_t second) {
  int64_t q = second / 60;
  if (second % 60 != 0 && second < 0) --q;
  return q * 60;
}

size_t SlotOf(int64_t minute_start) {
  int64_t index = (minute_start / 60) % FunctionStatsRecorder::kMinutes;
  if (index < 0) index += FunctionStatsRecorder::kMinutes;
  return static_cast<size_t>(index);
}

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

// The nearest-rank percentile of sorted `values` (not empty).
double Percentile(const std::vector<double>& values, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

}  // namespace

FunctionStatsRecorder::FunctionStatsRecorder(EventBus& bus, Clock& clock, Key key)
    : bus_(bus), clock_(clock), key_(key) {
  subscription_ = bus_.Subscribe([this](const Event& event) {
    if (event.type != Event::Type::kRunFinished || !IsFinal(event.status)) return;
    const std::string& name = key_ == Key::kQueue ? event.queue : event.function;
    if (name.empty()) return;
    Record(event.finished_at.value_or(clock_.Now()), name, event.account_id,
           event.status == RunStatus::kCompleted, event.started_at, event.due_at);
  });
}

FunctionStatsRecorder::~FunctionStatsRecorder() { bus_.Unsubscribe(subscription_); }

void FunctionStatsRecorder::Record(TimePoint at, const std::string& function,
                                   const std::string& account, bool completed,
                                   std::optional<TimePoint> started, std::optional<TimePoint> due) {
  const int64_t second = UnixSecond(at);
  const int64_t minute = MinuteOf(second);
  std::lock_guard lock(mu_);
  Series& series = series_[{function, account}];
  Minute& slot = series.ring[SlotOf(minute)];
  if (slot.at != minute) {
    if (slot.at > minute) return;  // older than the ring holds
    slot = Minute{.at = minute};
  }
  ++(completed ? slot.completed : slot.failed);
  if (!started) return;
  Sample sample{.second = second,
                .duration = std::max(0.0, Seconds(at - *started)),
                .latency = due ? std::max(0.0, Seconds(*started - *due)) : 0.0};
  slot.latency_sum += sample.latency;
  ++slot.started;
  series.samples.push_back(sample);
  if (series.samples.size() > kSamples) series.samples.pop_front();
}

FunctionStatsRecorder::Figures FunctionStatsRecorder::Query(
    TimePoint now, const std::string& function, const std::optional<std::string>& account) const {
  Figures out;
  const int64_t last = MinuteOf(UnixSecond(now));
  const int64_t first = last - (kMinutes - 1) * 60;
  out.minutes.reserve(kMinutes);
  for (int i = 0; i < kMinutes; ++i) out.minutes.push_back({.at = first + i * 60});
  // Samples of the same minutes as the counts: the whole first minute included.
  std::vector<double> durations, latencies;
  std::lock_guard lock(mu_);
  for (auto it = series_.lower_bound({function, ""});
       it != series_.end() && it->first.first == function; ++it) {
    if (account && it->first.second != *account) continue;
    for (const Minute& m : it->second.ring) {
      if (m.at < first || m.at > last) continue;
      Minute& into = out.minutes[static_cast<size_t>((m.at - first) / 60)];
      into.completed += m.completed;
      into.failed += m.failed;
      into.latency_sum += m.latency_sum;
      into.started += m.started;
    }
    for (const Sample& s : it->second.samples) {
      if (s.second < first) continue;
      durations.push_back(s.duration);
      latencies.push_back(s.latency);
    }
  }
  for (const Minute& m : out.minutes) {
    out.runs += m.completed + m.failed;
    out.failed += m.failed;
  }
  out.timed = static_cast<int64_t>(durations.size());
  if (!durations.empty()) {
    std::sort(durations.begin(), durations.end());
    std::sort(latencies.begin(), latencies.end());
    out.duration_p50 = Percentile(durations, 0.5);
    out.duration_p95 = Percentile(durations, 0.95);
    out.latency_p50 = Percentile(latencies, 0.5);
    out.latency_p95 = Percentile(latencies, 0.95);
  }
  return out;
}

std::vector<std::string> FunctionStatsRecorder::Names(
    TimePoint now, const std::optional<std::string>& account) const {
  const int64_t last = MinuteOf(UnixSecond(now));
  const int64_t first = last - (kMinutes - 1) * 60;
  std::vector<std::string> names;
  std::lock_guard lock(mu_);
  for (const auto& [key, series] : series_) {
    if (account && key.second != *account) continue;
    if (!names.empty() && names.back() == key.first) continue;  // the map is sorted by name
    const bool recent = std::any_of(series.ring.begin(), series.ring.end(), [&](const Minute& m) {
      return m.at >= first && m.at <= last && m.completed + m.failed > 0;
    });
    if (recent) names.push_back(key.first);
  }
  return names;
}

}  // namespace taskmill::api
