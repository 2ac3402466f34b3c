// config/yaml_reader.h — a typed reader over yaml-cpp nodes that collects every error.
//
// yaml-cpp parses; YamlReader checks each key of a mapping against a table of fields
// and converts values by hand. We do not use yaml-cpp's `as<T>()` because it accepts
// YAML 1.1 spellings (`yes`, `on`, `0x10`) and throws without the key path; here every
// problem becomes one ConfigError (line, key path, message) and reading goes on, so a
// user sees all mistakes of a file at once. An unknown key gets a "did you mean"
// suggestion from the accepted ones.
//
// The configuration's own sections are read by config::Loader (loader.h), which is a
// YamlReader. Not thread-safe; one reader per document.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/model.h>
#include <taskmill/status.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill::config {

// Longest duration accepted for any key, so that seconds → microseconds cannot
// overflow (about 31 years; a longer lease or delay is a typo).
inline constexpr double kMaxSeconds = kMaxUserSeconds;

struct ConfigError {
  int line = 0;  // 1-based; 0 when yaml-cpp gave no position
  std::string path;
  std::string message;
};

// Bounds of a number read from the file.
struct NumberRule {
  double min = 0;
  bool min_exclusive = false;  // "greater than" rather than "at least"
  double max = kMaxSeconds;
};

// ---- scalar syntax: YAML 1.2 core schema, decimal numbers only ---------------------
bool IsDigit(char c);
enum class Parsed { kOk, kSyntax, kRange };
// [-+]?[0-9]+ into an int64_t.
Parsed ParseInteger(std::string_view s, int64_t* out);

// ---- message parts -------------------------------------------------------------------
// What a value is, for "expected …, got …" messages: 'text', a list, a mapping, null.
std::string Describe(const YAML::Node& node);
// The node's line, 1-based; 0 when unknown.
int LineOf(const YAML::Node& node);
// "a", "a or b", "a, b or c".
std::string JoinChoices(const std::vector<std::string_view>& choices);
// "a, b, c".
std::string JoinKeys(const std::vector<std::string_view>& keys);
// The closest candidate within a third of the word's length (at least 1, at most 3
// edits, case-insensitive), or empty.
std::string_view ClosestMatch(std::string_view word,
                              const std::vector<std::string_view>& candidates);
// "parent.key" (or "key" at the top level) and "parent[index]".
std::string JoinPath(const std::string& parent, std::string_view key);
std::string IndexPath(const std::string& parent, size_t index);

class YamlReader {
 public:
  using Apply = std::function<void(const YAML::Node& value, const std::string& path)>;
  // One accepted key of a mapping and what to do with its (non-null) value.
  struct Field {
    std::string_view key;
    Apply apply;
  };
  using Visit = std::function<void(const YAML::Node& key_node, const std::string& key,
                                   const std::string& path, const YAML::Node& value)>;

  explicit YamlReader(std::string source) : source_(std::move(source)) {}

  void Error(int line, std::string path, std::string message) {
    errors_.push_back({line, std::move(path), std::move(message)});
  }
  void Error(const YAML::Node& at, std::string path, std::string message) {
    Error(LineOf(at), std::move(path), std::move(message));
  }
  size_t error_count() const { return errors_.size(); }
  const std::vector<ConfigError>& errors() const { return errors_; }
  // kInvalidArgument with every error, in line order, one per line of the message as
  // "<source>:<line>: <path>: <message>"; details() holds them as
  // {"errors": [{file, line, path, message}]}. Ok when there were none.
  Status ErrorStatus();

  // Calls `visit` for each entry of a mapping (nothing for null); a non-mapping, a
  // non-string key or a repeated key is an error.
  void ForEachEntry(const YAML::Node& map, const std::string& path, const Visit& visit);
  // Applies the field of each key; an unknown key is an error with a suggestion. A
  // null value keeps the default.
  void ReadFields(const YAML::Node& map, const std::string& path, const std::vector<Field>& fields);

  // Each returns the value, or nullopt after recording why it is not one.
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
  // Any YAML value as JSON; plain scalars resolve as in JSON-compatible YAML 1.2.
  std::optional<boost::json::value> Json(const YAML::Node& value, const std::string& path);

 private:
  boost::json::value ScalarToJson(const YAML::Node& value);

  std::string source_;
  std::vector<ConfigError> errors_;
};

}  // namespace taskmill::config
