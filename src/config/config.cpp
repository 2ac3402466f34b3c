// The configuration loader: yaml-cpp parses, this file checks every key against a
// table of fields and converts values by hand. We do not use yaml-cpp's `as<T>()`
// because it accepts YAML 1.1 spellings (`yes`, `on`, `0x10`) and throws without the
// key path; here every problem becomes one ConfigError and loading goes on, so a user
// sees all mistakes of a file at once.
#include "config/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "bulk/coprocess.h"
#include "config/document_probe.h"
#include "cron/cron.h"

namespace taskmill::config {
namespace {

// Longest duration accepted for any key, so that seconds → microseconds cannot
// overflow (about 31 years; a longer lease or delay is a typo).
constexpr double kMaxSeconds = kMaxUserSeconds;
// Largest task_runner.output_limit: captured output is held in memory per attempt.
constexpr int64_t kMaxOutputLimit = int64_t{1} << 30;
// Largest task_runner.capacity: each slot is a thread, and thousands of them are
// already more than any machine runs at once; a larger number is a typo that would
// otherwise abort the server when the threads cannot be created.
constexpr int64_t kMaxCapacity = 4096;
// Largest max_attempts of a task, as for a run created through the API.
constexpr int64_t kMaxAttempts = 1'000'000;
// A configuration file is a few kilobytes: a huge one is refused before it is read
// (aliases that expand to a huge tree are refused by DocumentProbe).
constexpr size_t kMaxDocumentBytes = size_t{4} << 20;

const std::vector<std::string_view> kRoles = {"api", "scheduler", "runner"};
const std::vector<std::string_view> kSynchronousModes = {"full", "normal"};
const std::vector<std::string_view> kMisfirePolicies = {"skip", "run_once", "run_all"};
const std::vector<std::string_view> kOverlapPolicies = {"skip", "allow"};

struct ConfigError {
  int line = 0;  // 1-based; 0 when yaml-cpp gave no position
  std::string path;
  std::string message;
};

// ---- scalar syntax: YAML 1.2 core schema, decimal numbers only ---------------------

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

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

enum class Parsed { kOk, kSyntax, kRange };

Parsed ParseInteger(std::string_view s, int64_t* out) {
  if (!LooksLikeInteger(s)) return Parsed::kSyntax;
  if (s.front() == '+') s.remove_prefix(1);  // from_chars rejects a leading '+'
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec == std::errc::result_out_of_range) return Parsed::kRange;
  return ec == std::errc() && end == s.data() + s.size() ? Parsed::kOk : Parsed::kSyntax;
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

bool IsTaskNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// `category.action`, each part [a-z0-9_-]+ — the rule of ValidateFunctionName in
// taskmill/function.h, checked here so the message can carry the line.
bool IsFunctionName(std::string_view name) {
  auto part_ok = [](std::string_view part) {
    return !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '_' || c == '-';
    });
  };
  size_t dot = name.find('.');
  return dot != std::string_view::npos && part_ok(name.substr(0, dot)) &&
         part_ok(name.substr(dot + 1));
}

