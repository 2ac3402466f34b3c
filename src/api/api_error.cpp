#include "api/api_error.h"

#include <boost/json.hpp>

#include "api/utf8_text.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

Status ApiStatus(StatusCode status_code, std::string_view code, std::string message,
                 json::object details) {
  details["code"] = code;
  return Status(status_code, std::move(message), std::move(details));
}

Status ParameterError(std::string_view parameter, std::string message) {
  json::object details;
  details["parameter"] = parameter;
  return Status::InvalidArgument("query parameter '" + std::string(parameter) + "': " + message,
                                 std::move(details));
}

namespace {

http::status ForCode(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return http::status::ok;
    case StatusCode::kInvalidArgument:
      return http::status::bad_request;
    case StatusCode::kNotFound:
      return http::status::not_found;
    case StatusCode::kConflict:
      return http::status::conflict;
    case StatusCode::kFailedPrecondition:
      return http::status::conflict;
    case StatusCode::kUnauthenticated:
      return http::status::unauthorized;
    case StatusCode::kPermissionDenied:
      return http::status::forbidden;
    case StatusCode::kTooLarge:
      return http::status::payload_too_large;
    case StatusCode::kTimeout:
      return http::status::request_timeout;
    case StatusCode::kUnavailable:
      return http::status::service_unavailable;
    case StatusCode::kInsufficientStorage:
      return http::status::insufficient_storage;
    case StatusCode::kInternal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

// API codes more specific than a StatusCode name, and the HTTP status each answers.
struct SpecialCode {
  std::string_view code;
  http::status status;
};
constexpr SpecialCode kSpecialCodes[] = {
    {"malformed_json", http::status::bad_request},
    {"bad_request", http::status::bad_request},
    {"unsupported_media_type", http::status::unsupported_media_type},
    {"route_not_found", http::status::not_found},
    {"method_not_allowed", http::status::method_not_allowed},
    {"unknown_function", http::status::unprocessable_entity},
    {"unknown_task", http::status::unprocessable_entity},
};

}  // namespace

ApiError ToApiError(const Status& status) {
  ApiError error;
  error.message = status.message();
  error.code = std::string(StatusCodeName(status.code()));
  error.http_status = ForCode(status.code());
  if (status.details().is_object()) error.details = status.details().get_object();
  if (auto it = error.details.find("code"); it != error.details.end() && it->value().is_string()) {
    error.code = std::string(it->value().get_string());
    error.details.erase(it);
    for (const auto& special : kSpecialCodes) {
      if (special.code == error.code) error.http_status = special.status;
    }
    return error;
  }
  // The JSON parsed but one of its values is wrong: 422 names the field, as opposed
  // to a malformed request (400).
  if (status.code() == StatusCode::kInvalidArgument && error.details.contains("field")) {
    error.http_status = http::status::unprocessable_entity;
  }
  return error;
}

std::string ErrorBody(const ApiError& error) {
  json::object inner;
  inner["code"] = error.code;
  // Messages and details quote input, which may hold bytes that are not text.
  inner["message"] = IsValidUtf8(error.message) ? error.message : ValidUtf8(error.message);
  json::value details = error.details;
  MakeValidUtf8(details);
  inner["details"] = std::move(details);
  json::object body;
  body["error"] = std::move(inner);
  return json::serialize(body);
}

}  // namespace taskmill::api
