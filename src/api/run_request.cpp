#include "api/run_request.h"

#include <array>
#include <boost/json.hpp>
#include <cmath>

#include "api/api_error.h"

namespace taskmill::api {
namespace json = boost::json;

namespace {

// Longest delay or timeout accepted, in seconds (about 31 years): far beyond any
// real schedule, and small enough that microseconds never overflow.
constexpr double kMaxSeconds = kMaxUserSeconds;

constexpr std::array<std::string_view, 17> kRunKeys = {"function",
                                                       "task",
                                                       "args",
                                                       "data",
                                                       "queue",
                                                       "id",
                                                       "conflict",
                                                       "run_at",
                                                       "delay",
                                                       "priority",
                                                       "retry",
                                                       "max_attempts",
                                                       "retry_delay",
                                                       "retry_delay_factor",
                                                       "max_retry_delay",
                                                       "timeout",
                                                       "time_to_resolve"};
constexpr std::array<std::string_view, 4> kRetryKeys = {"max_attempts", "delay", "delay_factor",
                                                        "max_delay"};

bool Accepted(std::string_view key, RunBodyKind kind) {
  if (key.empty()) return false;
  if (kind == RunBodyKind::kTaskStart && (key == "function" || key == "task")) return false;
  if (kind == RunBodyKind::kBatchItem && key == "conflict") return false;
  for (auto k : kRunKeys) {
    if (k == key) return true;
  }
  return false;
}

std::string AcceptedList(RunBodyKind kind) {
  std::string out;
  for (auto k : kRunKeys) {
    if (!Accepted(k, kind)) continue;
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

// Reads typed fields of one JSON object; every error names prefix + key.
class FieldReader {
 public:
  FieldReader(const json::object& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  std::string Name(std::string_view key) const { return prefix_ + std::string(key); }

  // The value of `key`, or nullptr when absent or null (null means "not given").
  const json::value* Get(std::string_view key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->value().is_null()) return nullptr;
    return &it->value();
  }

  Status String(std::string_view key, std::string* out) const {
    const json::value* v = Get(key);
    if (!v) return Status::Ok();
    if (!v->is_string()) return FieldError(Name(key), "expected a string");
    if (v->get_string().empty()) return FieldError(Name(key), "must not be empty");
    *out = std::string(v->get_string());
    return Status::Ok();
  }

  Status Int(std::string_view key, int min, int max, std::optional<int>* out) const {
    const json::value* v = Get(key);
    if (!v) return Status::Ok();
    std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    double number = 0;
    if (v->is_int64())
      number = static_cast<double>(v->get_int64());
    else if (v->is_uint64())
      number = static_cast<double>(v->get_uint64());
    else if (v->is_double() && std::floor(v->get_double()) == v->get_double())
      number = v->get_double();
    else
      return FieldError(Name(key), "expected " + range);
    if (number < min || number > max) return FieldError(Name(key), "expected " + range);
    *out = static_cast<int>(number);
    return Status::Ok();
  }

  Status Number(std::string_view key, std::optional<double>* out) const {
    const json::value* v = Get(key);
    if (!v) return Status::Ok();
    if (!v->is_number()) return FieldError(Name(key), "expected a number");
    *out = v->to_number<double>();
    return Status::Ok();
  }

  // Seconds as a JSON number; `positive` rejects zero as well as negatives.
  Status Seconds(std::string_view key, bool positive, std::optional<Duration>* out) const {
    std::optional<double> seconds;
    TASKMILL_RETURN_IF_ERROR(Number(key, &seconds));
    if (!seconds) return Status::Ok();
    if (positive && !(*seconds > 0)) {
      return FieldError(Name(key), "must be a positive number of seconds");
    }
    if (!(*seconds >= 0)) return FieldError(Name(key), "must not be negative (seconds >= 0)");
    if (*seconds > kMaxSeconds) {
      return FieldError(Name(key),
                        "must be at most " + std::to_string(int64_t(kMaxSeconds)) + " seconds");
    }
    *out = Duration{static_cast<int64_t>(std::llround(*seconds * 1e6))};
    return Status::Ok();
  }

  Status Time(std::string_view key, std::optional<TimePoint>* out) const {
    const json::value* v = Get(key);
    if (!v) return Status::Ok();
    TimePoint t;
    if (!v->is_string() || !ParseTime(v->get_string(), &t)) {
      return FieldError(Name(key), "expected an RFC 3339 time such as \"2026-01-01T12:00:00Z\"");
    }
    *out = t;
    return Status::Ok();
  }

 private:
  const json::object& object_;
  std::string prefix_;
};

// One field of the retry policy, given either inside `retry` or at the top level.
struct RetryFieldSpec {
  std::string_view nested;     // key inside "retry"
  std::string_view top_level;  // convenience key beside it
};
constexpr RetryFieldSpec kRetryFields[] = {{"max_attempts", "max_attempts"},
                                           {"delay", "retry_delay"},
                                           {"delay_factor", "retry_delay_factor"},
                                           {"max_delay", "max_retry_delay"}};

struct RetryOverrides {
  std::optional<int> max_attempts;
  std::optional<Duration> delay;
  std::optional<double> delay_factor;
  std::optional<Duration> max_delay;
  bool any() const { return max_attempts || delay || delay_factor || max_delay; }
};

// Reads the retry fields from `reader` with the given key per field; `given[i]` says
// which were present so that one field given twice can be reported.
Status ReadRetryFields(const FieldReader& reader, bool nested, RetryOverrides* out,
                       std::array<bool, 4>* given) {
  for (size_t i = 0; i < 4; ++i) {
    std::string_view key = nested ? kRetryFields[i].nested : kRetryFields[i].top_level;
    (*given)[i] = reader.Get(key) != nullptr;
  }
  auto key = [&](size_t i) { return nested ? kRetryFields[i].nested : kRetryFields[i].top_level; };
  TASKMILL_RETURN_IF_ERROR(reader.Int(key(0), 1, 1000000, &out->max_attempts));
  TASKMILL_RETURN_IF_ERROR(reader.Seconds(key(1), false, &out->delay));
  TASKMILL_RETURN_IF_ERROR(reader.Number(key(2), &out->delay_factor));
  if (out->delay_factor && !(*out->delay_factor >= 1.0 && *out->delay_factor <= 1000.0)) {
    return FieldError(reader.Name(key(2)), "must be a number from 1 to 1000");
  }
  TASKMILL_RETURN_IF_ERROR(reader.Seconds(key(3), false, &out->max_delay));
  return Status::Ok();
}

Status ParseRetry(const FieldReader& top, RetryOverrides* merged) {
  RetryOverrides from_top;
  std::array<bool, 4> top_given{};
  TASKMILL_RETURN_IF_ERROR(ReadRetryFields(top, false, &from_top, &top_given));
  RetryOverrides from_nested;
  std::array<bool, 4> nested_given{};
  if (const json::value* retry = top.Get("retry")) {
    if (!retry->is_object()) {
      return FieldError(top.Name("retry"),
                        "expected an object {max_attempts, delay, delay_factor, max_delay}");
    }
    for (const auto& kv : retry->get_object()) {
      bool known = false;
      for (auto k : kRetryKeys) known = known || k == kv.key();
      if (!known) {
        return FieldError(top.Name("retry.") + std::string(kv.key()),
                          "unknown key; accepted: max_attempts, delay, delay_factor, max_delay");
      }
    }
    FieldReader nested(retry->get_object(), top.Name("retry."));
    TASKMILL_RETURN_IF_ERROR(ReadRetryFields(nested, true, &from_nested, &nested_given));
  }
  for (size_t i = 0; i < 4; ++i) {
    if (top_given[i] && nested_given[i]) {
      return FieldError(
          top.Name(kRetryFields[i].top_level),
          "given twice, also as retry." + std::string(kRetryFields[i].nested) + "; give it once");
    }
  }
  merged->max_attempts = from_top.max_attempts ? from_top.max_attempts : from_nested.max_attempts;
  merged->delay = from_top.delay ? from_top.delay : from_nested.delay;
  merged->delay_factor = from_top.delay_factor ? from_top.delay_factor : from_nested.delay_factor;
  merged->max_delay = from_top.max_delay ? from_top.max_delay : from_nested.max_delay;
  return Status::Ok();
}

}  // namespace

Result<ConflictMode> ParseConflictField(const json::value& value, const std::string& field) {
  std::optional<ConflictMode> mode;
  if (value.is_string()) mode = ParseConflictMode(value.get_string());
  if (!mode) return FieldError(field, "expected one of \"error\", \"ignore\", \"overwrite\"");
  return *mode;
}

Result<ParsedRunBody> ParseRunBody(const json::value& body, const RunBodyOptions& options) {
  const std::string& prefix = options.field_prefix;
  if (!body.is_object()) {
    std::string what = prefix.empty() ? "the request body" : prefix.substr(0, prefix.size() - 1);
    json::object details;
    details["field"] = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1);
    return Status::InvalidArgument(what + ": expected a JSON object", std::move(details));
  }
  const json::object& object = body.get_object();
  for (const auto& kv : object) {
    if (!Accepted(kv.key(), options.kind)) {
      std::string hint;
      if (options.kind == RunBodyKind::kBatchItem && kv.key() == "conflict") {
        hint = "; set conflict once for the whole batch, beside \"runs\"";
      } else if (options.kind == RunBodyKind::kTaskStart &&
                 (kv.key() == "task" || kv.key() == "function")) {
        hint = "; the task is named by the path";
      }
      return FieldError(prefix + std::string(kv.key()),
                        "unknown key; accepted: " + AcceptedList(options.kind) + hint);
    }
  }

  FieldReader in(object, prefix);
  ParsedRunBody parsed;
  EnqueueRequest& request = parsed.request;
  TASKMILL_RETURN_IF_ERROR(in.String("function", &request.function));
  TASKMILL_RETURN_IF_ERROR(in.String("task", &request.task));
  if (options.kind == RunBodyKind::kTaskStart) request.task = options.path_task;
  if (request.function.empty() && request.task.empty()) {
    return FieldError(in.Name("function"),
                      "missing; give \"function\" (e.g. \"demo.echo\") or \"task\"");
  }
  if (!request.function.empty() && !request.task.empty()) {
    return FieldError(in.Name("task"), "give either \"function\" or \"task\", not both");
  }

  if (const json::value* args = in.Get("args")) {
    if (!args->is_array() && !args->is_object()) {
      return FieldError(in.Name("args"), "expected a JSON array or object");
    }
    request.args = *args;
  }
  if (const json::value* data = in.Get("data")) {
    if (!data->is_object()) return FieldError(in.Name("data"), "expected a JSON object");
    request.data = *data;
  }
  TASKMILL_RETURN_IF_ERROR(in.String("queue", &request.queue));
  TASKMILL_RETURN_IF_ERROR(in.String("id", &request.id));
  if (const json::value* conflict = in.Get("conflict")) {
    auto mode = ParseConflictField(*conflict, in.Name("conflict"));
    if (!mode.ok()) return mode.status();
    parsed.conflict = *mode;
  }

  TASKMILL_RETURN_IF_ERROR(in.Time("run_at", &request.run_at));
  TASKMILL_RETURN_IF_ERROR(in.Seconds("delay", false, &request.delay));
  if (request.run_at && request.delay) {
    return FieldError(in.Name("delay"), "give either \"delay\" or \"run_at\", not both");
  }
  constexpr int kMaxPriority = 1000000;
  TASKMILL_RETURN_IF_ERROR(in.Int("priority", -kMaxPriority, kMaxPriority, &request.priority));
  TASKMILL_RETURN_IF_ERROR(in.Seconds("timeout", true, &request.timeout));
  TASKMILL_RETURN_IF_ERROR(in.Seconds("time_to_resolve", true, &request.time_to_resolve));

  RetryOverrides retry;
  TASKMILL_RETURN_IF_ERROR(ParseRetry(in, &retry));
  if (retry.any()) {
    // A partial policy keeps the rest of the task's policy: `--max-attempts 3` on a
    // task with a 10 s delay still waits 10 s between attempts.
    RetryPolicy policy;
    if (!request.task.empty() && options.task_retry) {
      auto task_policy = options.task_retry(request.task);
      if (task_policy.ok()) {
        policy = *task_policy;
      } else if (!task_policy.status().IsNotFound()) {
        return task_policy.status();
      }
      // An unknown task is reported by the engine, with the code unknown_task.
    }
    if (retry.max_attempts) policy.max_attempts = *retry.max_attempts;
    if (retry.delay) policy.delay = *retry.delay;
    if (retry.delay_factor) policy.delay_factor = *retry.delay_factor;
    if (retry.max_delay) policy.max_delay = *retry.max_delay;
    request.retry = policy;
  }
  return parsed;
}

}  // namespace taskmill::api