bool IsEnvName(std::string_view name) {
  if (name.empty() || IsDigit(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// host:port with a decimal port 0-65535; an IPv6 host is bracketed ([::1]:8080).
bool IsListenAddress(std::string_view listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = listen.substr(0, colon);
  std::string_view port = listen.substr(colon + 1);
  int64_t port_number = 0;
  if (port.empty() || !std::all_of(port.begin(), port.end(), IsDigit) ||
      ParseInteger(port, &port_number) != Parsed::kOk || port_number > 65535) {
    return false;
  }
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find(':') == std::string_view::npos;  // unbracketed IPv6 is ambiguous
}

// ---- document structure ------------------------------------------------------------



// ---- the loader ------------------------------------------------------------------

// Bounds of a number read from the file.
struct NumberRule {
  double min = 0;
  bool min_exclusive = false;  // "greater than" rather than "at least"
  double max = kMaxSeconds;
};

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) { config_.source = source_; }

  Result<Config> Load(std::string_view yaml);

 private:
  using Apply = std::function<void(const YAML::Node& value, const std::string& path)>;
  // One accepted key of a mapping and what to do with its (non-null) value.
  struct Field {
    std::string_view key;
    Apply apply;
  };
  using Visit = std::function<void(const YAML::Node& key_node, const std::string& key,
                                   const std::string& path, const YAML::Node& value)>;

  void Error(int line, std::string path, std::string message) {
    errors_.push_back({line, std::move(path), std::move(message)});
  }
  void Error(const YAML::Node& at, std::string path, std::string message) {
    Error(LineOf(at), std::move(path), std::move(message));
  }

  void ForEachEntry(const YAML::Node& map, const std::string& path, const Visit& visit);
  void ReadFields(const YAML::Node& map, const std::string& path, const std::vector<Field>& fields);

  std::optional<std::string> String(const YAML::Node& value, const std::string& path);
  std::optional<std::string> NonEmptyString(const YAML::Node& value, const std::string& path);
  std::optional<bool> Bool(const YAML::Node& value, const std::string& path);
  std::optional<int64_t> Integer(const YAML::Node& value, const std::string& path, int64_t min,
                                 int64_t max);
  std::optional<double> Number(const YAML::Node& value, const std::string& path,
                               std::string_view expected, const NumberRule& rule);
  std::optional<Duration> Seconds(const YAML::Node& value, const std::string& path,
                                  bool allow_zero);
  std::optional<std::string> Choice(const YAML::Node& value, const std::string& path,
                                    std::string_view what,
                                    const std::vector<std::string_view>& choices);
  std::optional<std::vector<std::string>> StringList(const YAML::Node& value,
                                                     const std::string& path);
  std::optional<boost::json::value> Json(const YAML::Node& value, const std::string& path);
  boost::json::value ScalarToJson(const YAML::Node& value);

  void ReadRoot(const YAML::Node& root);
  void ReadServer(const YAML::Node& section, const std::string& path);
  void ReadRoles(const YAML::Node& value, const std::string& path);
  void ReadTaskStorage(const YAML::Node& section, const std::string& path);
  void ReadTaskRunner(const YAML::Node& section, const std::string& path);
  void ReadApi(const YAML::Node& section, const std::string& path);
  void ReadTasks(const YAML::Node& section, const std::string& path);
  void ReadTask(const YAML::Node& key_node, const std::string& name, const std::string& path,
                const YAML::Node& value);
  void ReadTriggers(const YAML::Node& section, const std::string& path);
  void ReadBulk(const YAML::Node& section, const std::string& path);
  void ReadFunctionMap(const YAML::Node& section, const std::string& path,
                       void (Loader::*read)(const YAML::Node&, const std::string&,
                                            const std::string&, const YAML::Node&));
  void ReadRunnerQueues(const YAML::Node& value, const std::string& path);
  void ReadRemoteFunction(const YAML::Node& key_node, const std::string& name,
                          const std::string& path, const YAML::Node& value);
  // Rules between sections, once the whole file is read.
  void CheckRemoteFunctions();
  void ReadFunction(const YAML::Node& key_node, const std::string& name, const std::string& path,
                    const YAML::Node& value);
  std::optional<std::vector<std::string>> TriggerFunctions(const YAML::Node& value,
                                                           const std::string& path);

  Result<Config> Finish();

  std::string source_;
  Config config_;
  std::vector<bool> ttr_given_;  // per task of config_.tasks: has its own time_to_resolve
  std::vector<bool> queue_given_;  // per task of config_.tasks: has its own queue
  std::vector<int> remote_lines_;  // per remote function: line of its queue (or of its name)
  std::vector<ConfigError> errors_;
};

void Loader::ForEachEntry(const YAML::Node& map, const std::string& path, const Visit& visit) {
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

void Loader::ReadFields(const YAML::Node& map, const std::string& path,
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

std::optional<std::string> Loader::String(const YAML::Node& value, const std::string& path) {
  if (!value.IsScalar()) {
    Error(value, path, "expected a string, got " + Describe(value));
    return std::nullopt;
  }
  return value.Scalar();
}

std::optional<std::string> Loader::NonEmptyString(const YAML::Node& value,
                                                  const std::string& path) {
  auto text = String(value, path);
  if (text && text->empty()) {
    Error(value, path, "must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<bool> Loader::Bool(const YAML::Node& value, const std::string& path) {
  std::optional<bool> parsed;
  if (value.IsScalar() && !IsStringTagged(value)) parsed = ParseBool(value.Scalar());
  if (!parsed) Error(value, path, "expected true or false, got " + Describe(value));
  return parsed;
}

std::optional<int64_t> Loader::Integer(const YAML::Node& value, const std::string& path,
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

std::optional<double> Loader::Number(const YAML::Node& value, const std::string& path,
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

std::optional<Duration> Loader::Seconds(const YAML::Node& value, const std::string& path,
                                        bool allow_zero) {
  auto seconds = Number(value, path, "a number of seconds",
                        NumberRule{.min = 0, .min_exclusive = !allow_zero, .max = kMaxSeconds});
  if (!seconds) return std::nullopt;
  return Duration(std::llround(*seconds * 1e6));
}

std::optional<std::string> Loader::Choice(const YAML::Node& value, const std::string& path,
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

std::optional<std::vector<std::string>> Loader::StringList(const YAML::Node& value,
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
boost::json::value Loader::ScalarToJson(const YAML::Node& value) {
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

std::optional<boost::json::value> Loader::Json(const YAML::Node& value, const std::string& path) {
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

void Loader::ReadRoot(const YAML::Node& root) {
  ReadFields(
      root, "",
      {
          {"server", [&](const YAML::Node& v, const std::string& p) { ReadServer(v, p); }},
          {"api", [&](const YAML::Node& v, const std::string& p) { ReadApi(v, p); }},
          {"task_storage",
           [&](const YAML::Node& v, const std::string& p) { ReadTaskStorage(v, p); }},
          {"task_runner", [&](const YAML::Node& v, const std::string& p) { ReadTaskRunner(v, p); }},
          {"tasks", [&](const YAML::Node& v, const std::string& p) { ReadTasks(v, p); }},
          {"triggers", [&](const YAML::Node& v, const std::string& p) { ReadTriggers(v, p); }},
          {"bulk", [&](const YAML::Node& v, const std::string& p) { ReadBulk(v, p); }},
          {"functions",
           [&](const YAML::Node& v, const std::string& p) {
             ReadFunctionMap(v, p, &Loader::ReadFunction);
           }},
          {"remote_functions",
           [&](const YAML::Node& v, const std::string& p) {
             ReadFunctionMap(v, p, &Loader::ReadRemoteFunction);
           }},
      });
}

void Loader::ReadServer(const YAML::Node& section, const std::string& path) {
  ServerSection& server = config_.server;
  ReadFields(section, path,
             {
                 {"listen",
                  [&](const YAML::Node& v, const std::string& p) {
                    auto listen = String(v, p);
                    if (!listen) return;
                    if (!IsListenAddress(*listen)) {
                      Error(v, p, "expected host:port (e.g. 127.0.0.1:8080), got " + Describe(v));
                      return;
                    }
                    server.listen = *listen;
                  }},
                 {"data_dir",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto dir = NonEmptyString(v, p)) server.data_dir = *dir;
                  }},
                 {"storage",
                  [&](const YAML::Node& v, const std::string& p) {
                    // Checked when opened (OpenStorage), which knows the supported schemes.
                    if (auto url = String(v, p)) server.storage = *url;
                  }},
                 {"synchronous",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto mode = Choice(v, p, "synchronous mode", kSynchronousModes)) {
                      server.synchronous = *mode;
                    }
                  }},
                 {"roles", [&](const YAML::Node& v, const std::string& p) { ReadRoles(v, p); }},
             });
}

void Loader::ReadRoles(const YAML::Node& value, const std::string& path) {
  if (!value.IsSequence()) {
    Error(value, path,
          "expected a list of roles (" + JoinKeys(kRoles) + "), got " + Describe(value));
    return;
  }
  if (value.size() == 0) {
    Error(value, path, "at least one role is required; choose from " + JoinChoices(kRoles));
    return;
  }
  std::vector<std::string> roles;
  bool ok = true;
  size_t index = 0;
  for (auto it = value.begin(); it != value.end(); ++it, ++index) {
    std::string item_path = IndexPath(path, index);
    auto role = Choice(*it, item_path, "role", kRoles);
    if (!role) {
      ok = false;
    } else if (std::find(roles.begin(), roles.end(), *role) != roles.end()) {
      Error(*it, item_path, "role '" + *role + "' is listed twice");
      ok = false;
    } else {
      roles.push_back(std::move(*role));
    }
  }
  if (ok) config_.server.roles = std::move(roles);
}

void Loader::ReadTaskStorage(const YAML::Node& section, const std::string& path) {
  ReadFields(section, path,
             {
                 {"task_ttr",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto ttr = Seconds(v, p, /*allow_zero=*/false)) config_.task_ttr = *ttr;
                  }},
                 {"task_log_max_size",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto size = Integer(v, p, 1, INT_MAX)) {
                      config_.task_log_max_size = static_cast<int>(*size);
                    }
                  }},
             });
}

void Loader::ReadTaskRunner(const YAML::Node& section, const std::string& path) {
  ReadFields(section, path,
             {
                 {"capacity",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto capacity = Integer(v, p, 1, kMaxCapacity)) {
                      config_.runner_capacity = static_cast<int>(*capacity);
                    }
                  }},
                 {"prefetch",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto prefetch = Integer(v, p, 0, 1'000'000)) {
                      config_.runner_prefetch = static_cast<int>(*prefetch);
                    }
                  }},
                 {"output_limit",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto limit = Integer(v, p, 0, kMaxOutputLimit)) {
                      config_.runner_output_limit = static_cast<size_t>(*limit);
                    }
                  }},
                 {"kill_grace_sec",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto grace = Seconds(v, p, /*allow_zero=*/true))
                      config_.kill_grace = *grace;
                  }},
                 {"queues",
                  [&](const YAML::Node& v, const std::string& p) { ReadRunnerQueues(v, p); }},
             });
}

