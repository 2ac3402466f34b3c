// The `tasks:` section: each task's keys read into a TaskDef, then the task's own
// rules (TaskDef::Validate) with the lines of the keys they concern.
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>

#include "config/loader.h"
#include "cron/cron.h"

namespace taskmill::config {
namespace {

// Largest max_attempts of a task, as for a run created through the API.
constexpr int64_t kMaxAttempts = 1'000'000;

const std::vector<std::string_view> kMisfirePolicies = {"skip", "run_once", "run_all"};
const std::vector<std::string_view> kOverlapPolicies = {"skip", "allow"};

bool IsTaskNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

bool IsEnvName(std::string_view name) {
  if (name.empty() || IsDigit(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace

void Loader::ReadTasks(const YAML::Node& section, const std::string& path) {
  if (!section.IsMap()) {
    Error(section, path,
          "expected a mapping of task names to task definitions, got " + Describe(section));
    return;
  }
  ForEachEntry(
      section, path,
      [&](const YAML::Node& key_node, const std::string& name, const std::string& task_path,
          const YAML::Node& value) { ReadTask(key_node, name, task_path, value); });
}

void Loader::ReadTask(const YAML::Node& key_node, const std::string& name, const std::string& path,
                      const YAML::Node& value) {
  const int task_line = LineOf(key_node);
  if (name.empty() || !std::all_of(name.begin(), name.end(), IsTaskNameChar)) {
    Error(task_line, path,
          "invalid task name '" + name + "'; use letters, digits, '_', '.' and '-'");
    return;
  }
  if (name.starts_with("trigger.")) {
    // The scheduler's own trigger tasks (trigger.hourly, ...) are named so.
    Error(task_line, path,
          "task names starting with 'trigger.' are reserved for the headless triggers");
    return;
  }
  if (!value.IsNull() && !value.IsMap()) {
    Error(value, path, "expected a mapping of task settings, got " + Describe(value));
    return;
  }

  const size_t errors_before = error_count();
  TaskDef task;
  task.name = name;
  // Lines of keys that other keys constrain; 0 when absent.
  int func_name_line = 0;
  int command_line = 0;
  int schedule_line = 0;
  int timezone_line = 0;
  bool command_is_string = false;
  bool ttr_given = false;
  bool queue_given = false;
  std::vector<std::pair<std::string, int>> command_only_keys;  // key path, line
  std::string func_name;

  auto seconds_into = [&](Duration* out) {
    return [this, out](const YAML::Node& v, const std::string& p) {
      if (auto d = Seconds(v, p, /*allow_zero=*/true)) *out = *d;
    };
  };

  std::vector<Field> fields = {
      {"kind",
       [&](const YAML::Node& v, const std::string& p) {
         std::vector<std::string_view> kinds;
         for (TaskKind k : {TaskKind::kSingleShot, TaskKind::kPeriodical, TaskKind::kContinuous}) {
           kinds.push_back(ToString(k));
         }
         if (auto kind = Choice(v, p, "kind", kinds)) task.kind = *ParseTaskKind(*kind);
       }},
      {"func_name",
       [&](const YAML::Node& v, const std::string& p) {
         func_name_line = LineOf(v);
         auto text = String(v, p);
         if (!text) return;
         if (!IsFunctionName(*text)) {
           Error(v, p,
                 "expected a function name category.action (lower-case letters, digits, '_' "
                 "and '-', one dot), got " +
                     Describe(v));
           return;
         }
         func_name = *text;
       }},
      {"command",
       [&](const YAML::Node& v, const std::string& p) {
         command_line = LineOf(v);
         if (v.IsScalar()) {
           command_is_string = true;
           if (v.Scalar().empty()) {
             Error(v, p, "must not be empty");
             return;
           }
           task.command = {v.Scalar()};
           return;
         }
         if (!v.IsSequence()) {
           Error(v, p,
                 "expected a list [program, arg, ...] (or a string with shell: true), got " +
                     Describe(v));
           return;
         }
         auto argv = StringList(v, p);
         if (!argv) return;
         if (argv->empty() || argv->front().empty()) {
           Error(v, p, "the first element must name the program to run");
           return;
         }
         task.command = std::move(*argv);
       }},
      {"shell",
       [&](const YAML::Node& v, const std::string& p) {
         command_only_keys.emplace_back(p, LineOf(v));
         if (auto shell = Bool(v, p)) task.shell = *shell;
       }},
      {"working_dir",
       [&](const YAML::Node& v, const std::string& p) {
         command_only_keys.emplace_back(p, LineOf(v));
         if (auto dir = String(v, p)) task.working_dir = *dir;
       }},
      {"env",
       [&](const YAML::Node& v, const std::string& p) {
         command_only_keys.emplace_back(p, LineOf(v));
         ReadEnv(v, p, &task.env);
       }},
      {"args",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto args = Json(v, p)) task.args = std::move(*args);
       }},
      {"time_to_resolve",
       [&](const YAML::Node& v, const std::string& p) {
         ttr_given = true;
         if (auto ttr = Seconds(v, p, /*allow_zero=*/false)) task.time_to_resolve = *ttr;
       }},
      {"timeout",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto timeout = Seconds(v, p, /*allow_zero=*/false)) task.timeout = *timeout;
       }},
      {"max_attempts",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto attempts = Integer(v, p, 1, kMaxAttempts)) {
           task.retry.max_attempts = static_cast<int>(*attempts);
         }
       }},
      {"delay", seconds_into(&task.retry.delay)},
      {"delay_factor",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto factor = Number(v, p, "a number", NumberRule{.min = 1, .max = 1e6})) {
           task.retry.delay_factor = *factor;
         }
       }},
      {"max_delay",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto max_delay = Seconds(v, p, /*allow_zero=*/true)) task.retry.max_delay = *max_delay;
       }},
      {"pause_sec", seconds_into(&task.pause)},
      {"schedule",
       [&](const YAML::Node& v, const std::string& p) {
         schedule_line = LineOf(v);
         // Parsed below, once the kind is known (src/cron owns the dialect and its
         // messages).
         if (auto schedule = NonEmptyString(v, p)) task.schedule = *schedule;
       }},
      {"timezone",
       [&](const YAML::Node& v, const std::string& p) {
         timezone_line = LineOf(v);
         if (auto timezone = NonEmptyString(v, p)) task.timezone = *timezone;
       }},
      {"misfire",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto misfire = Choice(v, p, "misfire policy", kMisfirePolicies)) {
           task.misfire = *misfire;
         }
       }},
      {"misfire_max",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto max = Integer(v, p, 1, INT_MAX)) task.misfire_max = static_cast<int>(*max);
       }},
      {"overlap",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto overlap = Choice(v, p, "overlap policy", kOverlapPolicies)) {
           task.overlap = *overlap;
         }
       }},
      {"queue",
       [&](const YAML::Node& v, const std::string& p) {
         queue_given = true;
         if (auto queue = NonEmptyString(v, p)) task.queue = *queue;
       }},
      {"priority",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto priority = Integer(v, p, INT_MIN, INT_MAX)) {
           task.priority = static_cast<int>(*priority);
         }
       }},
      {"enabled",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto enabled = Bool(v, p)) task.enabled = *enabled;
       }},
  };
  ReadFields(value, path, fields);

  // Rules between keys. Each is checked only when the keys involved were given, so a
  // typo in one key does not also produce a confusing second error here.
  if (func_name_line == 0 && command_line == 0) {
    Error(task_line, path, "one of func_name or command is required");
  } else if (func_name_line != 0 && command_line != 0) {
    Error(task_line, path, "func_name and command are mutually exclusive; give only one");
  } else if (command_line != 0) {
    task.function = "task." + name;
    // The runner registers a command task as this function, and the registry accepts
    // only lower-case category.action names; say so here rather than at startup.
    if (!IsFunctionName(task.function)) {
      Error(task_line, path,
            "a command task's name must be lower-case letters, digits, '_' and '-' (it is "
            "registered as the function '" +
                task.function + "')");
    }
    if (command_is_string && !task.shell) {
      Error(command_line, path + ".command",
            "a command given as one string needs shell: true; otherwise give a list "
            "[program, arg, ...]");
    }
  } else {
    task.function = func_name;
    for (const auto& [key_path, line] : command_only_keys) {
      Error(line, key_path, "only command tasks use this key (this task has func_name)");
    }
  }
  if (task.kind == TaskKind::kPeriodical && task.schedule.empty() && schedule_line == 0) {
    Error(task_line, path, "periodical tasks need a schedule");
  } else if (task.kind != TaskKind::kPeriodical && schedule_line != 0) {
    Error(schedule_line, path + ".schedule",
          "only periodical tasks have a schedule (this task's kind is " +
              std::string(ToString(task.kind)) + ")");
  }
  // The cron parser and the tz database decide, so that a task that could never be
  // scheduled fails the load rather than being skipped with a log line at run time.
  if (task.kind == TaskKind::kPeriodical && !task.schedule.empty()) {
    auto schedule = cron::Schedule::Parse(task.schedule);
    if (!schedule.ok()) Error(schedule_line, path + ".schedule", schedule.status().message());
  }
  if (timezone_line != 0 && !task.timezone.empty()) {
    auto zone = cron::LocateZone(task.timezone);
    if (!zone.ok()) {
      Error(timezone_line, path + ".timezone",
            zone.status().message() + "; expected an IANA name such as UTC or Europe/Berlin");
    }
  }
  // The model's own rule, in case it is stricter than the checks above; skipped when
  // a retry key was already reported so one mistake gives one message.
  if (error_count() == errors_before) {
    Status retry_status = task.retry.Validate();
    if (!retry_status.ok()) Error(task_line, path, retry_status.message());
  }

  config_.tasks.push_back(std::move(task));
  ttr_given_.push_back(ttr_given);
  queue_given_.push_back(queue_given);
}

void Loader::ReadEnv(const YAML::Node& value, const std::string& path,
                     std::vector<std::pair<std::string, std::string>>* env) {
  ForEachEntry(value, path,
               [&](const YAML::Node& env_key, const std::string& env_name,
                   const std::string& env_path, const YAML::Node& env_value) {
                 if (!IsEnvName(env_name)) {
                   Error(env_key, env_path,
                         "invalid environment variable name; use letters, digits and '_', not "
                         "starting with a digit");
                   return;
                 }
                 if (env_value.IsNull()) {  // `NAME:` sets an empty value
                   env->emplace_back(env_name, "");
                 } else if (auto text = String(env_value, env_path)) {
                   env->emplace_back(env_name, *text);
                 }
               });
}

}  // namespace taskmill::config
