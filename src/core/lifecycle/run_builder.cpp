#include "core/lifecycle/run_builder.h"

#include <array>
#include <boost/json.hpp>
#include <string>

namespace taskmill {
namespace {
namespace json = boost::json;

// Letters, digits and _ - . : (a table: every id of every enqueued run is checked).
constexpr std::array<bool, 256> kNameChars = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[static_cast<size_t>(c)] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
                                    c == ':';
  }
  return table;
}();

bool ValidName(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!kNameChars[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

}  // namespace

void ApplyTask(const TaskDef& task, Run& run) {
  run.task = task.name;
  run.function = task.function;
  run.args = task.args;
  run.queue = task.queue;
  run.priority = task.priority;
  run.retry = task.retry;
  run.timeout = task.timeout;
  run.time_to_resolve = task.time_to_resolve;
}

EnqueueRequest RequestFromDefinition(const TaskDef& task) {
  EnqueueRequest req;
  req.function = task.function;
  req.args = task.args;
  req.queue = task.queue;
  req.priority = task.priority;
  req.retry = task.retry;
  req.timeout = task.timeout;
  req.time_to_resolve = task.time_to_resolve;
  return req;
}

Result<Run> BuildRun(const EnqueueRequest& req, const TaskDef* task,
                     const FunctionRegistry* functions, Duration default_time_to_resolve,
                     TimePoint now) {
  if (req.function.empty() == req.task.empty()) {
    return FieldError("function", "give exactly one of function or task");
  }
  Run run;
  run.status = RunStatus::kPending;
  run.created_at = now;
  run.time_to_resolve = default_time_to_resolve;
  if (!req.task.empty()) {
    if (!task) return Status::NotFound("no task named '" + req.task + "'");
    ApplyTask(*task, run);
  } else {
    run.function = req.function;
  }
  const FunctionRegistry::Entry* entry = functions ? functions->Find(run.function) : nullptr;
  // A stored task whose function this node lacks still runs somewhere else, or ends
  // unknown_task; only anonymous runs are checked strictly.
  if (functions && !entry && req.task.empty()) {
    json::object details;
    details["code"] = "unknown_function";
    details["field"] = "function";
    return Status::InvalidArgument(
        "unknown function '" + run.function + "'; `taskmill functions` lists the known ones",
        std::move(details));
  }
  if (req.args) {
    if (!req.args->is_array() && !req.args->is_object() && !req.args->is_null()) {
      return FieldError("args", "expected a JSON array or object");
    }
    if (!req.args->is_null()) run.args = *req.args;
  }
  if (!req.data.is_object()) return FieldError("data", "expected a JSON object");
  run.data = req.data;
  if (!req.queue.empty()) {
    run.queue = req.queue;
  } else if (req.task.empty() && entry && !entry->info.queue.empty()) {
    // A function served elsewhere (a remote function) names the queue its workers
    // take; a task's runs keep the task's queue.
    run.queue = entry->info.queue;
  }
  if (!ValidName(run.queue, 100)) {
    return FieldError("queue", "'" + run.queue + "' must be 1-100 characters of [A-Za-z0-9_.:-]");
  }
  run.id = req.id.empty() ? NewRunId(now) : req.id;
  if (!ValidName(run.id, 200)) {
    return FieldError("id", "'" + run.id + "' must be 1-200 characters of [A-Za-z0-9_.:-]");
  }
  if (req.priority) run.priority = *req.priority;
  if (req.retry) run.retry = *req.retry;
  if (Status s = run.retry.Validate(); !s.ok()) {
    std::string field = s.message().substr(0, s.message().find(':'));
    return FieldError(field, s.message().substr(s.message().find(':') + 2));
  }
  if (req.timeout) {
    if (req.timeout->count() <= 0) return FieldError("timeout", "must be positive");
    run.timeout = *req.timeout;
  }
  if (req.time_to_resolve) {
    if (req.time_to_resolve->count() <= 0) {
      return FieldError("time_to_resolve", "must be positive");
    }
    run.time_to_resolve = *req.time_to_resolve;
  }
  if (req.delay && req.delay->count() < 0) return FieldError("delay", "must not be negative");
  if (req.delay && req.run_at) return FieldError("delay", "give either delay or run_at");
  run.run_at = req.run_at ? *req.run_at : now + req.delay.value_or(Duration{0});
  run.scheduled_at = req.scheduled_at;
  run.account_id = req.account_id;
  // The creator as the caller says: an admin token of no account acting for another
  // account created the run as no account, not as its owner.
  run.auth_account_id = req.auth_account_id;
  run.parent_id = req.parent_id;
  run.flow_id = req.flow_id;
  return run;
}

}  // namespace taskmill
