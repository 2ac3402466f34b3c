// src/cron/cron.cpp — Schedule::Next and the time-zone helpers.
//
// How Next() works
// ----------------
// 1. The calendar search (NextCivil) finds the first civil time — a reading of a wall
//    clock, counted in seconds on the proleptic Gregorian calendar — at or after a given
//    reading that matches every field. It never steps second by second: it works from the
//    largest unit down, and each test is a mask-and-count-trailing-zeros on the field's
//    bitset. A month not in the month set is skipped whole; inside a month,
//    MatchingDays() builds one 32-bit mask of the days that match (plain days, L, L-k,
//    W, LW, weekdays, 5L, MON#2, with the Vixie either-or rule) and the next day is the
//    lowest set bit at or above today; then the hour, minute and second the same way.
//    When a unit runs out (no matching minute left in this hour) the next larger unit is
//    advanced and everything below it resets to its minimum. Each pass of the loop moves
//    strictly forward, so the search costs a handful of passes for ordinary expressions
//    and at most a few per month for ones that rarely match; it gives up after 8 years.
//
// 2. A time zone maps real instants to readings. Within one date::sys_info interval (a
//    stretch of constant UTC offset) the mapping is a plain shift, so the search runs on
//    readings and converts back by subtracting the interval's offset; the interval is
//    looked up once and kept while the candidate stays inside it.
//
//    * Elapsed time (hour field "*" or a step, and all of UTC): the answer is the first
//      real second after `after` whose reading matches. Search the readings of the
//      current interval; if the hit lies beyond the interval's end, continue from the
//      start of the next interval with its offset. Across a fall-back the readings repeat,
//      so a repeated 01:15 fires twice; across a spring-forward the missing readings
//      never occur and simply do not fire.
//
//    * Wall time (fixed hours): every matching reading L fires at
//        f(L) = the first instant whose reading is >= L,
//      which is L itself when it exists once, its first occurrence in an overlap, and the
//      end of the gap when L falls in one. f never decreases as L grows, so the next fire
//      after `after` is f of the first matching L above the highest reading seen so far
//      (the current reading, or the reading just before a fall-back in the last 26 hours
//      — that is what keeps the second pass through an overlap silent).
//      Several readings in one gap map to the same instant, so the gap fires once.
//
// @every ignores all of this: the answer is the next multiple of the period since the
// Unix epoch.
#include "cron/cron.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <exception>

