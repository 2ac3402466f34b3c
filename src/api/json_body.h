// api/json_body.h — reading a JSON request body, with errors a client can act on.
//
//   Content-Type other than application/json (parameters such as charset allowed)
//       → 415 unsupported_media_type, naming the type received;
//   a body that is not JSON, or no body where one is required → 400 malformed_json
//       with the parse error and its position: details {"offset", "line", "column"}
//       (0-based byte offset, 1-based line and column);
//   a key given twice in one object → 400 duplicate_key, details also {"field"}
//       (the path of the key, e.g. "retry.delay");
//   a number beyond a double's range (1e400) → 422 invalid_argument naming the field
//       ("args[0]"), with the same position details.
//
// Pure functions; thread-safe.
#pragma once

#include <taskmill/status.h>

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/router.h"

namespace taskmill::api {

// True when `content_type` is application/json, ignoring case and parameters.
bool IsJsonContentType(std::string_view content_type);

// What ParseStrictJson refused, and where.
struct JsonProblem {
  enum class Kind { kSyntax, kDuplicateKey, kNumberOutOfRange };
  Kind kind = Kind::kSyntax;
  std::string message;  // e.g. "syntax error", "duplicate key \"id\"; give each key once"
  std::string field;    // path of the offending value: "args[0]", "retry.delay"; "" for syntax
  size_t offset = 0;    // 0-based byte offset of the stop
  size_t line = 1;      // 1-based
  size_t column = 1;    // 1-based
};

// The one JSON reader of user input (request bodies, the CLI's --args/--data): strict
// JSON, one value, no duplicate keys, every number finite. nullopt with `problem` set
// when refused.
std::optional<boost::json::value> ParseStrictJson(std::string_view text, JsonProblem* problem);

// Parses `text` as one JSON value (ParseStrictJson); errors as described above.
Result<boost::json::value> ParseJsonText(std::string_view text);

// Checks the request's Content-Type and parses its body. When `optional` is true an
// empty body (with or without a Content-Type) yields nullopt instead of an error.
Result<std::optional<boost::json::value>> ParseJsonBody(const Request& request, bool optional);

}  // namespace taskmill::api
