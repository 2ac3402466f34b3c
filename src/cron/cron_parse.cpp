// src/cron/cron_parse.cpp — the strict parser: expression text → Spec.
//
// The grammar, per field (a field is a comma-separated list of items):
//   item    := "*" ["/" step] | value ["-" value] ["/" step] | special
//   value   := digits | name              (names only in month and day-of-week)
//   special := "?"                          (a whole day field on its own)
//            | "L" | "L-" digits | "LW" | digits "W"     (day-of-month only)
//            | value "L" | value "#" digits              (day-of-week only)
// "a/s" means "a-max/s". Every error names the field as the user numbered it.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include "cron/cron_spec.h"

namespace taskmill::cron::internal {
namespace {

enum Field { kSecond, kMinute, kHour, kDayOfMonth, kMonth, kDayOfWeek, kFieldCount };

struct FieldInfo {
  const char* name;
  int min;
  int max;       // largest value accepted (day-of-week: 7, another name for Sunday)
  int star_max;  // largest value "*" and "a/s" reach (day-of-week: 6)
};

constexpr FieldInfo kFieldInfo[kFieldCount] = {
    {"second", 0, 59, 59},       {"minute", 0, 59, 59}, {"hour", 0, 23, 23},
    {"day-of-month", 1, 31, 31}, {"month", 1, 12, 12},  {"day-of-week", 0, 7, 6},
};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsDigits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

bool IsLetters(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) != 0;
  });
}

// Digits to a number; anything longer than 9 digits becomes a value no field accepts.
int DigitsToInt(std::string_view digits) {
  if (digits.size() > 9) return 1'000'000'000;
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value;
}

