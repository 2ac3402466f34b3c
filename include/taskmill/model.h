// taskmill/model.h — the vocabulary of DESIGN.md as C++ values: run statuses, tasks,
// runs, attempts and retry policies, with lossless JSON conversion.
//
// These are plain value types with no hidden sharing; copy them freely between threads.
// The JSON form of a Run is exactly what the HTTP API returns and what
// `taskmill --json` prints (backupify's as_hash / from_hash).
#pragma once

#include <taskmill/clock.h>
#include <taskmill/status.h>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill {

// Run statuses, a stored and documented enum (docs/concepts.md). The string names
// are what storage, the API and the CLI use.
enum class RunStatus {
  kPending,      // stored, waiting for run_at or a runner; also between retries
  kRunning,      // claimed by a runner that holds a lease
  kCompleted,    // finished successfully (CSV: every row succeeded)
  kPartial,      // CSV or iterator run: some rows succeeded and some failed
  kFailed,       // the last attempt failed and no attempt is left
  kLost,         // the lease expired and no attempt is left
  kStopped,      // cancelled by an operator
  kDidNotStart,  // a periodical launch that was skipped (overlap or misfire)
  kUnknownTask,  // no runner has the function
};
inline constexpr RunStatus kAllRunStatuses[] = {
    RunStatus::kPending, RunStatus::kRunning,     RunStatus::kCompleted,
    RunStatus::kPartial, RunStatus::kFailed,      RunStatus::kLost,
    RunStatus::kStopped, RunStatus::kDidNotStart, RunStatus::kUnknownTask};

std::string_view ToString(RunStatus s);
std::optional<RunStatus> ParseRunStatus(std::string_view s);
// True for every status a run never leaves on its own (all but pending and running).
inline bool IsFinal(RunStatus s) { return s != RunStatus::kPending && s != RunStatus::kRunning; }

enum class TaskKind { kSingleShot, kPeriodical, kContinuous };
std::string_view ToString(TaskKind k);
std::optional<TaskKind> ParseTaskKind(std::string_view s);

// What happens when a run is put with a (queue, id) that already exists.
enum class ConflictMode {
  kError,      // default: reject with StatusCode::kConflict
  kIgnore,     // keep the stored run, report it as the result
  kOverwrite,  // replace the stored run unless it is running (backupify's save)
};
std::string_view ToString(ConflictMode m);
std::optional<ConflictMode> ParseConflictMode(std::string_view s);

// Retry policy: the k-th retry (k >= 1) waits delay × delay_factor^(k−1), capped by
// max_delay when set.
struct RetryPolicy {
  int max_attempts = 1;               // Default: 1 (no retry)
  Duration delay{0};                  // Default: 0 s
  double delay_factor = 1.0;          // Default: 1
  std::optional<Duration> max_delay;  // Default: unbounded

  Duration DelayBeforeRetry(int retry_number) const;
  Status Validate() const;  // names the offending field
  friend bool operator==(const RetryPolicy&, const RetryPolicy&) = default;
};

// One try of a run by one runner: the launch log.
struct Attempt {
  int number = 0;      // 1-based; also the fencing token of the claim
  std::string runner;  // runner id that claimed it
  TimePoint started_at{};
  std::optional<TimePoint> finished_at;
  std::string outcome;  // completed, failed, timeout, lost, stopped, ...
  std::string error;    // empty when the attempt succeeded
  std::string output;   // captured stdout/stderr of command handlers (capped)
  friend bool operator==(const Attempt&, const Attempt&) = default;
};

// Row counters of bulk and iterator runs.
struct Progress {
  int64_t total = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  friend bool operator==(const Progress&, const Progress&) = default;
};

// One launch of a task, or of a function directly (an anonymous run).
struct Run {
  std::string id;                 // UUIDv7 unless the client gives one
  std::string queue = "default";  // (queue, id) is unique
  std::string function;           // category.action
  std::string task;               // empty for anonymous runs
  RunStatus status = RunStatus::kPending;
  boost::json::value args = boost::json::array();
  boost::json::value data = boost::json::object();
  int priority = 0;             // higher runs first
  std::string account_id;       // owner
  std::string auth_account_id;  // who created it
  TimePoint created_at{};
  TimePoint run_at{};                     // not before this instant
  std::optional<TimePoint> scheduled_at;  // periodical launches: the cron instant
  std::optional<TimePoint> started_at;    // start of the latest attempt
  std::optional<TimePoint> finished_at;
  std::optional<TimePoint> lease_until;  // while running
  std::string runner;                    // runner holding the lease, while running
  int attempt = 0;                       // number of the latest attempt (fencing token)
  RetryPolicy retry;
  std::optional<Duration> timeout;                     // per attempt; Default: none
  Duration time_to_resolve{std::chrono::seconds(60)};  // lease length
  boost::json::value result = nullptr;
  std::string error;
  std::string error_kind;  // "", "user", "timeout", "internal", "lost", ...
  Progress progress;
  std::string parent_id;  // flows
  std::string flow_id;
  std::string input_file;  // file ids in storage (bulk runs)
  std::string output_file;
  std::vector<Attempt> attempts;  // every attempt, oldest first