namespace taskmill::cron {
namespace {

using std::chrono::seconds;
using Spec = internal::Spec;

constexpr int kSearchYears = 8;  // covers 29 February across 2100 (2096 → 2104)
constexpr int kMaxIntervalCrossings = 256;
constexpr int64_t kSecondsPerDay = 86'400;
// Larger than any change of UTC offset (offsets range from -12:00 to +14:00).
constexpr seconds kMaxOffsetChange{26 * 3600};
// Next() answers for instants in years 1-9990 (date's calendar reaches ±32767).
const TimePoint kEarliestSupported = date::sys_days{date::year{1} / 1 / 1};
const TimePoint kLatestSupported = date::sys_days{date::year{9990} / 1 / 1};

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

constexpr unsigned kDaysInMonth[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

bool IsLeap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

unsigned DaysInMonth(int year, unsigned month) {
  return month == 2 && IsLeap(year) ? 29 : kDaysInMonth[month];
}

int64_t DaysFromCivil(int year, unsigned month, unsigned day) {
  return date::sys_days{date::year{year} / date::month{month} / date::day{day}}
      .time_since_epoch()
      .count();
}

// 0 = Sunday. 1970-01-01 was a Thursday.
unsigned WeekdayOf(int64_t days_since_epoch) {
  int64_t weekday = (days_since_epoch + 4) % 7;
  if (weekday < 0) weekday += 7;
  return static_cast<unsigned>(weekday);
}

int YearOfCivil(int64_t civil_seconds) {
  date::sys_days day{date::days{FloorDiv(civil_seconds, kSecondsPerDay)}};
  return static_cast<int>(date::year_month_day{day}.year());
}

// The first civil second >= `from` that matches `spec`, or nullopt past `last_year`.
std::optional<int64_t> NextCivil(const Spec& spec, int64_t from, int last_year) {
  const int64_t day_number = FloorDiv(from, kSecondsPerDay);
  const auto second_of_day = static_cast<unsigned>(from - day_number * kSecondsPerDay);
  const date::year_month_day start{date::sys_days{date::days{day_number}}};
  int year = static_cast<int>(start.year());
  unsigned month = static_cast<unsigned>(start.month());
  unsigned day = static_cast<unsigned>(start.day());
  unsigned hour = second_of_day / 3600;
  unsigned minute = second_of_day / 60 % 60;
  unsigned second = second_of_day % 60;

  // MatchingDays() of (mask_year, mask_month), kept while the search stays in that month.
  int mask_year = INT_MIN;
  unsigned mask_month = 0;
  uint32_t month_days = 0;

  for (;;) {
    if (year > last_year) return std::nullopt;
    const uint32_t months = spec.months & (~uint32_t{0} << month);
    if (months == 0) {
      ++year;
      month = 1;
      day = 1;
      hour = minute = second = 0;
      continue;
    }
    if (const auto m = static_cast<unsigned>(std::countr_zero(months)); m != month) {
      month = m;
      day = 1;
      hour = minute = second = 0;
    }

    if (year != mask_year || month != mask_month) {
      const unsigned length = DaysInMonth(year, month);
      month_days = internal::MatchingDays(spec, WeekdayOf(DaysFromCivil(year, month, 1)), length);
      mask_year = year;
      mask_month = month;
    }
    const uint64_t days = uint64_t{month_days} & (~uint64_t{0} << day);  // day <= 32
    if (days == 0) {
      if (++month > 12) {
        ++year;
        month = 1;
      }
      day = 1;
      hour = minute = second = 0;
      continue;
    }
    if (const auto d = static_cast<unsigned>(std::countr_zero(days)); d != day) {
      day = d;
      hour = minute = second = 0;
    }

    const uint32_t hours = spec.hours & (~uint32_t{0} << hour);  // hour <= 23
    if (hours == 0) {
      ++day;
      hour = minute = second = 0;
      continue;
    }
    if (const auto h = static_cast<unsigned>(std::countr_zero(hours)); h != hour) {
      hour = h;
      minute = second = 0;
    }

    const uint64_t minutes = spec.minutes & (~uint64_t{0} << minute);  // minute <= 59
    if (minutes == 0) {
      minute = second = 0;
      if (++hour == 24) {
        hour = 0;
        ++day;
      }
      continue;
    }
    if (const auto m = static_cast<unsigned>(std::countr_zero(minutes)); m != minute) {
      minute = m;
      second = 0;
    }

    const uint64_t secs = spec.seconds & (~uint64_t{0} << second);  // second <= 59
    if (secs == 0) {
      second = 0;
      if (++minute == 60) {
        minute = 0;
        if (++hour == 24) {
          hour = 0;
          ++day;
        }
      }
      continue;
    }
    second = static_cast<unsigned>(std::countr_zero(secs));
    return DaysFromCivil(year, month, day) * kSecondsPerDay + hour * 3600 + minute * 60 + second;
  }
}

TimePoint FromSeconds(int64_t unix_seconds) { return TimePoint{seconds{unix_seconds}}; }

}  // namespace

namespace internal {

uint32_t MatchingDays(const Spec& spec, unsigned first_weekday, unsigned days_in_month) {
  const unsigned n = days_in_month;
  const uint32_t valid = ((uint32_t{1} << n) - 1) << 1;  // bits 1..n
  const unsigned last_weekday = (first_weekday + n - 1) % 7;
  uint32_t by_dom = 0;
  uint32_t by_dow = 0;
  if (spec.dom_restricted) {
    by_dom = spec.dom_days & valid;
    for (uint32_t last = spec.dom_last; last != 0; last &= last - 1) {
      const auto offset = static_cast<unsigned>(std::countr_zero(last));
      if (offset < n) by_dom |= uint32_t{1} << (n - offset);
    }
    for (uint32_t near = spec.dom_near_weekday; near != 0; near &= near - 1) {
      const auto target = static_cast<unsigned>(std::countr_zero(near));
      if (target > n) continue;  // "31W" in a 30-day month: no such day, no fire
      const unsigned weekday = (first_weekday + target - 1) % 7;
      unsigned day = target;
      if (weekday == 6) day = target > 1 ? target - 1 : target + 2;  // Sat → Fri, or Mon 3rd
      if (weekday == 0) day = target < n ? target + 1 : target - 2;  // Sun → Mon, or Fri
      by_dom |= uint32_t{1} << day;
    }
    if (spec.dom_last_weekday) {
      const unsigned day = last_weekday == 6 ? n - 1 : last_weekday == 0 ? n - 2 : n;
      by_dom |= uint32_t{1} << day;
    }
  }
  if (spec.dow_restricted) {
    by_dow = spec.dow_days_by_first_weekday[first_weekday] & valid;
    for (uint32_t last = spec.dow_last; last != 0; last &= last - 1) {
      const auto weekday = static_cast<unsigned>(std::countr_zero(last));
      by_dow |= uint32_t{1} << (n - (last_weekday + 7 - weekday) % 7);
    }
    for (unsigned weekday = 0; weekday < 7; ++weekday) {
      const unsigned first = 1 + (weekday + 7 - first_weekday) % 7;
      for (uint32_t nth = spec.dow_nth[weekday]; nth != 0; nth &= nth - 1) {
        const unsigned day = first + 7 * static_cast<unsigned>(std::countr_zero(nth));
        if (day <= n) by_dow |= uint32_t{1} << day;
      }
    }
  }
  if (spec.dom_restricted && spec.dow_restricted) return by_dom | by_dow;
  if (spec.dom_restricted) return by_dom;
  if (spec.dow_restricted) return by_dow;
  return valid;
}

}  // namespace internal

Result<Schedule> Schedule::Parse(std::string_view expression) {
  Result<internal::Spec> spec = internal::ParseSpec(expression);
  TASKMILL_RETURN_IF_ERROR(spec);
  return Schedule(std::string(expression), *spec);
}

std::optional<TimePoint> Schedule::Next(TimePoint after, const date::time_zone* tz) const {
  if (IsEvery()) return NextEvery(after);
  if (after < kEarliestSupported || after > kLatestSupported) return std::nullopt;
  if (tz != nullptr && spec_.wall_clock) return NextWallClock(after, tz);
  return NextElapsed(after, tz);
}

std::optional<TimePoint> Schedule::NextEvery(TimePoint after) const {
  const int64_t period = spec_.every_period.count();
  const int64_t index = FloorDiv(after.time_since_epoch().count(), period);
  if (index >= INT64_MAX / period - 1) return std::nullopt;
  return TimePoint{Duration{(index + 1) * period}};
}

std::optional<TimePoint> Schedule::NextElapsed(TimePoint after, const date::time_zone* tz) const {
  date::sys_seconds earliest = std::chrono::floor<seconds>(after) + seconds{1};
  if (tz == nullptr) {
    const int64_t from = earliest.time_since_epoch().count();
    std::optional<int64_t> civil = NextCivil(spec_, from, YearOfCivil(from) + kSearchYears);
    if (!civil) return std::nullopt;
    return FromSeconds(*civil);
  }
  date::sys_info interval = tz->get_info(earliest);
  const int last_year =
      YearOfCivil((earliest + interval.offset).time_since_epoch().count()) + kSearchYears;
  for (int crossing = 0; crossing < kMaxIntervalCrossings; ++crossing) {
    const int64_t reading = (earliest + interval.offset).time_since_epoch().count();
    std::optional<int64_t> civil = NextCivil(spec_, reading, last_year);
    if (!civil) return std::nullopt;
    const date::sys_seconds candidate{seconds{*civil} - interval.offset};
    if (candidate < interval.end) return candidate;
    // The reading lies past this offset's end: carry on from the next interval.
    earliest = interval.end;
    interval = tz->get_info(earliest);
  }
  return std::nullopt;
}

std::optional<TimePoint> Schedule::NextWallClock(TimePoint after, const date::time_zone* tz) const {
  const date::sys_seconds after_seconds = std::chrono::floor<seconds>(after);
  const date::sys_info interval = tz->get_info(after_seconds);
  // The highest reading shown so far, in microseconds of civil time.
  Duration highest = after.time_since_epoch() + interval.offset;
  if (interval.begin > after_seconds - kMaxOffsetChange) {
    const date::sys_info previous = tz->get_info(interval.begin - seconds{1});
    if (previous.offset > interval.offset) {  // a fall-back: readings went back
      const Duration before_change =
          (interval.begin + previous.offset).time_since_epoch() - Duration{1};
      highest = std::max(highest, before_change);
    }
  }
  const int64_t from = std::chrono::floor<seconds>(highest).count() + 1;
  std::optional<int64_t> civil = NextCivil(spec_, from, YearOfCivil(from) + kSearchYears);
  if (!civil) return std::nullopt;
  const date::sys_seconds candidate{seconds{*civil} - interval.offset};
  if (candidate < interval.end) return candidate;
  // The reading lies beyond this offset's end: resolve it on its own.
  const date::local_info local = tz->get_info(date::local_seconds{seconds{*civil}});
  if (local.result == date::local_info::nonexistent) return local.first.end;
  return date::sys_seconds{seconds{*civil} - local.first.offset};  // unique, or the first of two
}

Result<const date::time_zone*> LocateZone(std::string_view name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return Status::InvalidArgument("unknown time zone '" + std::string(name) + "'");
  }
}

std::string FormatInZone(TimePoint t, const date::time_zone* tz) {
  const seconds offset = tz != nullptr ? tz->get_info(t).offset : seconds{0};
  const int64_t local_micros = (t.time_since_epoch() + offset).count();
  const int64_t local_seconds = FloorDiv(local_micros, 1'000'000);
  const auto micros = static_cast<int>(local_micros - local_seconds * 1'000'000);
  const int64_t day_number = FloorDiv(local_seconds, kSecondsPerDay);
  const auto second_of_day = static_cast<int>(local_seconds - day_number * kSecondsPerDay);
  const date::year_month_day ymd{date::sys_days{date::days{day_number}}};

  char text[64];
  int length = std::snprintf(text, sizeof(text), "%04d-%02u-%02uT%02d:%02d:%02d",
                             static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                             static_cast<unsigned>(ymd.day()), second_of_day / 3600,
                             second_of_day / 60 % 60, second_of_day % 60);
  std::string out(text, static_cast<size_t>(length));
  if (micros != 0) {
    if (micros % 1000 == 0) {
      length = std::snprintf(text, sizeof(text), ".%03d", micros / 1000);
    } else {
      length = std::snprintf(text, sizeof(text), ".%06d", micros);
    }
    out.append(text, static_cast<size_t>(length));
  }
  const int64_t offset_seconds = offset.count();
  const char sign = offset_seconds < 0 ? '-' : '+';
  const int64_t magnitude = offset_seconds < 0 ? -offset_seconds : offset_seconds;
  if (magnitude % 60 != 0) {
    length = std::snprintf(text, sizeof(text), "%c%02d:%02d:%02d", sign,
                           static_cast<int>(magnitude / 3600),
                           static_cast<int>(magnitude / 60 % 60), static_cast<int>(magnitude % 60));
  } else {
    length =
        std::snprintf(text, sizeof(text), "%c%02d:%02d", sign, static_cast<int>(magnitude / 3600),
                      static_cast<int>(magnitude / 60 % 60));
  }
  out.append(text, static_cast<size_t>(length));
  return out;
}

}  // namespace taskmill::cron
