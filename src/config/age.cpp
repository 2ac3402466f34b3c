#include "config/age.h"

#include <charconv>
#include <chrono>
#include <string>

namespace taskmill::config {

Result<Duration> ParseAge(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not an age; expected a positive whole number and a unit "
                                   "(s, m, h, d or w), e.g. 30d");
  };
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data() || n <= 0) return bad();
  const std::string_view unit(end, text.data() + text.size() - end);
  int64_t seconds_per = 0;
  if (unit.empty() || unit == "s") {
    seconds_per = 1;
  } else if (unit == "m") {
    seconds_per = 60;
  } else if (unit == "h") {
    seconds_per = 3600;
  } else if (unit == "d") {
    seconds_per = 86400;
  } else if (unit == "w") {
    seconds_per = 7 * 86400;
  } else {
    return bad();
  }
  // Ten thousand years is more than any retention, and far from overflowing.
  if (n > int64_t{10'000} * 366 * 86400 / seconds_per) return bad();
  return std::chrono::duration_cast<Duration>(std::chrono::seconds(n * seconds_per));
}

}  // namespace taskmill::config
