// Fuzzes the cron parser: any expression is either a schedule or an error naming the
// field; a schedule's next instants are computed without a crash or a hang, in UTC
// and in a zone with daylight saving time.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cron/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto schedule = taskmill::cron::Schedule::Parse(text);
  if (!schedule.ok()) return 0;
  static const date::time_zone* zone = [] {
    auto located = taskmill::cron::LocateZone("Europe/Berlin");
    return located.ok() ? *located : nullptr;
  }();
  using namespace std::chrono;
  // A fixed start (2026-03-29 00:30 UTC, the night Berlin moves its clocks forward).
  taskmill::TimePoint t{duration_cast<taskmill::Duration>(seconds(1774744200))};
  for (const date::time_zone* tz : {static_cast<const date::time_zone*>(nullptr), zone}) {
    auto at = t;
    for (int i = 0; i < 3; ++i) {
      auto next = schedule->Next(at, tz);
      if (!next) break;
      if (*next <= at) __builtin_trap();  // instants only move forward
      at = *next;
    }
  }
  return 0;
}
