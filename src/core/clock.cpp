#include <taskmill/clock.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace taskmill {

TimePoint SystemClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

bool SystemClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            TimePoint deadline, const std::function<bool()>& stop) {
  return cv.wait_until(lock, deadline, stop);
}

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

TimePoint ManualClock::Now() const {
  std::lock_guard lock(mu_);
  return now_;
}

bool ManualClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            TimePoint deadline, const std::function<bool()>& stop) {
  {
    std::lock_guard guard(mu_);
    waiters_.insert(&cv);
    ++sleeps_;
  }
  sleeper_cv_.notify_all();
  // The bounded real-time wait guards against a wake-up that races with the
  // registration above; simulated time still only moves through Advance().
  while (!stop() && Now() < deadline) {
    cv.wait_for(lock, std::chrono::milliseconds(5));
  }
  {
    std::lock_guard guard(mu_);
    waiters_.erase(waiters_.find(&cv));
  }
  return stop();
}

bool ManualClock::WaitForSleeper(const std::function<bool()>& condition,
                                 std::chrono::steady_clock::duration bound) {
  // The condition is evaluated without mu_: it may take locks of the loops that call
  // WaitUntil while holding them, which would invert the lock order.
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      seen = sleeps_;
    }
    if (condition()) return true;
    std::unique_lock lock(mu_);
    if (!sleeper_cv_.wait_until(lock, deadline, [&] { return sleeps_ != seen; })) {
      lock.unlock();
      return condition();
    }
  }
}

void ManualClock::Advance(Duration d) {
  {
    std::lock_guard lock(mu_);
    now_ += d;
  }
  WakeAll();
}

void ManualClock::Set(TimePoint t) {
  {
    std::lock_guard lock(mu_);
    now_ = t;
  }
  WakeAll();
}

void ManualClock::WakeAll() {
  std::lock_guard lock(mu_);
  for (auto* cv : waiters_) cv->notify_all();
}

std::string FormatTime(TimePoint t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  auto micros = (t - secs).count();
  // Seconds straight to time_t: going through system_clock's nanoseconds would
  // overflow for instants beyond the year 2262 (a run_at far ahead is allowed).
  std::time_t tt = static_cast<std::time_t>(secs.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(micros));
  return buf;
}

namespace {
bool ReadDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}
}  // namespace

bool ParseTime(std::string_view s, TimePoint* out) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  int year, month, day, hour, minute, second;
  if (!ReadDigits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !ReadDigits(s, 5, 2, &month) ||
      s[7] != '-' || !ReadDigits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !ReadDigits(s, 11, 2, &hour) || s[13] != ':' || !ReadDigits(s, 14, 2, &minute) ||
      s[16] != ':' || !ReadDigits(s, 17, 2, &second)) {
    return false;
  }
  size_t pos = 19;
  int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return false;
    for (int i = digits; i < 6; ++i) micros *= 10;
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!ReadDigits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ReadDigits(s, pos + 4, 2, &om)) {
      return false;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return false;
  }
  auto ymd = std::chrono::year{year} / std::chrono::month{static_cast<unsigned>(month)} /
             std::chrono::day{static_cast<unsigned>(day)};
  if (!ymd.ok()) return false;
  auto tp = std::chrono::sys_days{ymd} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
            std::chrono::seconds{second} - std::chrono::minutes{offset_minutes};
  *out = std::chrono::time_point_cast<Duration>(tp) + Duration{micros};
  return true;
}

}  // namespace taskmill