  friend bool operator==(const Run&, const Run&) = default;
};

boost::json::object ToJson(const Progress& progress);  // {total, succeeded, failed}
boost::json::object ToJson(const Run& run);
// The JSON writers of the API's answers and of stored records, with one rule: the
// bytes of boost::json::serialize, except that numbers are written plainly
// (AppendJsonNumber: 0, 60, 0.5, not 0E0, 6E1, 5E-1).
//
// Appends ToJson(run) serialized by that rule to `out`, without building the object:
// the HTTP API answers with runs on its busiest paths, where the object's allocations
// cost more than reading the run from storage.
void AppendJson(const Run& run, std::string* out);
// Appends `value` serialized by that rule to `out`.
void AppendJson(const boost::json::value& value, std::string* out);
// Appends `number` as the shortest text that reads back as the same double (std::to_chars:
// 0, 60, 0.5, 1e-07, 1e+300); a non-finite number (not JSON) as null.
void AppendJsonNumber(double number, std::string* out);
// Appends `text` as a JSON string (quoted and escaped as boost::json::serialize does).
void AppendJsonString(std::string_view text, std::string* out);
// Parses the object ToJson produced; unknown keys are errors naming the key.
Result<Run> RunFromJson(const boost::json::value& json);
boost::json::object ToJson(const Attempt& attempt);

// One broken rule of a task definition.
struct TaskProblem {
  // The key to fix, as the configuration file spells it (func_name, command, schedule,
  // timezone, max_attempts, ...); empty for the task as a whole.
  std::string key;
  // Every key the rule reads (`key` included): a reader that could not read one of
  // them (a type error already reported) may leave the problem out.
  std::vector<std::string> involves;
  std::string message;
};

// Task definitions come from the config file or the API and are stored.
struct TaskDef {
  std::string name;
  TaskKind kind = TaskKind::kSingleShot;
  std::string function;              // func_name; for command tasks "task.<name>"
  std::vector<std::string> command;  // argv of a command task (empty otherwise)
  bool shell = false;                // run command[0] through /bin/sh -c
  std::string working_dir;
  std::vector<std::pair<std::string, std::string>> env;
  boost::json::value args = boost::json::array();
  std::string schedule;  // cron expression (periodical)
  std::string timezone = "UTC";
  std::string misfire = "skip";  // skip | run_once | run_all
  int misfire_max = 10;
  std::string overlap = "skip";              // skip | allow
  Duration pause{std::chrono::seconds(60)};  // continuous: pause_sec
  Duration time_to_resolve{std::chrono::seconds(60)};
  std::optional<Duration> timeout;
  RetryPolicy retry;
  std::string queue = "default";
  int priority = 0;
  bool enabled = true;
  // Most runs of this task running at once across every runner sharing the storage
  // (RunTake holds the others back). 0: no cap.
  int max_concurrency = 0;

  // The rules of a task definition, wherever it comes from (the config file, the
  // API): its name (ValidateTaskName); exactly one of a function and a command, a
  // command task's function being "task.<name>"; command keys only on command tasks;
  // a schedule that parses, on periodical tasks only; a known time zone, misfire and
  // overlap policy; positive durations; the retry policy; a valid queue name; a
  // max_concurrency of 0 (no cap) or more.
  // Problems() lists every broken rule; Validate() is Ok when there is none, else
  // kInvalidArgument "task '<name>': <key>: <message>; ..." with details
  // {"task": name, "problems": [{"key", "message"}]}.
  std::vector<TaskProblem> Problems() const;
  Status Validate() const;

  friend bool operator==(const TaskDef&, const TaskDef&) = default;
};

// A task name: 1 or more of [A-Za-z0-9_.-], not starting with "trigger." (reserved
// for the scheduler's headless trigger tasks). kInvalidArgument saying which.
Status ValidateTaskName(std::string_view name);

boost::json::object ToJson(const TaskDef& task);
Result<TaskDef> TaskDefFromJson(const boost::json::value& json);

// A queue name: 1-100 characters of [A-Za-z0-9_.:-] (the rule the engine applies to
// every run's queue).
bool IsValidQueueName(std::string_view name);

// A new UUIDv7 (time-ordered) as 36 lower-case characters.
std::string NewRunId(TimePoint now);

// RFC 3339 helpers for optional instants: null when absent.
boost::json::value TimeToJson(const std::optional<TimePoint>& t);

}  // namespace taskmill