void Loader::ReadApi(const YAML::Node& section, const std::string& path) {
  ApiSection& api = config_.api;
  auto integer = [&](auto* out, int64_t min, int64_t max) {
    return [this, out, min, max](const YAML::Node& v, const std::string& p) {
      if (auto value = Integer(v, p, min, max)) *out = static_cast<std::decay_t<decltype(*out)>>(*value);
    };
  };
  auto seconds = [&](Duration* out, bool allow_zero) {
    return [this, out, allow_zero](const YAML::Node& v, const std::string& p) {
      if (auto value = Seconds(v, p, allow_zero)) *out = *value;
    };
  };
  ReadFields(section, path,
             {
                 {"threads", integer(&api.threads, 1, 256)},
                 {"max_json_body", integer(&api.max_json_body, 1024, int64_t{1} << 30)},
                 {"max_header", integer(&api.max_header, 1024, int64_t{64} << 20)},
                 {"request_timeout_sec", seconds(&api.request_timeout, false)},
                 {"idle_timeout_sec", seconds(&api.idle_timeout, false)},
                 {"max_connections", integer(&api.max_connections, 1, 1 << 20)},
                 {"max_wait_sec", seconds(&api.max_wait, true)},
                 {"allow_command_tasks",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto allow = Bool(v, p)) api.allow_command_tasks = *allow;
                  }},
                 {"tls_cert",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto file = String(v, p)) api.tls_cert = *file;
                  }},
                 {"tls_key",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto file = String(v, p)) api.tls_key = *file;
                  }},
             });
  if (api.tls_cert.empty() != api.tls_key.empty()) {
    Error(section, path, "tls_cert and tls_key go together: give both, or neither");
  }
}

