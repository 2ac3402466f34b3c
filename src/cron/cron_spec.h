// src/cron/cron_spec.h — the compiled form of a cron expression (internal to src/cron/).
//
// ParseSpec() turns the text of an expression into a Spec: one bitset per field, plus
// the L / W / # items of the two day fields, which cannot be bitsets because what they
// select depends on the month. Schedule (cron.h) owns a Spec and searches it; nothing
// outside src/cron/ should include this header. A Spec is a plain immutable value.
#pragma once

#include <cstdint>
#include <string_view>

#include "taskmill/clock.h"
#include "taskmill/status.h"

namespace taskmill::cron::internal {

struct Spec {
  // @every <duration>: the period of the epoch-aligned grid. When it is non-zero every
  // other member is unused.
  Duration every_period{0};

  uint64_t seconds = 0;  // bit s: second s (0-59)
  uint64_t minutes = 0;  // bit m: minute m (0-59)
  uint32_t hours = 0;    // bit h: hour h (0-23)
  uint16_t months = 0;   // bit m: month m (1-12)

  // Day of month.
  uint32_t dom_days = 0;          // bit d: day d (1-31)
  uint32_t dom_last = 0;          // bit k: "L-k", k days before the last day ("L" is k = 0)
  uint32_t dom_near_weekday = 0;  // bit d: "dW", the weekday nearest to day d
  bool dom_last_weekday = false;  // "LW", the last weekday (Mon-Fri) of the month

  // Day of week, 0 = Sunday.
  uint8_t dow_days = 0;     // bit w: every weekday w
  uint8_t dow_last = 0;     // bit w: "wL", the last weekday w of the month
  uint8_t dow_nth[7] = {};  // bit k-1 of dow_nth[w]: "w#k", the k-th weekday w of the month

  // A day field is restricted unless its text is exactly "*" or "?". When both are
  // restricted a day matches if either matches (Vixie cron); otherwise only the
  // restricted one (if any) decides.
  bool dom_restricted = false;
  bool dow_restricted = false;

  // True when the hour field names fixed hours (no "*" and no step): such schedules are
  // computed in local wall time (see Schedule::Next for the DST rules). Otherwise they
  // follow real elapsed time.
  bool wall_clock = false;

  // Derived from dow_days: bit d is set when day d (1-31) is one of dow_days in a month
  // whose 1st falls on weekday w. Saves a loop per month in MatchingDays().
  uint32_t dow_days_by_first_weekday[7] = {};
};

// Parses a cron expression (six fields, five fields, or a macro). On failure returns
// InvalidArgument with a message that names the field and the offending text.
Result<Spec> ParseSpec(std::string_view expression);

// Days of `month` in `year` (bit d = day d, 1-31) selected by the two day fields, before
// the month field is considered. `first_weekday` is the weekday of the 1st (0 = Sunday)
// and `days_in_month` its length; both are passed in because the caller has them.
uint32_t MatchingDays(const Spec& spec, unsigned first_weekday, unsigned days_in_month);

}  // namespace taskmill::cron::internal
