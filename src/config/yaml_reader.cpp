// The typed YAML reader (yaml_reader.h): scalar syntax, messages and suggestions.
#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <utility>

namespace taskmill::config {
namespace {

// [-+]?[0-9]+
bool LooksLikeInteger(std::string_view s) {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), IsDigit);
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool LooksLikeNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = digits();
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    frac_digits = digits();
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

Parsed ParseNumber(std::string_view s, double* out) {
  if (!LooksLikeNumber(s)) return Parsed::kSyntax;
  if (s.front() == '+') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec == std::errc::result_out_of_range || !std::isfinite(*out)) return Parsed::kRange;
  return ec == std::errc() && end == s.data() + s.size() ? Parsed::kOk : Parsed::kSyntax;
}

// Only the YAML 1.2 spellings: `yes`, `on` and friends are errors rather than
// booleans, so that a country code `NO` or a word never flips a flag by accident.
std::optional<bool> ParseBool(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// A scalar written in quotes or tagged !!str is a string even when it reads "12".
bool IsStringTagged(const YAML::Node& node) {
  return node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str";
}

// Renders a number bound for messages: 1 rather than 1.000000.
std::string FormatNumber(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Levenshtein distance, case-insensitive (so `Kind` suggests `kind`).
size_t EditDistance(std::string_view a_in, std::string_view b_in) {
  std::string a = ToLower(a_in);
  std::string b = ToLower(b_in);
  std::vector<size_t> previous(b.size() + 1);
  std::vector<size_t> current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 0; i < a.size(); ++i) {
    current[0] = i + 1;
    for (size_t j = 0; j < b.size(); ++j) {
      size_t substitution = previous[j] + (a[i] == b[j] ? 0 : 1);
      current[j + 1] = std::min({previous[j + 1] + 1, current[j] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

}  // namespace

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Parsed ParseInteger(std::string_view s, int64_t* out) {
  if (!LooksLikeInteger(s)) return Parsed::kSyntax;
  if (s.front() == '+') s.remove_prefix(1);  // from_chars rejects a leading '+'
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec == std::errc::result_out_of_range) return Parsed::kRange;
  return ec == std::errc() && end == s.data() + s.size() ? Parsed::kOk : Parsed::kSyntax;
}

// What a value is, for "expected …, got …" messages.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar: {
      constexpr size_t kMaxShown = 60;
      const std::string& text = node.Scalar();
      if (text.size() <= kMaxShown) return "'" + text + "'";
      return "'" + text.substr(0, kMaxShown) + "...'";
    }
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

int LineOf(const YAML::Node& node) {
  int line = node.Mark().line;  // 0-based, -1 when unknown
  return line < 0 ? 0 : line + 1;
}

// "a", "a or b", "a, b or c".
std::string JoinChoices(const std::vector<std::string_view>& choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += choices[i];
  }
  return out;
}

std::string JoinKeys(const std::vector<std::string_view>& keys) {
  std::string out;
  for (std::string_view key : keys) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

// The closest candidate within a third of the word's length (at least 1, at most 3
// edits), or empty: far-off suggestions mislead more than they help. A word that is
// the start of a candidate also matches, as a last resort, because a dropped unit
// suffix (`kill_grace` for `kill_grace_sec`) is a common slip.
std::string_view ClosestMatch(std::string_view word,
                              const std::vector<std::string_view>& candidates) {
  size_t threshold = std::clamp<size_t>(word.size() / 3, 1, 3);
  std::string_view best;
  size_t best_distance = threshold + 2;
  for (std::string_view candidate : candidates) {
    size_t distance = EditDistance(word, candidate);
    bool is_prefix = word.size() >= 4 && ToLower(candidate).starts_with(ToLower(word));
    if (distance > threshold && is_prefix) distance = threshold + 1;
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string JoinPath(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string IndexPath(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

void YamlReader::ForEachEntry(const YAML::Node& map, const std::string& path, const Visit& visit) {
  if (map.IsNull()) return;  // `section:` with nothing under it: all defaults
  if (!map.IsMap()) {
    Error(map, path.empty() ? "(top level)" : path, "expected a mapping, got " + Describe(map));
    return;
  }
  std::map<std::string, int> first_line;  // key → line where it was first given
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary pair, so a reference to
    // it->first would dangle. A Node is a cheap handle.
    const YAML::Node key_node = it->first;
    const YAML::Node value = it->second;
    if (!key_node.IsScalar()) {
      Error(key_node, path.empty() ? "(top level)" : path,
            "keys must be strings, got " + Describe(key_node));
      continue;
    }
    const std::string& key = key_node.Scalar();
    std::string key_path = JoinPath(path, key);
    // yaml-cpp keeps both entries of a repeated key; silently using one would hide
    // an edit made to the other.
    auto [seen, inserted] = first_line.emplace(key, LineOf(key_node));
    if (!inserted) {
      Error(key_node, key_path,
            "duplicate key (first given on line " + std::to_string(seen->second) + ")");
      continue;
    }
    visit(key_node, key, key_path, value);
  }
}

void YamlReader::ReadFields(const YAML::Node& map, const std::string& path,
                            const std::vector<Field>& fields) {
  ForEachEntry(map, path,
               [&](const YAML::Node& key_node, const std::string& key, const std::string& key_path,
                   const YAML::Node& value) {
                 auto field = std::find_if(fields.begin(), fields.end(),
                                           [&](const Field& f) { return f.key == key; });
                 if (field == fields.end()) {
                   std::vector<std::string_view> keys;
                   keys.reserve(fields.size());
                   for (const Field& f : fields) keys.push_back(f.key);
                   std::string_view suggestion = ClosestMatch(key, keys);
                   Error(key_node, key_path,
                         suggestion.empty()
                             ? "unknown key; accepted keys: " + JoinKeys(keys)
                             : "unknown key (did you mean '" + std::string(suggestion) + "'?)");
                   return;
                 }
                 if (value.IsNull()) return;  // `key:` or `key: ~` keeps the default
                 field->apply(value, key_path);
               });
}

std::optional<std::string> YamlReader::String(const YAML::Node& value, const std::string& path) {
  if (!value.IsScalar()) {
    Error(value, path, "expected a string, got " + Describe(value));
    return std::nullopt;
  }
  return value.Scalar();
}

std::optional<std::string> YamlReader::NonEmptyString(const YAML::Node& value,
                                                      const std::string& path) {
  auto text = String(value, path);
  if (text && text->empty()) {
    Error(value, path, "must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<bool> YamlReader::Bool(const YAML::Node& value, const std::string& path) {
  std::optional<bool> parsed;
  if (value.IsScalar() && !IsStringTagged(value)) parsed = ParseBool(value.Scalar());
  if (!parsed) Error(value, path, "expected true or false, got " + Describe(value));
  return parsed;
}

std::optional<int64_t> YamlReader::Integer(const YAML::Node& value, const std::string& path,
                                           int64_t min, int64_t max) {
  int64_t number = 0;
  Parsed parsed = value.IsScalar() ? ParseInteger(value.Scalar(), &number) : Parsed::kSyntax;
  if (parsed == Parsed::kSyntax) {
    Error(value, path, "expected an integer, got " + Describe(value));
    return std::nullopt;
  }
  if (parsed == Parsed::kRange) {
    Error(value, path,
          "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
              value.Scalar());
    return std::nullopt;
  }
  if (number < min) {
    Error(value, path, "must be at least " + std::to_string(min) + ", got " + value.Scalar());
    return std::nullopt;
  }
  if (number > max) {
    Error(value, path, "must be at most " + std::to_string(max) + ", got " + value.Scalar());
    return std::nullopt;
  }
  return number;
}

std::optional<double> YamlReader::Number(const YAML::Node& value, const std::string& path,
                                         std::string_view expected, const NumberRule& rule) {
  double number = 0;
  Parsed parsed = value.IsScalar() ? ParseNumber(value.Scalar(), &number) : Parsed::kSyntax;
  if (parsed == Parsed::kSyntax) {
    Error(value, path, "expected " + std::string(expected) + ", got " + Describe(value));
    return std::nullopt;
  }
  if (parsed == Parsed::kRange || number > rule.max) {
    Error(value, path, "must be at most " + FormatNumber(rule.max) + ", got " + value.Scalar());
    return std::nullopt;
  }
  if (rule.min_exclusive ? number <= rule.min : number < rule.min) {
    Error(value, path,
          std::string(rule.min_exclusive ? "must be greater than " : "must be at least ") +
              FormatNumber(rule.min) + ", got " + value.Scalar());
    return std::nullopt;
  }
  return number;
}

std::optional<Duration> YamlReader::Seconds(const YAML::Node& value, const std::string& path,
                                            bool allow_zero) {
  auto seconds = Number(value, path, "a number of seconds",
                        NumberRule{.min = 0, .min_exclusive = !allow_zero, .max = kMaxSeconds});
  if (!seconds) return std::nullopt;
  return Duration(std::llround(*seconds * 1e6));
}

std::optional<std::string> YamlReader::Choice(const YAML::Node& value, const std::string& path,
                                              std::string_view what,
                                              const std::vector<std::string_view>& choices) {
  auto text = String(value, path);
  if (!text) return std::nullopt;
  if (std::find(choices.begin(), choices.end(), *text) != choices.end()) return text;
  std::string message =
      "unknown " + std::string(what) + " '" + *text + "'; expected " + JoinChoices(choices);
  std::string_view suggestion = ClosestMatch(*text, choices);
  if (!suggestion.empty()) message += " (did you mean '" + std::string(suggestion) + "'?)";
  Error(value, path, std::move(message));
  return std::nullopt;
}

std::optional<std::vector<std::string>> YamlReader::StringList(const YAML::Node& value,
                                                               const std::string& path) {
  if (!value.IsSequence()) {
    Error(value, path, "expected a list of strings, got " + Describe(value));
    return std::nullopt;
  }
  std::vector<std::string> items;
  bool ok = true;
  size_t index = 0;
  for (auto it = value.begin(); it != value.end(); ++it, ++index) {
    auto item = String(*it, IndexPath(path, index));
    if (item) {
      items.push_back(std::move(*item));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return items;
}

// Plain scalars resolve as in JSON-compatible YAML 1.2: true/false, integers, decimal
// numbers; anything else (and anything quoted) is a string.
boost::json::value YamlReader::ScalarToJson(const YAML::Node& value) {
  const std::string& text = value.Scalar();
  if (IsStringTagged(value)) return boost::json::value(text);
  if (auto flag = ParseBool(text)) return boost::json::value(*flag);
  int64_t integer = 0;
  if (LooksLikeInteger(text)) {
    if (ParseInteger(text, &integer) == Parsed::kOk) return boost::json::value(integer);
    uint64_t unsigned_integer = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), unsigned_integer);
    if (ec == std::errc() && end == text.data() + text.size()) {
      return boost::json::value(unsigned_integer);
    }
  }
  double number = 0;
  if (ParseNumber(text, &number) == Parsed::kOk) return boost::json::value(number);
  return boost::json::value(text);  // too large for JSON numbers, or a word
}

std::optional<boost::json::value> YamlReader::Json(const YAML::Node& value,
                                                   const std::string& path) {
  switch (value.Type()) {
    case YAML::NodeType::Null:
      return boost::json::value(nullptr);
    case YAML::NodeType::Scalar:
      return ScalarToJson(value);
    case YAML::NodeType::Sequence: {
      boost::json::array array;
      bool ok = true;
      size_t index = 0;
      for (auto it = value.begin(); it != value.end(); ++it, ++index) {
        auto item = Json(*it, IndexPath(path, index));
        if (item) {
          array.push_back(std::move(*item));
        } else {
          ok = false;
        }
      }
      if (!ok) return std::nullopt;
      return boost::json::value(std::move(array));
    }
    case YAML::NodeType::Map: {
      boost::json::object object;
      size_t errors_before = errors_.size();
      ForEachEntry(value, path,
                   [&](const YAML::Node&, const std::string& key, const std::string& key_path,
                       const YAML::Node& item) {
                     if (auto converted = Json(item, key_path)) object[key] = std::move(*converted);
                   });
      if (errors_.size() != errors_before) return std::nullopt;
      return boost::json::value(std::move(object));
    }
    case YAML::NodeType::Undefined:
      break;
  }
  Error(value, path, "expected a value");
  return std::nullopt;
}

Status YamlReader::ErrorStatus() {
  if (errors_.empty()) return Status::Ok();
  std::stable_sort(errors_.begin(), errors_.end(),
                   [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
  std::string message;
  boost::json::array details;
  for (const ConfigError& error : errors_) {
    if (!message.empty()) message += '\n';
    message += source_;
    if (error.line > 0) message += ":" + std::to_string(error.line);
    message += ": ";
    if (!error.path.empty()) message += error.path + ": ";
    message += error.message;
    details.push_back(boost::json::object{
        {"file", source_}, {"line", error.line}, {"path", error.path}, {"message", error.message}});
  }
  return Status::InvalidArgument(std::move(message),
                                 boost::json::object{{"errors", std::move(details)}});
}

}  // namespace taskmill::config
