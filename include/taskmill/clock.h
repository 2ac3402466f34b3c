// taskmill/clock.h — the injectable source of time.
//
// Nothing in the engine reads the wall clock directly: the scheduler, retries,
// leases and the sweeper all ask a Clock, so tests run on simulated time
// (ManualClock) and never sleep. Both implementations are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>

namespace taskmill {

// Instants are UTC microseconds since the Unix epoch; durations are microseconds.
using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::sys_time<Duration>;

// The longest duration taken from a user (a delay, timeout, lease, sleep, config
// duration), in seconds: about 31 years, beyond any real schedule, and small enough
// that microseconds never overflow. Longer values are refused, naming the field.
inline constexpr double kMaxUserSeconds = 1e9;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;

  // Blocks on `cv` until `stop()` is true or `deadline` (clock time) passes.
  // Returns stop(). `lock` must hold the mutex that guards what `stop` reads.
  // Real clocks wait on the condition variable with a timeout; the manual clock
  // wakes the waiter whenever simulated time advances.
  virtual bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         TimePoint deadline, const std::function<bool()>& stop) = 0;
};

// The wall clock (std::chrono::system_clock).
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline, const std::function<bool()>& stop) override;
  // A process-wide instance.
  static SystemClock& Instance();
};

// Simulated time for tests: starts at a given instant and moves only when told.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_(start) {}
  TimePoint Now() const override;
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline, const std::function<bool()>& stop) override;
  // Moves time forward and wakes every waiter so it can re-check its deadline.
  void Advance(Duration d);
  void Set(TimePoint t);
  // Waits until `condition` holds, checking it each time a thread starts waiting on
  // this clock (a background loop that has finished its pass and gone to sleep), for
  // at most `bound` of real time. Returns the condition's last value. For tests of
  // state that a loop sets before it sleeps.
  bool WaitForSleeper(const std::function<bool()>& condition,
                      std::chrono::steady_clock::duration bound);

 private:
  void WakeAll();
  std::condition_variable sleeper_cv_;  // notified when a thread starts waiting
  uint64_t sleeps_ = 0;                 // guarded by mu_; threads that started waiting
  mutable std::mutex mu_;
  TimePoint now_;                                    // guarded by mu_
  std::multiset<std::condition_variable*> waiters_;  // guarded by mu_
};

// RFC 3339 in UTC with microseconds: "2026-01-01T00:00:00.000000Z" (lossless).
std::string FormatTime(TimePoint t);
// Accepts RFC 3339 with 'Z' or a numeric offset, with or without fractional seconds.
bool ParseTime(std::string_view text, TimePoint* out);

}  // namespace taskmill
