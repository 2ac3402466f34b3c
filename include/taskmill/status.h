// taskmill/status.h — the one error model used across module boundaries.
//
// A Status is either OK or carries an error code, a message that names what was
// wrong and where, and optional machine-readable details (JSON). Expected failures
// (bad input, missing row, lost connection) are Status values; broken invariants are
// bugs and abort. Result<T> holds either a value or a non-OK Status.
//
// Status and Result are plain values: copyable, and safe to pass between threads.
#pragma once

#include <boost/json/value.hpp>
#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace taskmill {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,      // malformed input: bad JSON, bad cron expression, bad CSV (HTTP 400/422)
  kNotFound,             // no such run, task, function (HTTP 404)
  kConflict,             // duplicate (queue, id), delete while running (HTTP 409)
  kFailedPrecondition,   // the object is not in a state that allows the operation (HTTP 409)
  kUnauthenticated,      // missing or bad token (HTTP 401)
  kPermissionDenied,     // token valid but not allowed (HTTP 403)
  kTooLarge,             // a size limit was exceeded (HTTP 413)
  kTimeout,              // a deadline passed (HTTP 408/504)
  kUnavailable,          // overloaded or shutting down; retry later (HTTP 503)
  kInsufficientStorage,  // the disk is full: nothing was stored; retry once space is freed (HTTP
                         // 507)
  kInternal,             // storage error or a bug in taskmill (HTTP 500)
};

// Stable lower-case name of a code, e.g. "invalid_argument"; used in API errors.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message, boost::json::value details = nullptr)
      : code_(code), message_(std::move(message)), details_(std::move(details)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m, boost::json::value d = nullptr) {
    return {StatusCode::kInvalidArgument, std::move(m), std::move(d)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status TooLarge(std::string m) { return {StatusCode::kTooLarge, std::move(m)}; }
  static Status Timeout(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status InsufficientStorage(std::string m) {
    return {StatusCode::kInsufficientStorage, std::move(m)};
  }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const boost::json::value& details() const { return details_; }

  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsConflict() const { return code_ == StatusCode::kConflict; }
  bool IsInvalidArgument() const { return code_ == StatusCode::kInvalidArgument; }

  // "invalid_argument: field 4 (month): 13 is out of range 1-12"
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  boost::json::value details_;
};

// Either a T or an error Status. Access the value only after checking ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

// kInvalidArgument about one field of a request ("delay", "runs[3].args"): the message
// starts with the field, and details carry {"field": field}, which the HTTP API answers
// as 422 naming it.
Status FieldError(std::string_view field, std::string message);

}  // namespace taskmill

// Propagates an error Status from an expression that yields Status or Result<T>.
#define TASKMILL_RETURN_IF_ERROR(expr)                                                   \
  do {                                                                                   \
    const auto& taskmill_status_ = (expr);                                               \
    if (!taskmill_status_.ok()) return ::taskmill::internal::StatusOf(taskmill_status_); \
  } while (0)

namespace taskmill::internal {
inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}
}  // namespace taskmill::internal
