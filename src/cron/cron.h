// src/cron/cron.h — cron schedules: parse an expression, compute its next fire instant.
//
// A Schedule is the compiled form of one cron expression. It is an immutable value:
// Next() is const, allocates nothing and is safe to call from many threads at once.
// Time zones are Howard Hinnant's date/tz zones (IANA names, read from the system
// database /usr/share/zoneinfo); a `const date::time_zone*` lives for the whole process.
//
// Written by hand on purpose: Debian packages no C or C++ cron library (only Go and Ruby
// ones), and no packaged library does this dialect well — the seconds field, L / W / #,
// @every on an epoch grid and, above all, defined behaviour across DST changes, which a
// durable scheduler needs more than anything else here.
//
// Dialect (docs/cron.md has the full reference with examples):
//   sec min hour day-of-month month day-of-week     (five fields: sec = 0)
//   *  ?  a,b  a-b  */s  a-b/s  a/s  JAN-DEC  SUN-SAT (7 = Sunday)
//   day-of-month: L  L-3  15W  LW        day-of-week: 5L (last Friday)  MON#2
//   @yearly @annually @monthly @weekly @daily @midnight @hourly @minutely @every 1h30m
#pragma once

// The Debian/Ubuntu libdate-tz is built with USE_OS_TZDB=1: it reads the system tz
// database and never downloads anything. Every translation unit that includes
// <date/tz.h> must agree with the library, or date::time_zone has two layouts (an ODR
// violation). CMake should say so once for everybody:
//   target_compile_definitions(taskmill PUBLIC USE_OS_TZDB=1 HAS_STRING_VIEW=1)
// The fallback below only covers translation units that reach date/tz.h through here.
#ifndef USE_OS_TZDB
#define USE_OS_TZDB 1
#elif !USE_OS_TZDB
#error "taskmill needs date/tz built with USE_OS_TZDB=1 (the system tz database)"
#endif
#ifndef HAS_STRING_VIEW
#define HAS_STRING_VIEW 1
#endif

#include <date/tz.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "cron/cron_spec.h"
#include "taskmill/clock.h"
#include "taskmill/status.h"

namespace taskmill::cron {

class Schedule {
 public:
  // Strict parse of a six-field, five-field or macro expression. Leading and trailing
  // blanks are ignored; fields are separated by spaces or tabs; names, L, W and macros
  // are case-insensitive. On failure returns InvalidArgument whose message names the
  // field (numbered as the user wrote it) and the offending text, e.g.
  //   "field 4 (month): 13 is out of range 1-12"
  //   "field 1 (second): 'x5' is not a number or name"
  static Result<Schedule> Parse(std::string_view expression);

  // The first fire instant strictly after `after`, evaluated in time zone `tz`
  // (nullptr = UTC). Returns nullopt if there is none in the next 8 years (enough for
  // any 29 February across 2100), or if `after` lies outside the years 1-9990.
  //
  // DST: when the hour field names fixed hours (not "*" and not a step) the schedule
  // lives in local wall time — a local time that falls in a spring-forward gap fires
  // once, at the instant the gap ends; one that falls in a fall-back overlap fires once,
  // at its first occurrence. Otherwise the schedule follows real elapsed time: every
  // instant whose local reading matches fires, so "0 */15 * * * *" fires every 15 real
  // minutes straight through both changes. @every ignores `tz`: it fires on the first
  // multiple of its period since the Unix epoch strictly after `after`.
  std::optional<TimePoint> Next(TimePoint after, const date::time_zone* tz = nullptr) const;

  // The expression exactly as given to Parse().
  const std::string& expression() const { return expression_; }
  // True for "@every <duration>".
  bool IsEvery() const { return spec_.every_period.count() > 0; }
  // The @every period; zero for other schedules.
  Duration every_period() const { return spec_.every_period; }
  // True when the hour field is fixed, i.e. DST gaps and overlaps are resolved in wall
  // time (see Next()).
  bool IsWallClock() const { return spec_.wall_clock; }

 private:
  Schedule(std::string expression, internal::Spec spec)
      : expression_(std::move(expression)), spec_(spec) {}

  std::optional<TimePoint> NextEvery(TimePoint after) const;
  std::optional<TimePoint> NextElapsed(TimePoint after, const date::time_zone* tz) const;
  std::optional<TimePoint> NextWallClock(TimePoint after, const date::time_zone* tz) const;

  std::string expression_;
  internal::Spec spec_;
};

// Looks up an IANA zone name ("Europe/Berlin", "UTC") in the system tz database. The
// first call reads the database's directory (a few milliseconds); the zone itself is
// loaded on first use. Returns InvalidArgument "unknown time zone 'X'" on failure.
Result<const date::time_zone*> LocateZone(std::string_view name);

// Formats an instant as ISO 8601 / RFC 3339 in `tz` (nullptr = UTC) with the zone's
// offset: "2026-01-12T12:00:00-05:00", "2026-07-01T00:00:00+00:00". Fractional seconds
// appear only when non-zero (".250" or ".000250"). Offsets with a seconds part (local
// mean time before ~1900) print as "+HH:MM:SS".
std::string FormatInZone(TimePoint t, const date::time_zone* tz = nullptr);

}  // namespace taskmill::cron
