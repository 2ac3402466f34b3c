#include "api/throughput.h"

#include <algorithm>

namespace taskmill::api {

namespace {

int64_t UnixSecond(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}

// Floor division, so that a bucket boundary is a multiple of the step for any second.
int64_t FloorTo(int64_t value, int64_t step) {
  int64_t q = value / step;
  if (value % step != 0 && value < 0) --q;
  return q * step;
}

size_t SlotOf(int64_t second) {
  int64_t index = second % ThroughputRecorder::kSeconds;
  if (index < 0) index += ThroughputRecorder::kSeconds;
  return static_cast<size_t>(index);
}

void Add(ThroughputRecorder::Counts& into, const ThroughputRecorder::Counts& counts) {
  for (size_t i = 0; i < into.size(); ++i) into[i] += counts[i];
}

}  // namespace

ThroughputRecorder::ThroughputRecorder(EventBus& bus, Clock& clock)
    : bus_(bus), clock_(clock), since_(clock.Now()), ring_(kSeconds) {
  subscription_ = bus_.Subscribe([this](const Event& event) {
    if (event.type != Event::Type::kRunFinished || !IsFinal(event.status)) return;
    Record(clock_.Now(), event.status, event.account_id);
  });
}

ThroughputRecorder::~ThroughputRecorder() { bus_.Unsubscribe(subscription_); }

void ThroughputRecorder::Record(TimePoint at, RunStatus status, const std::string& account) {
  if (!IsFinal(status)) return;
  const size_t index = static_cast<size_t>(status) - static_cast<size_t>(RunStatus::kCompleted);
  const int64_t second = UnixSecond(at);
  std::lock_guard lock(mu_);
  Slot& slot = ring_[SlotOf(second)];
  if (slot.second != second) {
    // A slot last used an hour (or more) ago: its counts are out of every window.
    if (slot.second > second) return;  // older than the ring holds
    slot.second = second;
    slot.total = {};
    slot.accounts.clear();
  }
  ++slot.total[index];
  auto it = std::find_if(slot.accounts.begin(), slot.accounts.end(),
                         [&](const auto& entry) { return entry.first == account; });
  if (it == slot.accounts.end()) {
    slot.accounts.emplace_back(account, Counts{});
    it = slot.accounts.end() - 1;
  }
  ++it->second[index];
}

std::vector<ThroughputRecorder::Point> ThroughputRecorder::Query(
    TimePoint now, int window, int step, const std::optional<std::string>& account) const {
  std::vector<Point> points;
  if (step <= 0 || window <= 0) return points;
  const int64_t last_second = UnixSecond(now);
  const int64_t last_start = FloorTo(last_second, step);
  const int64_t count = std::max<int64_t>(1, window / step);
  const int64_t first_start = last_start - (count - 1) * step;
  points.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) points.push_back({first_start + i * step, {}});

  // Only the last kSeconds seconds are in the ring.
  const int64_t from = std::max(first_start, last_second - kSeconds + 1);
  std::lock_guard lock(mu_);
  for (int64_t second = from; second <= last_second; ++second) {
    const Slot& slot = ring_[SlotOf(second)];
    if (slot.second != second) continue;
    Point& point = points[static_cast<size_t>((second - first_start) / step)];
    if (!account) {
      Add(point.counts, slot.total);
      continue;
    }
    for (const auto& [name, counts] : slot.accounts) {
      if (name == *account) Add(point.counts, counts);
    }
  }
  return points;
}

}  // namespace taskmill::api
