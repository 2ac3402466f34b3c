// api/api_error.h — how a failure becomes an HTTP error response.
//
// Every API error has one shape:
//
//   {"error": {"code": "malformed_json", "message": "…", "details": {…}}}
//
// Inside the server, errors travel as taskmill::Status values (the one error model).
// The machine-readable code is StatusCodeName(status.code()) unless the Status
// details carry a more specific "code" (e.g. "unknown_function", "malformed_json"),
// which then wins and is removed from the details. The HTTP status follows the code:
//
//   invalid_argument      400, or 422 when details name a request-body "field"
//   malformed_json 400 · unsupported_media_type 415 · route_not_found 404
//   method_not_allowed 405 · unknown_function / unknown_task 422 · bad_request 400
//   not_found 404 · conflict, failed_precondition 409 · too_large 413
//   unauthenticated 401 · permission_denied 403 · timeout 408 · unavailable 503
//   insufficient_storage 507 (the disk is full) · internal 500
//
// Pure functions; thread-safe.
#pragma once

#include <taskmill/status.h>

#include <boost/beast/http/status.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace taskmill::api {

// A Status whose details carry the API code `code` (and optionally more details).
Status ApiStatus(StatusCode status_code, std::string_view code, std::string message,
                 boost::json::object details = {});

// FieldError (taskmill/status.h): a 422-class error about one field of a request body.

// A 400-class error about one query parameter.
Status ParameterError(std::string_view parameter, std::string message);

struct ApiError {
  boost::beast::http::status http_status = boost::beast::http::status::internal_server_error;
  std::string code;             // machine-readable, e.g. "malformed_json"
  std::string message;          // for people: what was wrong, where, what is accepted
  boost::json::object details;  // e.g. {"field": "delay"}; empty object when none
};

// Maps a non-OK Status to the error the API answers with.
ApiError ToApiError(const Status& status);

// The response body {"error":{"code","message","details"}} as a JSON string.
std::string ErrorBody(const ApiError& error);

}  // namespace taskmill::api
