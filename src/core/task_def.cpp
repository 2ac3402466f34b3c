// The rules of a task definition (TaskDef::Problems / Validate, ValidateTaskName): the
// one home of what makes a task runnable, asked by the config loader and by any other
// producer of task definitions. The schedule and the time zone are judged by src/cron,
// which owns the cron dialect and the tz database, so that a task that could never be
// scheduled is refused when it is defined rather than skipped with a log line later.
#include <taskmill/function.h>
#include <taskmill/model.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "cron/cron.h"

namespace taskmill {
namespace {

// Largest max_attempts of a task, as for a run created through the API.
constexpr int kMaxTaskAttempts = 1'000'000;

bool IsTaskNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

class ProblemList {
 public:
  void Add(std::string key, std::vector<std::string> involves, std::string message) {
    if (!key.empty() && std::find(involves.begin(), involves.end(), key) == involves.end()) {
      involves.insert(involves.begin(), key);
    }
    problems_.push_back({std::move(key), std::move(involves), std::move(message)});
  }
  void Add(std::string key, std::string message) {
    std::vector<std::string> involves;
    if (!key.empty()) involves.push_back(key);
    Add(std::move(key), std::move(involves), std::move(message));
  }
  std::vector<TaskProblem> Take() { return std::move(problems_); }

 private:
  std::vector<TaskProblem> problems_;
};

}  // namespace

Status ValidateTaskName(std::string_view name) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), IsTaskNameChar)) {
    return Status::InvalidArgument("invalid task name '" + std::string(name) +
                                   "'; use letters, digits, '_', '.' and '-'");
  }
  if (name.starts_with("trigger.")) {
    // The scheduler's own trigger tasks (trigger.hourly, ...) are named so.
    return Status::InvalidArgument(
        "task names starting with 'trigger.' are reserved for the headless triggers");
  }
  return Status::Ok();
}

std::vector<TaskProblem> TaskDef::Problems() const {
  ProblemList problems;
  if (Status named = ValidateTaskName(name); !named.ok()) {
    problems.Add("", named.message());
  }

  // What runs: a registered function, or a command registered as "task.<name>".
  const bool is_command = !command.empty();
  const std::string command_function = "task." + name;
  if (!is_command && function.empty()) {
    problems.Add("", {"func_name", "command"}, "one of func_name or command is required");
  } else if (is_command && !function.empty() && function != command_function) {
    problems.Add("", {"func_name", "command"},
                 "func_name and command are mutually exclusive; give only one");
  } else if (is_command) {
    // The runner registers a command task as this function, and the registry accepts
    // only lower-case category.action names.
    if (!ValidateFunctionName(command_function).ok()) {
      problems.Add("", {},
                   "a command task's name must be lower-case letters, digits, '_' and '-' (it "
                   "is registered as the function '" +
                       command_function + "')");
    }
    if (command.front().empty()) {
      problems.Add("command", "the first element must name the program to run");
    }
  } else {
    if (Status valid = ValidateFunctionName(function); !valid.ok()) {
      problems.Add("func_name", valid.message());
    }
    auto command_only = [&](const char* key) {
      problems.Add(key, {key, "func_name"},
                   "only command tasks use this key (this task has func_name)");
    };
    if (shell) command_only("shell");
    if (!working_dir.empty()) command_only("working_dir");
    if (!env.empty()) command_only("env");
  }

  // When it runs.
  if (kind == TaskKind::kPeriodical && schedule.empty()) {
    problems.Add("", {"schedule"}, "periodical tasks need a schedule");
  } else if (kind != TaskKind::kPeriodical && !schedule.empty()) {
    problems.Add("schedule", "only periodical tasks have a schedule (this task's kind is " +
                                 std::string(ToString(kind)) + ")");
  } else if (kind == TaskKind::kPeriodical) {
    auto parsed = cron::Schedule::Parse(schedule);
    if (!parsed.ok()) problems.Add("schedule", parsed.status().message());
  }
  if (auto zone = cron::LocateZone(timezone); !zone.ok()) {
    problems.Add("timezone",
                 zone.status().message() + "; expected an IANA name such as UTC or Europe/Berlin");
  }
  if (misfire != "skip" && misfire != "run_once" && misfire != "run_all") {
    problems.Add("misfire",
                 "unknown misfire policy '" + misfire + "'; expected skip, run_once or run_all");
  }
  if (misfire_max < 1) problems.Add("misfire_max", "must be at least 1");
  if (overlap != "skip" && overlap != "allow") {
    problems.Add("overlap", "unknown overlap policy '" + overlap + "'; expected skip or allow");
  }
  if (pause.count() < 0) problems.Add("pause_sec", "must not be negative");

  // How long and how often.
  if (time_to_resolve.count() <= 0) problems.Add("time_to_resolve", "must be greater than 0");
  if (timeout && timeout->count() <= 0) problems.Add("timeout", "must be greater than 0");
  if (Status retry_valid = retry.Validate(); !retry_valid.ok()) {
    // RetryPolicy's message names its field.
    problems.Add("", {"max_attempts", "delay", "delay_factor", "max_delay"}, retry_valid.message());
  } else if (retry.max_attempts > kMaxTaskAttempts) {
    problems.Add("max_attempts", "must be at most " + std::to_string(kMaxTaskAttempts));
  }

  if (max_concurrency < 0) {
    problems.Add("max_concurrency", "must be at least 1 (or 0 for no cap)");
  }

  // Where it goes.
  if (!IsValidQueueName(queue)) {
    problems.Add("queue", "invalid queue name '" + queue +
                              "'; use 1-100 of letters, digits, '_', '.', ':', '-'");
  }
  return problems.Take();
}

Status TaskDef::Validate() const {
  std::vector<TaskProblem> problems = Problems();
  if (problems.empty()) return Status::Ok();
  std::string message = "task '" + name + "': ";
  boost::json::array details;
  for (size_t i = 0; i < problems.size(); ++i) {
    if (i > 0) message += "; ";
    if (!problems[i].key.empty()) message += problems[i].key + ": ";
    message += problems[i].message;
    details.push_back(
        boost::json::object{{"key", problems[i].key}, {"message", problems[i].message}});
  }
  return Status::InvalidArgument(
      std::move(message), boost::json::object{{"task", name}, {"problems", std::move(details)}});
}

}  // namespace taskmill
