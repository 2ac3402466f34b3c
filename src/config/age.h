// config/age.h — ages written with a unit ("30d", "12h"), for the settings that
// speak of how long to keep things (task_storage.history_retention, `serve
// --history-retention`, `prune --older-than`).
#pragma once

#include <taskmill/clock.h>
#include <taskmill/status.h>

#include <string_view>

namespace taskmill::config {

// A positive whole number followed by s, m, h, d (24 h) or w (7 d); a bare number is
// seconds. kInvalidArgument saying what was expected, for anything else or zero.
Result<Duration> ParseAge(std::string_view text);

}  // namespace taskmill::config