// task_runner.queues: a non-empty list of distinct queue names. An empty list is an
// error rather than "every queue", which is what leaving the key out means.
void Loader::ReadRunnerQueues(const YAML::Node& value, const std::string& path) {
  auto queues = StringList(value, path);
  if (!queues) return;
  if (queues->empty()) {
    Error(value, path, "at least one queue is required; omit the key to serve every queue");
    return;
  }
  bool ok = true;
  for (size_t i = 0; i < queues->size(); ++i) {
    const std::string& queue = (*queues)[i];
    const YAML::Node item = value[i];
    if (!IsValidQueueName(queue)) {
      Error(item, IndexPath(path, i),
            "invalid queue name '" + queue + "'; use 1-100 of letters, digits, '_', '.', ':', '-'");
      ok = false;
    } else if (std::find(queues->begin(), queues->begin() + static_cast<std::ptrdiff_t>(i),
                         queue) != queues->begin() + static_cast<std::ptrdiff_t>(i)) {
      Error(item, IndexPath(path, i), "queue '" + queue + "' is listed twice");
      ok = false;
    }
  }
  if (ok) config_.runner_queues = std::move(*queues);
}

void Loader::ReadTasks(const YAML::Node& section, const std::string& path) {
  if (!section.IsMap()) {
    Error(section, path,
          "expected a mapping of task names to task definitions, got " + Describe(section));
    return;
  }
  ForEachEntry(
      section, path,
      [&](const YAML::Node& key_node, const std::string& name, const std::string& task_path,
          const YAML::Node& value) { ReadTask(key_node, name, task_path, value); });
}

void Loader::ReadTriggers(const YAML::Node& section, const std::string& path) {
  TriggerBindings& triggers = config_.triggers;
  auto bind = [&](std::vector<std::string>* out) {
    return [this, out](const YAML::Node& v, const std::string& p) {
      if (auto names = TriggerFunctions(v, p)) *out = std::move(*names);
    };
  };
  ReadFields(section, path,
             {
                 {"minutely", bind(&triggers.minutely)},
                 {"hourly", bind(&triggers.hourly)},
                 {"daily", bind(&triggers.daily)},
                 {"each_account", bind(&triggers.each_account)},
                 {"browse_interval_sec",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto interval = Seconds(v, p, /*allow_zero=*/false)) {
                      triggers.browse_interval = *interval;
                    }
                  }},
             });
}

// The functions bound to one trigger: a list of function names, each at most once.
// Whether they are registered is checked when the engine opens (Engine::Open), which
// knows the registry.
std::optional<std::vector<std::string>> Loader::TriggerFunctions(const YAML::Node& value,
                                                                 const std::string& path) {
  if (!value.IsSequence()) {
    Error(value, path, "expected a list of function names, got " + Describe(value));
    return std::nullopt;
  }
  std::vector<std::string> names;
  bool ok = true;
  size_t index = 0;
  for (auto it = value.begin(); it != value.end(); ++it, ++index) {
    std::string item_path = IndexPath(path, index);
    auto name = String(*it, item_path);
    if (!name) {
      ok = false;
    } else if (!IsFunctionName(*name)) {
      Error(*it, item_path,
            "expected a function name category.action (lower-case letters, digits, '_' and "
            "'-', one dot), got " +
                Describe(*it));
      ok = false;
    } else if (name->starts_with("trigger.")) {
      Error(*it, item_path, "'" + *name + "' is a trigger; bind the functions it calls instead");
      ok = false;
    } else if (std::find(names.begin(), names.end(), *name) != names.end()) {
      Error(*it, item_path, "function '" + *name + "' is bound twice");
      ok = false;
    } else {
      names.push_back(std::move(*name));
    }
  }
  if (!ok) return std::nullopt;
  return names;
}

