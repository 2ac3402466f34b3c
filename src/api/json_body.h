// api/json_body.h — reading a JSON request body, with errors a client can act on.
//
//   Content-Type other than application/json (parameters such as charset allowed)
//       → 415 unsupported_media_type, naming the type received;
//   a body that is not JSON, or no body where one is required → 400 malformed_json
//       with the parse error and its position: details {"offset", "line", "column"}
//       (0-based byte offset, 1-based line and column).
//
// Pure functions; thread-safe.
#pragma once

#include <taskmill/status.h>

#include <boost/json/value.hpp>
#include <string_view>

#include "api/router.h"

namespace taskmill::api {

// True when `content_type` is application/json, ignoring case and parameters.
bool IsJsonContentType(std::string_view content_type);

// Parses `text` as one JSON value; errors as described above.
Result<boost::json::value> ParseJsonText(std::string_view text);

// Checks the request's Content-Type and parses its body. When `optional` is true an
// empty body (with or without a Content-Type) yields nullopt instead of an error.
Result<std::optional<boost::json::value>> ParseJsonBody(const Request& request, bool optional);

}  // namespace taskmill::api