int DayNameIndex(std::string_view upper) {
  for (size_t i = 0; i < kDayNames.size(); ++i) {
    if (kDayNames[i] == upper) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::vector<std::string_view> SplitBlanks(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// What an item is, judged by its shape alone, so that an L, W or # in the wrong field
// gets an error that says so rather than "not a number".
enum class ItemKind { kPlain, kQuestion, kLastDay, kLastWeekday, kNearWeekday, kLastOf, kNth };

ItemKind Classify(std::string_view item) {
  if (item.find('/') != std::string_view::npos) return ItemKind::kPlain;
  if (item == "?") return ItemKind::kQuestion;
  if (item.find('#') != std::string_view::npos) return ItemKind::kNth;
  std::string upper = Upper(item);
  if (upper == "L" || upper.rfind("L-", 0) == 0) return ItemKind::kLastDay;
  if (upper == "LW") return ItemKind::kLastWeekday;
  std::string_view prefix = std::string_view(upper).substr(0, upper.size() - 1);
  if (upper.size() > 1 && upper.back() == 'W' && IsDigits(prefix)) return ItemKind::kNearWeekday;
  if (upper.size() > 1 && upper.back() == 'L' && (IsDigits(prefix) || DayNameIndex(prefix) >= 0)) {
    return ItemKind::kLastOf;
  }
  return ItemKind::kPlain;
}

class FieldParser {
 public:
  // `position` is the field's number in the user's expression (1-based).
  FieldParser(Field field, int position, Spec* spec)
      : field_(field), position_(position), info_(kFieldInfo[field]), spec_(spec) {}

  Status Parse(std::string_view text) {
    if (text == "?" && (field_ == kDayOfMonth || field_ == kDayOfWeek)) return Status::Ok();
    for (std::string_view item : Split(text, ',')) {
      if (item.empty()) return Error("empty item in list '" + std::string(text) + "'");
      TASKMILL_RETURN_IF_ERROR(ParseItem(item));
    }
    return Status::Ok();
  }

 private:
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("field " + std::to_string(position_) + " (" + info_.name +
                                   "): " + what);
  }

  Status OnlyIn(std::string_view item, const char* feature, const char* field) const {
    return Error("'" + std::string(item) + "' uses " + feature + ", which is only allowed in " +
                 field);
  }

  Status ParseItem(std::string_view item) {
    const bool dom = field_ == kDayOfMonth;
    const bool dow = field_ == kDayOfWeek;
    switch (Classify(item)) {
      case ItemKind::kPlain:
        return ParsePlain(item);
      case ItemKind::kQuestion:
        if (dom || dow) return Error("'?' must be the whole field, not part of a list");
        return Error("'?' is only allowed in day-of-month and day-of-week");
      case ItemKind::kLastDay:
        if (!dom) {
          if (dow && Upper(item) == "L") {
            return Error(
                "'L' alone means the last day of the month, which is only allowed in "
                "day-of-month; for the last Friday write 5L or FRIL");
          }
          return OnlyIn(item, "L (last day of the month)", "day-of-month");
        }
        return ParseLastDay(item);
      case ItemKind::kLastWeekday:
        if (!dom) return OnlyIn(item, "LW (last weekday of the month)", "day-of-month");
        spec_->dom_last_weekday = true;
        return Status::Ok();
      case ItemKind::kNearWeekday:
        if (!dom) return OnlyIn(item, "W (nearest weekday)", "day-of-month");
        return ParseNearWeekday(item);
      case ItemKind::kLastOf:
        if (!dow) return OnlyIn(item, "L after a weekday (last of the month)", "day-of-week");
        return ParseLastOf(item);
      case ItemKind::kNth:
        if (!dow) return OnlyIn(item, "# (nth weekday of the month)", "day-of-week");
        return ParseNth(item);
    }
    return Status::Ok();
  }

  // A number or (month, day-of-week) a name, checked against [min, max].
  Result<int> ParseValue(std::string_view token) const {
    if (IsDigits(token)) {
      int value = DigitsToInt(token);
      if (value < info_.min || value > info_.max) {
        return Error(std::string(token) + " is out of range " + std::to_string(info_.min) + "-" +
                     std::to_string(info_.max));
      }
      return value;
    }
    if (IsLetters(token) && (field_ == kMonth || field_ == kDayOfWeek)) {
      std::string upper = Upper(token);
      if (field_ == kMonth) {
        for (size_t i = 0; i < kMonthNames.size(); ++i) {
          if (kMonthNames[i] == upper) return static_cast<int>(i) + 1;
        }
        return Error("unknown month name '" + std::string(token) + "' (expected JAN-DEC)");
      }
      int day = DayNameIndex(upper);
      if (day >= 0) return day;
      return Error("unknown day name '" + std::string(token) + "' (expected SUN-SAT)");
    }
    return Error("'" + std::string(token) + "' is not a number or name");
  }

  Status ParsePlain(std::string_view item) {
    std::vector<std::string_view> slash = Split(item, '/');
    if (slash.size() > 2) return Error("'" + std::string(item) + "' has more than one '/'");
    std::string_view base = slash[0];
    int low;
    int high;
    if (base == "*") {
      low = info_.min;
      high = info_.star_max;
    } else if (base.empty()) {
      return Error("'" + std::string(item) + "' has nothing before the '/'");
    } else {
      std::vector<std::string_view> dash = Split(base, '-');
      if (dash.size() > 2 || dash[0].empty() || (dash.size() == 2 && dash[1].empty())) {
        return Error("'" + std::string(base) + "' is not a number, name or range");
      }
      Result<int> first = ParseValue(dash[0]);
      TASKMILL_RETURN_IF_ERROR(first);
      low = *first;
      high = slash.size() == 2 ? info_.star_max : low;  // "a/s" runs to the end
      if (dash.size() == 2) {
        Result<int> last = ParseValue(dash[1]);
        TASKMILL_RETURN_IF_ERROR(last);
        high = *last;
        // "MON-SUN": a range that ends on Sunday by name ends on 7.
        if (field_ == kDayOfWeek && high == 0 && low > 0 && Upper(dash[1]) == "SUN") high = 7;
        if (low > high) {
          return Error("range " + std::string(base) + " is reversed (the start must not be " +
                       "after the end)");
        }
      }
    }
    int step = 1;
    if (slash.size() == 2) {
      std::string_view step_text = slash[1];
      if (!IsDigits(step_text)) {
        return Error("step '" + std::string(step_text) + "' in '" + std::string(item) +
                     "' is not a number");
      }
      step = DigitsToInt(step_text);
      const int span = info_.star_max - info_.min + 1;
      if (step < 1 || step > span) {
        return Error("step " + std::string(step_text) + " in '" + std::string(item) +
                     "' is out of range 1-" + std::to_string(span));
      }
    }
    for (int value = low; value <= high; value += step) Set(value);
    return Status::Ok();
  }

  void Set(int value) {
    switch (field_) {
      case kSecond:
        spec_->seconds |= uint64_t{1} << value;
        break;
      case kMinute:
        spec_->minutes |= uint64_t{1} << value;
        break;
      case kHour:
        spec_->hours |= uint32_t{1} << value;
        break;
      case kDayOfMonth:
        spec_->dom_days |= uint32_t{1} << value;
        break;
      case kMonth:
        spec_->months = static_cast<uint16_t>(spec_->months | (1u << value));
        break;
      case kDayOfWeek:
        spec_->dow_days = static_cast<uint8_t>(spec_->dow_days | (1u << (value % 7)));
        break;
      case kFieldCount:
        break;
    }
  }

  // "L" or "L-k".
  Status ParseLastDay(std::string_view item) {
    if (item.size() == 1) {
      spec_->dom_last |= 1u;
      return Status::Ok();
    }
    std::string_view offset = item.substr(2);
    if (!IsDigits(offset)) {
      return Error("'" + std::string(item) + "' is not L, L-<days> or LW");
    }
    int days = DigitsToInt(offset);
    if (days > 30) {
      return Error("offset " + std::string(offset) + " in '" + std::string(item) +
                   "' is out of range 0-30");
    }
    spec_->dom_last |= uint32_t{1} << days;
    return Status::Ok();
  }

  // "15W".
  Status ParseNearWeekday(std::string_view item) {
    Result<int> day = ParseValue(item.substr(0, item.size() - 1));
    TASKMILL_RETURN_IF_ERROR(day);
    spec_->dom_near_weekday |= uint32_t{1} << *day;
    return Status::Ok();
  }

  // "5L", "FRIL".
  Status ParseLastOf(std::string_view item) {
    Result<int> day = ParseValue(item.substr(0, item.size() - 1));
    TASKMILL_RETURN_IF_ERROR(day);
    spec_->dow_last = static_cast<uint8_t>(spec_->dow_last | (1u << (*day % 7)));
    return Status::Ok();
  }

  // "MON#2", "1#2".
  Status ParseNth(std::string_view item) {
    std::vector<std::string_view> parts = Split(item, '#');
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return Error("'" + std::string(item) + "' is not <weekday>#<n>, e.g. MON#2");
    }
    Result<int> day = ParseValue(parts[0]);
    TASKMILL_RETURN_IF_ERROR(day);
    if (!IsDigits(parts[1])) {
      return Error("occurrence '" + std::string(parts[1]) + "' in '" + std::string(item) +
                   "' is not a number");
    }
    int nth = DigitsToInt(parts[1]);
    if (nth < 1 || nth > 5) {
      return Error("occurrence " + std::string(parts[1]) + " in '" + std::string(item) +
                   "' is out of range 1-5");
    }
    uint8_t& mask = spec_->dow_nth[*day % 7];
    mask = static_cast<uint8_t>(mask | (1u << (nth - 1)));
    return Status::Ok();
  }

  Field field_;
  int position_;
  FieldInfo info_;
  Spec* spec_;
};

struct Macro {
  std::string_view name;
  std::string_view fields;
};

constexpr Macro kMacros[] = {
    {"@yearly", "0 0 0 1 1 *"}, {"@annually", "0 0 0 1 1 *"}, {"@monthly", "0 0 0 1 * *"},
    {"@weekly", "0 0 0 * * 0"}, {"@daily", "0 0 0 * * *"},    {"@midnight", "0 0 0 * * *"},
    {"@hourly", "0 0 * * * *"}, {"@minutely", "0 * * * * *"},
};

constexpr int64_t kMillisPerDay = 86'400'000;
constexpr int64_t kMaxEveryDays = 366;

// "90s", "1h30m", "1500ms", "2d": one or more <digits><unit> terms.
Result<Duration> ParseEveryDuration(std::string_view text) {
  auto error = [&](const std::string& what) { return Status::InvalidArgument("@every: " + what); };
  int64_t total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t digits_start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == digits_start) {
      return error("'" + std::string(text) +
                   "' is not a duration (expected terms like 90s, 1h30m or 1500ms)");
    }
    std::string_view digits = text.substr(digits_start, i - digits_start);
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = Upper(text.substr(unit_start, i - unit_start));
    int64_t unit_ms;
    if (unit == "MS") {
      unit_ms = 1;
    } else if (unit == "S") {
      unit_ms = 1000;
    } else if (unit == "M") {
      unit_ms = 60'000;
    } else if (unit == "H") {
      unit_ms = 3'600'000;
    } else if (unit == "D") {
      unit_ms = kMillisPerDay;
    } else if (unit.empty()) {
      return error("'" + std::string(digits) + "' in '" + std::string(text) +
                   "' has no unit (expected ms, s, m, h or d)");
    } else {
      return error("unknown unit '" + std::string(text.substr(unit_start, i - unit_start)) +
                   "' in '" + std::string(text) + "' (expected ms, s, m, h or d)");
    }
    // Each term is capped before multiplying, so nothing overflows.
    int64_t amount = digits.size() > 12 ? kMaxEveryDays * kMillisPerDay + 1 : 0;
    if (amount == 0) {
      for (char c : digits) amount = amount * 10 + (c - '0');
    }
    if (amount > kMaxEveryDays * kMillisPerDay) amount = kMaxEveryDays * kMillisPerDay + 1;
    total_ms += amount * unit_ms;
    if (total_ms > kMaxEveryDays * kMillisPerDay) {
      return error(std::string(text) + " is longer than the maximum of " +
                   std::to_string(kMaxEveryDays) + "d");
    }
  }
  if (total_ms < 1000) {
    return error(std::string(text) + " is shorter than the minimum of 1s");
  }
  return Duration(total_ms * 1000);
}

