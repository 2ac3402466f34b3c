// api/run_request.h — the JSON body of POST /api/v1/runs (and of each item of
// runs:batch and of POST /api/v1/tasks/{name}/start) turned into an EnqueueRequest.
//
// Keys (every one optional except function-or-task; docs/api.md is the reference):
//   function | task        what to run (exactly one; `task` comes from the path on
//                          /tasks/{name}/start and is not accepted in the body there)
//   args                   JSON array or object
//   data                   JSON object
//   queue, id              strings; (queue, id) is unique
//   conflict               error | ignore | overwrite (not per item in a batch)
//   run_at | delay         RFC 3339 instant, or seconds from now (>= 0): start time
//   priority               integer, higher runs first
//   retry                  {max_attempts, delay, delay_factor, max_delay}
//   max_attempts, retry_delay, retry_delay_factor, max_retry_delay
//                          the same policy as top-level keys, for convenience
//   timeout, time_to_resolve   seconds (> 0)
//
// A retry policy given only in part keeps the other fields of the task's policy (or
// the defaults for an anonymous run), so the caller supplies `task_retry` to look up
// a task's policy. Unknown keys and values of the wrong type are errors naming the
// field (`prefix` + key, e.g. "runs[3].delay"); they are kInvalidArgument with
// details {"field": …}, which the API answers with 422.
//
// Pure functions apart from `task_retry`; thread-safe.
#pragma once

#include <taskmill/engine.h>
#include <taskmill/model.h>

#include <boost/json/value.hpp>
#include <functional>
#include <optional>
#include <string>

namespace taskmill::api {

enum class RunBodyKind {
  kCreate,     // POST /api/v1/runs: function or task, conflict allowed
  kBatchItem,  // an item of runs:batch: function or task, conflict only on the batch
  kTaskStart,  // POST /api/v1/tasks/{name}/start: the task is in the path
};

struct ParsedRunBody {
  EnqueueRequest request;
  std::optional<ConflictMode> conflict;  // when the body gave one
};

// Looks up the retry policy of a stored task (kNotFound when there is no such task).
using TaskRetryLookup = std::function<Result<RetryPolicy>(const std::string& task)>;

struct RunBodyOptions {
  RunBodyKind kind = RunBodyKind::kCreate;
  std::string field_prefix;    // prepended to field names in errors, e.g. "runs[3]."
  std::string path_task;       // kTaskStart: the task named by the path
  TaskRetryLookup task_retry;  // required when a task run gives part of a retry policy
};

Result<ParsedRunBody> ParseRunBody(const boost::json::value& body, const RunBodyOptions& options);

// The conflict mode in `value` ("error", "ignore", "overwrite"), naming `field`.
Result<ConflictMode> ParseConflictField(const boost::json::value& value, const std::string& field);

}  // namespace taskmill::api