void Loader::ReadTask(const YAML::Node& key_node, const std::string& name, const std::string& path,
                      const YAML::Node& value) {
  const int task_line = LineOf(key_node);
  if (name.empty() || !std::all_of(name.begin(), name.end(), IsTaskNameChar)) {
    Error(task_line, path,
          "invalid task name '" + name + "'; use letters, digits, '_', '.' and '-'");
    return;
  }
  if (name.starts_with("trigger.")) {
    // The scheduler's own trigger tasks (trigger.hourly, ...) are named so.
    Error(task_line, path,
          "task names starting with 'trigger.' are reserved for the headless triggers");
    return;
  }
  if (!value.IsNull() && !value.IsMap()) {
    Error(value, path, "expected a mapping of task settings, got " + Describe(value));
    return;
  }

  const size_t errors_before = errors_.size();
  TaskDef task;
  task.name = name;
  // Lines of keys that other keys constrain; 0 when absent.
  int func_name_line = 0;
  int command_line = 0;
  int schedule_line = 0;
  int timezone_line = 0;
  bool command_is_string = false;
  bool ttr_given = false;
  bool queue_given = false;
  std::vector<std::pair<std::string, int>> command_only_keys;  // key path, line
  std::string func_name;

  auto seconds_into = [&](Duration* out) {
    return [this, out](const YAML::Node& v, const std::string& p) {
      if (auto d = Seconds(v, p, /*allow_zero=*/true)) *out = *d;
    };
  };

  std::vector<Field> fields = {
      {"kind",
       [&](const YAML::Node& v, const std::string& p) {
         std::vector<std::string_view> kinds;
         for (TaskKind k : {TaskKind::kSingleShot, TaskKind::kPeriodical, TaskKind::kContinuous}) {
           kinds.push_back(ToString(k));
         }
         if (auto kind = Choice(v, p, "kind", kinds)) task.kind = *ParseTaskKind(*kind);
       }},
      {"func_name",
       [&](const YAML::Node& v, const std::string& p) {
         func_name_line = LineOf(v);
         auto text = String(v, p);
         if (!text) return;
         if (!IsFunctionName(*text)) {
           Error(v, p,
                 "expected a function name category.action (lower-case letters, digits, '_' "
                 "and '-', one dot), got " +
                     Describe(v));
           return;
         }
         func_name = *text;
       }},
      {"command",
       [&](const YAML::Node& v, const std::string& p) {
         command_line = LineOf(v);
         if (v.IsScalar()) {
           command_is_string = true;
           if (v.Scalar().empty()) {
             Error(v, p, "must not be empty");
             return;
           }
           task.command = {v.Scalar()};
           return;
         }
         if (!v.IsSequence()) {
           Error(v, p,
                 "expected a list [program, arg, ...] (or a string with shell: true), got " +
                     Describe(v));
           return;
         }
         auto argv = StringList(v, p);
         if (!argv) return;
         if (argv->empty() || argv->front().empty()) {
           Error(v, p, "the first element must name the program to run");
           return;
         }
         task.command = std::move(*argv);
       }},
      {"shell",
       [&](const YAML::Node& v, const std::string& p) {
         command_only_keys.emplace_back(p, LineOf(v));
         if (auto shell = Bool(v, p)) task.shell = *shell;
       }},
      {"working_dir",
       [&](const YAML::Node& v, const std::string& p) {
         command_only_keys.emplace_back(p, LineOf(v));
         if (auto dir = String(v, p)) task.working_dir = *dir;
       }},
      {"env",
       [&](const YAML::Node& v, const std::string& p) {
         command_only_keys.emplace_back(p, LineOf(v));
         ForEachEntry(v, p,
                      [&](const YAML::Node& env_key, const std::string& env_name,
                          const std::string& env_path, const YAML::Node& env_value) {
                        if (!IsEnvName(env_name)) {
                          Error(
                              env_key, env_path,
                              "invalid environment variable name; use letters, digits and '_', not "
                              "starting with a digit");
                          return;
                        }
                        if (env_value.IsNull()) {  // `NAME:` sets an empty value
                          task.env.emplace_back(env_name, "");
                        } else if (auto text = String(env_value, env_path)) {
                          task.env.emplace_back(env_name, *text);
                        }
                      });
       }},
      {"args",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto args = Json(v, p)) task.args = std::move(*args);
       }},
      {"time_to_resolve",
       [&](const YAML::Node& v, const std::string& p) {
         ttr_given = true;
         if (auto ttr = Seconds(v, p, /*allow_zero=*/false)) task.time_to_resolve = *ttr;
       }},
      {"timeout",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto timeout = Seconds(v, p, /*allow_zero=*/false)) task.timeout = *timeout;
       }},
      {"max_attempts",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto attempts = Integer(v, p, 1, kMaxAttempts)) {
           task.retry.max_attempts = static_cast<int>(*attempts);
         }
       }},
      {"delay", seconds_into(&task.retry.delay)},
      {"delay_factor",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto factor = Number(v, p, "a number", NumberRule{.min = 1, .max = 1e6})) {
           task.retry.delay_factor = *factor;
         }
       }},
      {"max_delay",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto max_delay = Seconds(v, p, /*allow_zero=*/true)) task.retry.max_delay = *max_delay;
       }},
      {"pause_sec", seconds_into(&task.pause)},
      {"schedule",
       [&](const YAML::Node& v, const std::string& p) {
         schedule_line = LineOf(v);
         // Parsed below, once the kind is known (src/cron owns the dialect and its
         // messages).
         if (auto schedule = NonEmptyString(v, p)) task.schedule = *schedule;
       }},
      {"timezone",
       [&](const YAML::Node& v, const std::string& p) {
         timezone_line = LineOf(v);
         if (auto timezone = NonEmptyString(v, p)) task.timezone = *timezone;
       }},
      {"misfire",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto misfire = Choice(v, p, "misfire policy", kMisfirePolicies)) {
           task.misfire = *misfire;
         }
       }},
      {"misfire_max",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto max = Integer(v, p, 1, INT_MAX)) task.misfire_max = static_cast<int>(*max);
       }},
      {"overlap",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto overlap = Choice(v, p, "overlap policy", kOverlapPolicies)) {
           task.overlap = *overlap;
         }
       }},
      {"queue",
       [&](const YAML::Node& v, const std::string& p) {
         queue_given = true;
         if (auto queue = NonEmptyString(v, p)) task.queue = *queue;
       }},
      {"priority",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto priority = Integer(v, p, INT_MIN, INT_MAX)) {
           task.priority = static_cast<int>(*priority);
         }
       }},
      {"enabled",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto enabled = Bool(v, p)) task.enabled = *enabled;
       }},
  };
  ReadFields(value, path, fields);

  // Rules between keys. Each is checked only when the keys involved were given, so a
  // typo in one key does not also produce a confusing second error here.
  if (func_name_line == 0 && command_line == 0) {
    Error(task_line, path, "one of func_name or command is required");
  } else if (func_name_line != 0 && command_line != 0) {
    Error(task_line, path, "func_name and command are mutually exclusive; give only one");
  } else if (command_line != 0) {
    task.function = "task." + name;
    // The runner registers a command task as this function, and the registry accepts
    // only lower-case category.action names; say so here rather than at startup.
    if (!IsFunctionName(task.function)) {
      Error(task_line, path,
            "a command task's name must be lower-case letters, digits, '_' and '-' (it is "
            "registered as the function '" +
                task.function + "')");
    }
    if (command_is_string && !task.shell) {
      Error(command_line, path + ".command",
            "a command given as one string needs shell: true; otherwise give a list "
            "[program, arg, ...]");
    }
  } else {
    task.function = func_name;
    for (const auto& [key_path, line] : command_only_keys) {
      Error(line, key_path, "only command tasks use this key (this task has func_name)");
    }
  }
  if (task.kind == TaskKind::kPeriodical && task.schedule.empty() && schedule_line == 0) {
    Error(task_line, path, "periodical tasks need a schedule");
  } else if (task.kind != TaskKind::kPeriodical && schedule_line != 0) {
    Error(schedule_line, path + ".schedule",
          "only periodical tasks have a schedule (this task's kind is " +
              std::string(ToString(task.kind)) + ")");
  }
  // The cron parser and the tz database decide, so that a task that could never be
  // scheduled fails the load rather than being skipped with a log line at run time.
  if (task.kind == TaskKind::kPeriodical && !task.schedule.empty()) {
    auto schedule = cron::Schedule::Parse(task.schedule);
    if (!schedule.ok()) Error(schedule_line, path + ".schedule", schedule.status().message());
  }
  if (timezone_line != 0 && !task.timezone.empty()) {
    auto zone = cron::LocateZone(task.timezone);
    if (!zone.ok()) {
      Error(timezone_line, path + ".timezone",
            zone.status().message() + "; expected an IANA name such as UTC or Europe/Berlin");
    }
  }
  // The model's own rule, in case it is stricter than the checks above; skipped when
  // a retry key was already reported so one mistake gives one message.
  if (errors_.size() == errors_before) {
    Status retry_status = task.retry.Validate();
    if (!retry_status.ok()) Error(task_line, path, retry_status.message());
  }

  config_.tasks.push_back(std::move(task));
  ttr_given_.push_back(ttr_given);
  queue_given_.push_back(queue_given);
}