Result<Spec> ParseMacro(const std::vector<std::string_view>& words) {
  const std::string name = Lower(words[0]);
  if (name == "@every") {
    if (words.size() != 2) {
      return Status::InvalidArgument(
          "@every takes one duration without spaces, e.g. '@every 90s' or '@every 1h30m'");
    }
    Result<Duration> period = ParseEveryDuration(words[1]);
    TASKMILL_RETURN_IF_ERROR(period);
    Spec spec;
    spec.every_period = *period;
    return spec;
  }
  for (const Macro& macro : kMacros) {
    if (macro.name != name) continue;
    if (words.size() != 1) {
      return Status::InvalidArgument("'" + std::string(words[0]) + "' takes no arguments, got '" +
                                     std::string(words[1]) + "'");
    }
    return ParseSpec(macro.fields);
  }
  return Status::InvalidArgument(
      "unknown macro '" + std::string(words[0]) +
      "' (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, "
      "@minutely or @every <duration>)");
}

constexpr int kMaxDaysInMonth[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

// Rejects a day-of-month that no selected month has (e.g. "0 0 0 30 2 *"), which would
// otherwise parse and then never fire.
Status CheckDaysExist(const Spec& spec, std::string_view dom_text, std::string_view month_text,
                      int dom_position) {
  if (!spec.dom_restricted || spec.dow_restricted) return Status::Ok();
  if (spec.dom_last_weekday) return Status::Ok();
  for (int month = 1; month <= 12; ++month) {
    if ((spec.months & (1u << month)) == 0) continue;
    const int length = kMaxDaysInMonth[month];
    const uint32_t valid = ((uint32_t{1} << length) - 1) << 1;
    const uint32_t last_valid = (uint32_t{1} << length) - 1;  // "L-k" needs k < length
    if (((spec.dom_days | spec.dom_near_weekday) & valid) != 0) return Status::Ok();
    if ((spec.dom_last & last_valid) != 0) return Status::Ok();
  }
  return Status::InvalidArgument("field " + std::to_string(dom_position) + " (day-of-month): '" +
                                 std::string(dom_text) + "' never occurs in month '" +
                                 std::string(month_text) + "'");
}

}  // namespace

