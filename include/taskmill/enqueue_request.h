// taskmill/enqueue_request.h — a request to launch a function or a task
// (part of the engine's public API, in a header of its own so that the roles include
// only what they use).
#pragma once

#include <taskmill/clock.h>
#include <taskmill/model.h>

#include <boost/json/value.hpp>
#include <optional>
#include <string>

namespace taskmill {

// A request to launch a function (anonymous run) or a task.
struct EnqueueRequest {
  std::string function;  // one of function / task
  std::string task;
  std::optional<boost::json::value> args;  // Default: task's args, or []
  boost::json::value data = boost::json::object();
  std::string queue;  // Default: task's queue or "default"
  std::string id;     // Default: a new UUIDv7
  std::optional<int> priority;
  std::optional<TimePoint> run_at;
  std::optional<Duration> delay;  // run_at = now + delay
  std::optional<RetryPolicy> retry;
  std::optional<Duration> timeout;
  std::optional<Duration> time_to_resolve;
  std::string account_id;       // the owner
  std::string auth_account_id;  // who created it, stored as given (may differ)
  std::optional<TimePoint> scheduled_at;
  std::string parent_id;  // the run that made this one, if any
  std::string flow_id;    // the flow it belongs to, if any
};

}  // namespace taskmill
