#include "api/json_body.h"

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <cctype>

#include "api/api_error.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

bool IsJsonContentType(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  if (type.size() != kJson.size()) return false;
  for (size_t i = 0; i < type.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(type[i])) != kJson[i]) return false;
  }
  return true;
}

Result<json::value> ParseJsonText(std::string_view text) {
  json::stream_parser parser;
  boost::system::error_code ec;
  size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) {
    // One JSON value followed by more text: point at the extra text.
    ec = json::make_error_code(json::error::extra_data);
  }
  if (!ec) parser.finish(ec);
  if (ec) {
    size_t line = 1;
    size_t column = 1;
    for (size_t i = 0; i < consumed && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    json::object details;
    details["offset"] = static_cast<int64_t>(consumed);
    details["line"] = static_cast<int64_t>(line);
    details["column"] = static_cast<int64_t>(column);
    return ApiStatus(StatusCode::kInvalidArgument, "malformed_json",
                     "request body is not valid JSON: " + ec.message() + " at line " +
                         std::to_string(line) + ", column " + std::to_string(column),
                     std::move(details));
  }
  return parser.release();
}

Result<std::optional<json::value>> ParseJsonBody(const Request& request, bool optional) {
  const std::string& body = request.body();
  auto content_type = request[http::field::content_type];
  if (body.empty()) {
    if (optional) return std::optional<json::value>();
    json::object details;
    details["offset"] = 0;
    details["line"] = 1;
    details["column"] = 1;
    return ApiStatus(StatusCode::kInvalidArgument, "malformed_json",
                     "the request body is empty; this route takes a JSON object "
                     "(Content-Type: application/json)",
                     std::move(details));
  }
  if (!IsJsonContentType(std::string_view(content_type.data(), content_type.size()))) {
    json::object details;
    details["content_type"] = std::string_view(content_type.data(), content_type.size());
    details["accepted"] = "application/json";
    std::string got = content_type.empty() ? std::string("no Content-Type")
                                           : "Content-Type '" + std::string(content_type) + "'";
    return ApiStatus(StatusCode::kInvalidArgument, "unsupported_media_type",
                     "this route takes a JSON body (Content-Type: application/json), got " + got,
                     std::move(details));
  }
  auto parsed = ParseJsonText(body);
  if (!parsed.ok()) return parsed.status();
  return std::optional<json::value>(std::move(*parsed));
}

}  // namespace taskmill::api