Result<Spec> ParseSpec(std::string_view expression) {
  std::vector<std::string_view> words = SplitBlanks(expression);
  if (words.empty()) return Status::InvalidArgument("empty cron expression");
  if (words[0].front() == '@') return ParseMacro(words);
  if (words.size() != 5 && words.size() != 6) {
    return Status::InvalidArgument(
        "expected 5 or 6 fields (second minute hour day-of-month month day-of-week), got " +
        std::to_string(words.size()));
  }
  // Five fields have no seconds: fire at second 0.
  const bool has_seconds = words.size() == 6;
  std::array<std::string_view, kFieldCount> texts;
  if (!has_seconds) texts[kSecond] = "0";
  for (size_t i = 0; i < words.size(); ++i) texts[i + (has_seconds ? 0 : 1)] = words[i];

  Spec spec;
  for (int field = 0; field < kFieldCount; ++field) {
    const int position = has_seconds ? field + 1 : field;
    FieldParser parser(static_cast<Field>(field), position, &spec);
    TASKMILL_RETURN_IF_ERROR(parser.Parse(texts[field]));
  }
  spec.dom_restricted = texts[kDayOfMonth] != "*" && texts[kDayOfMonth] != "?";
  spec.dow_restricted = texts[kDayOfWeek] != "*" && texts[kDayOfWeek] != "?";
  if (!spec.dom_restricted) spec.dom_days = ((uint32_t{1} << 31) - 1) << 1;
  if (!spec.dow_restricted) spec.dow_days = 0x7f;
  spec.wall_clock = texts[kHour].find_first_of("*/") == std::string_view::npos;
  for (unsigned first = 0; first < 7; ++first) {
    uint32_t days = 0;
    for (unsigned day = 1; day <= 31; ++day) {
      if (spec.dow_days & (1u << ((first + day - 1) % 7))) days |= uint32_t{1} << day;
    }
    spec.dow_days_by_first_weekday[first] = days;
  }
  TASKMILL_RETURN_IF_ERROR(CheckDaysExist(spec, texts[kDayOfMonth], texts[kMonth],
                                          has_seconds ? kDayOfMonth + 1 : kDayOfMonth));
  return spec;
}

}  // namespace taskmill::cron::internal