// `bulk:` — BulkOptions.
void Loader::ReadBulk(const YAML::Node& section, const std::string& path) {
  BulkOptions& bulk = config_.bulk;
  ReadFields(section, path,
             {
                 {"max_file_size",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto size = Integer(v, p, 1024, INT64_MAX)) bulk.max_file_size = *size;
                  }},
                 {"max_record_size",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto size = Integer(v, p, 1024, int64_t{1} << 30)) {
                      bulk.max_record_size = static_cast<size_t>(*size);
                    }
                  }},
                 {"progress_every",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto rows = Integer(v, p, 1, INT64_MAX)) bulk.progress_every = *rows;
                  }},
                 {"wait_after_row_ms",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto ms = Integer(v, p, 0, 3'600'000)) {
                      bulk.wait_after_row = std::chrono::milliseconds(*ms);
                    }
                  }},
             });
}

// `functions:` and `remote_functions:`: maps of function names to definitions, each
// entry read by `read` once its name is known to be a valid function name.
void Loader::ReadFunctionMap(const YAML::Node& section, const std::string& path,
                             void (Loader::*read)(const YAML::Node&, const std::string&,
                                                  const std::string&, const YAML::Node&)) {
  if (!section.IsMap()) {
    Error(section, path,
          "expected a mapping of function names to definitions, got " + Describe(section));
    return;
  }
  ForEachEntry(section, path,
               [&](const YAML::Node& key_node, const std::string& name,
                   const std::string& function_path, const YAML::Node& value) {
                 if (!IsFunctionName(name)) {
                   Error(LineOf(key_node), function_path,
                         "invalid function name '" + name +
                             "'; expected category.action (lower-case letters, digits, '_' "
                             "and '-', one dot)");
                   return;
                 }
                 (this->*read)(key_node, name, function_path, value);
               });
}

// A function of `functions:`: a bulk function run by a co-process (CoprocessSpec).
void Loader::ReadFunction(const YAML::Node& key_node, const std::string& name,
                          const std::string& path, const YAML::Node& value) {
  const int line = LineOf(key_node);
  if (!value.IsMap()) {
    Error(value, path, "expected a mapping of function settings, got " + Describe(value));
    return;
  }
  const size_t errors_before = errors_.size();
  CoprocessSpec spec;
  spec.info.name = name;
  spec.info.input = "csv";
  int process_line = 0;
  std::vector<std::pair<std::string, int>> verify_lines;  // column, line
  auto list_into = [&](std::vector<std::string>* out) {
    return [this, out](const YAML::Node& v, const std::string& p) {
      if (auto items = StringList(v, p)) *out = std::move(*items);
    };
  };
  ReadFields(
      value, path,
      {
          {"description",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto text = String(v, p)) spec.info.description = *text;
           }},
          {"doc",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto text = String(v, p)) spec.info.doc = *text;
           }},
          {"input",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto input = Choice(v, p, "input", {"csv", "none"})) spec.info.input = *input;
           }},
          {"mandatory", list_into(&spec.info.mandatory)},
          {"optional", list_into(&spec.info.optional)},
          {"output_header", list_into(&spec.info.output_header)},
          {"header", list_into(&spec.header)},
          {"verify",
           [&](const YAML::Node& v, const std::string& p) {
             ForEachEntry(v, p,
                          [&](const YAML::Node& column_key, const std::string& column,
                              const std::string& column_path, const YAML::Node& pattern) {
                            auto text = NonEmptyString(pattern, column_path);
                            if (!text) return;
                            auto compiled = bulk::CompileVerifiers({{column, *text}});
                            if (!compiled.ok()) {
                              Error(pattern, column_path,
                                    "not a valid regular expression (ECMAScript): " + *text);
                              return;
                            }
                            spec.verifiers[column] = *text;
                            verify_lines.emplace_back(column, LineOf(column_key));
                          });
           }},
          {"process",
           [&](const YAML::Node& v, const std::string& p) {
             process_line = LineOf(v);
             auto argv = StringList(v, p);
             if (!argv) return;
             if (argv->empty() || argv->front().empty()) {
               Error(v, p, "the first element must name the program to run");
               return;
             }
             spec.argv = std::move(*argv);
           }},
          {"protocol",
           [&](const YAML::Node& v, const std::string& p) { Choice(v, p, "protocol", {"jsonl"}); }},
          {"working_dir",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto dir = String(v, p)) spec.working_dir = *dir;
           }},
          {"env",
           [&](const YAML::Node& v, const std::string& p) {
             ForEachEntry(v, p,
                          [&](const YAML::Node& env_key, const std::string& env_name,
                              const std::string& env_path, const YAML::Node& env_value) {
                            if (!IsEnvName(env_name)) {
                              Error(env_key, env_path,
                                    "invalid environment variable name; use letters, digits and "
                                    "'_', not starting with a digit");
                              return;
                            }
                            if (env_value.IsNull()) {
                              spec.env.emplace_back(env_name, "");
                            } else if (auto text = String(env_value, env_path)) {
                              spec.env.emplace_back(env_name, *text);
                            }
                          });
           }},
          {"pipeline",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = Integer(v, p, 1, 10000)) spec.pipeline = static_cast<int>(*n);
           }},
          {"max_restarts",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = Integer(v, p, 0, 1000)) spec.max_restarts = static_cast<int>(*n);
           }},
          {"kill_grace_sec",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto grace = Seconds(v, p, /*allow_zero=*/true)) spec.kill_grace = *grace;
           }},
          {"stop_on_error",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto stop = Bool(v, p)) spec.stop_on_error = *stop;
           }},
          {"progress_every",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto rows = Integer(v, p, 1, INT64_MAX)) spec.progress_every = *rows;
           }},
          {"wait_after_row_ms",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto ms = Integer(v, p, 0, 3'600'000)) {
               spec.wait_after_row = std::chrono::milliseconds(*ms);
             }
           }},
      });

  // Rules between keys, each only when its keys were read without error.
  if (process_line == 0 && errors_.size() == errors_before) {
    Error(line, path, "process is required: the program to start, e.g. [\"python3\", \"my.py\"]");
  }
  std::vector<std::string_view> declared;
  for (const auto& c : spec.info.mandatory) declared.push_back(c);
  for (const auto& c : spec.info.optional) declared.push_back(c);
  for (const auto& [column, column_line] : verify_lines) {
    if (std::find(declared.begin(), declared.end(), column) == declared.end()) {
      std::string_view suggestion = ClosestMatch(column, declared);
      Error(column_line, path + ".verify." + column,
            "not a mandatory or optional column" +
                (suggestion.empty() ? std::string()
                                    : " (did you mean '" + std::string(suggestion) + "'?)"));
    }
  }
  if (errors_.size() == errors_before) {
    // The spec's own rules (columns declared twice, input vs columns, ...), with the
    // function's line; its messages already name the function.
    Status valid = spec.Validate();
    if (!valid.ok()) Error(line, path, valid.message());
  }
  config_.functions.push_back(std::move(spec));
}

// A function of `remote_functions:`: declared here, executed by workers that take its
// runs over HTTP (docs/remote-runners.md).
void Loader::ReadRemoteFunction(const YAML::Node& key_node, const std::string& name,
                                const std::string& path, const YAML::Node& value) {
  const int line = LineOf(key_node);
  if (!value.IsMap()) {
    Error(value, path, "expected a mapping with at least queue, got " + Describe(value));
    return;
  }
  FunctionInfo info;
  info.name = name;
  info.handler_kind = "remote";
  int queue_line = 0;
  ReadFields(value, path,
             {
                 {"queue",
                  [&](const YAML::Node& v, const std::string& p) {
                    queue_line = LineOf(v);
                    auto queue = NonEmptyString(v, p);
                    if (!queue) return;
                    if (!IsValidQueueName(*queue)) {
                      Error(v, p,
                            "invalid queue name '" + *queue +
                                "'; use 1-100 of letters, digits, '_', '.', ':', '-'");
                      return;
                    }
                    info.queue = *queue;
                  }},
                 {"description",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto text = String(v, p)) info.description = *text;
                  }},
                 {"doc",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto text = String(v, p)) info.doc = *text;
                  }},
             });
  if (queue_line == 0) {
    Error(line, path,
          "queue is required: the queue the remote runners take this function's runs from");
  }
  config_.remote_functions.push_back(std::move(info));
  remote_lines_.push_back(queue_line != 0 ? queue_line : line);
}

void Loader::CheckRemoteFunctions() {
  for (size_t i = 0; i < config_.remote_functions.size(); ++i) {
    const FunctionInfo& remote = config_.remote_functions[i];
    const std::string path = "remote_functions." + remote.name;
    for (const CoprocessSpec& spec : config_.functions) {
      if (spec.info.name == remote.name) {
        Error(remote_lines_[i], path, "also declared under functions; declare it once");
      }
    }
    if (remote.queue.empty()) continue;  // reported where it was read
    // The same rule as CheckRemoteQueues, with the line of the queue.
    if (HasRole(config_.server, "runner") &&
        (config_.runner_queues.empty() ||
         std::find(config_.runner_queues.begin(), config_.runner_queues.end(), remote.queue) !=
             config_.runner_queues.end())) {
      Error(remote_lines_[i], path + ".queue",
            "queue '" + remote.queue +
                "' would also be served by this process's runner, which cannot run remote "
                "functions; list the local queues in task_runner.queues (e.g. [default]) or "
                "leave out the runner role");
    }
  }
  // A task of a remote function goes where the function's workers take, unless it says
  // otherwise.
  for (size_t i = 0; i < config_.tasks.size(); ++i) {
    if (queue_given_[i]) continue;
    for (const FunctionInfo& remote : config_.remote_functions) {
      if (remote.name == config_.tasks[i].function && !remote.queue.empty()) {
        config_.tasks[i].queue = remote.queue;
      }
    }
  }
}

Result<Config> Loader::Load(std::string_view yaml) {
  if (yaml.size() > kMaxDocumentBytes) {
    Error(0, "",
          "the file is " + std::to_string(yaml.size()) + " bytes; a configuration may be at most " +
              std::to_string(kMaxDocumentBytes >> 20) + " MiB");
    return Finish();
  }
  std::string text(yaml);
  try {
    // First walk the documents without building nodes, reading at most three.
    // yaml-cpp 0.7 never consumes a stray ',' at the start of a document: it reports
    // an empty document there again and again, so YAML::LoadAll never returns, and
    // YAML::Load returns an empty root, which would load as "all defaults" (yaml-cpp
    // issue #1040, fixed upstream after 0.8). A document whose root starts where the
    // previous one did is that loop; report it as the syntax error it is.
    constexpr int kMaxDocumentsProbed = 3;
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    DocumentProbe probe;
    for (int i = 0; i < kMaxDocumentsProbed && parser.HandleNextDocument(probe); ++i) {
    }
    const std::vector<YAML::Mark>& roots = probe.roots();
    for (size_t i = 1; i < roots.size(); ++i) {
      if (roots[i].pos == roots[i - 1].pos) {
        size_t pos = static_cast<size_t>(roots[i].pos);
        std::string found = pos < text.size() ? "'" + text.substr(pos, 1) + "'" : "end of file";
        Error(roots[i].line + 1, "", "invalid YAML: unexpected " + found);
        return Finish();
      }
    }
    if (roots.size() > 1) {
      Error(roots[1].line + 1, "",
            "expected one YAML document, found more than one (remove the '---' separators)");
    }
    if (probe.expansion_line() > 0) {
      // Refused before any node is built or walked.
      Error(probe.expansion_line(), "",
            "the YAML aliases expand to more than " + std::to_string(kMaxExpandedNodes) +
                " nodes; a configuration may reuse anchors, but not multiply them this much");
      return Finish();
    }
    if (!roots.empty()) ReadRoot(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    // Syntax errors, and yaml-cpp's guard against too deeply nested documents.
    Error(e.mark.is_null() ? 0 : e.mark.line + 1, "", "invalid YAML: " + e.msg);
  }
  // task_storage may come after tasks in the file, so the default is applied last.
  for (size_t i = 0; i < config_.tasks.size(); ++i) {
    if (!ttr_given_[i]) config_.tasks[i].time_to_resolve = config_.task_ttr;
  }
  CheckRemoteFunctions();
  return Finish();
}

Result<Config> Loader::Finish() {
  if (errors_.empty()) return std::move(config_);
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

}  // namespace

Result<Config> LoadString(std::string_view yaml, std::string source_name) {
  return Loader(std::move(source_name)).Load(yaml);
}

Result<Config> LoadFile(const std::string& path) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    return Status::NotFound(path + ": no such file");
  }
  if (status.type() == std::filesystem::file_type::directory) {
    return Status::InvalidArgument(path + ": is a directory, expected a YAML file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument(path + ": cannot read: " + std::strerror(errno));
  return LoadString(text.str(), path);
}

std::string StorageUrl(const ServerSection& server) {
  if (!server.storage.empty()) return server.storage;
  return (std::filesystem::path(server.data_dir) / "taskmill.db").string();
}

bool HasRole(const ServerSection& server, std::string_view role) {
  return std::find(server.roles.begin(), server.roles.end(), role) != server.roles.end();
}

Status CheckRemoteQueues(const Config& config) {
  if (!HasRole(config.server, "runner")) return Status::Ok();
  const std::vector<std::string>& local = config.runner_queues;
  for (const FunctionInfo& remote : config.remote_functions) {
    if (local.empty() || std::find(local.begin(), local.end(), remote.queue) != local.end()) {
      return Status::InvalidArgument(
          "remote function " + remote.name + ": queue '" + remote.queue +
          "' would also be served by this process's runner, which cannot run remote functions; "
          "list the local queues in task_runner.queues (e.g. [default]) or leave out the runner "
          "role");
    }
  }
  return Status::Ok();
}

EngineOptions ToEngineOptions(const Config& config) {
  EngineOptions options;
  options.storage.url = StorageUrl(config.server);
  // server.synchronous is an option of the embedded backend: it travels in its URL.
  if (config.server.synchronous != "full") {
    options.storage.url += options.storage.url.find('?') == std::string::npos ? '?' : '&';
    options.storage.url += "synchronous=" + config.server.synchronous;
  }
  options.runner = HasRole(config.server, "runner");
  options.scheduler = HasRole(config.server, "scheduler");
  options.runner_options.capacity = config.runner_capacity;
  options.runner_options.prefetch = config.runner_prefetch;
  options.runner_options.output_limit = config.runner_output_limit;
  options.runner_options.kill_grace = config.kill_grace;
  options.runner_options.queues = config.runner_queues;
  options.scheduler_options.task_log_max_size = config.task_log_max_size;
  options.scheduler_options.triggers = config.triggers;
  options.default_time_to_resolve = config.task_ttr;
  return options;
}

}  // namespace taskmill::config
