// The `tasks:` section: each task's keys read into a TaskDef, then the task's own
// rules (TaskDef::Validate) with the lines of the keys they concern.
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <functional>
#include <map>

#include "config/loader.h"

namespace taskmill::config {
namespace {

// Largest max_attempts of a task, as for a run created through the API.
constexpr int64_t kMaxAttempts = 1'000'000;

const std::vector<std::string_view> kMisfirePolicies = {"skip", "run_once", "run_all"};
const std::vector<std::string_view> kOverlapPolicies = {"skip", "allow"};

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
  if (Status named = ValidateTaskName(name); !named.ok()) {
    Error(task_line, path, named.message());
    return;
  }
  if (!value.IsNull() && !value.IsMap()) {
    Error(value, path, "expected a mapping of task settings, got " + Describe(value));
    return;
  }

  const size_t errors_before = error_count();
  TaskDef task;
  task.name = name;
  int command_line = 0;
  bool command_is_string = false;
  bool ttr_given = false;
  bool queue_given = false;
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
         auto text = String(v, p);
         if (!text) return;
         // Kept even when invalid, so that the task is not also reported as having
         // neither func_name nor command.
         func_name = *text;
         if (!IsFunctionName(*text)) {
           Error(v, p,
                 "expected a function name category.action (lower-case letters, digits, '_' "
                 "and '-', one dot), got " +
                     Describe(v));
           return;
         }
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
         if (auto shell = Bool(v, p)) task.shell = *shell;
       }},
      {"working_dir",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto dir = String(v, p)) task.working_dir = *dir;
       }},
      {"env", [&](const YAML::Node& v, const std::string& p) { ReadEnv(v, p, &task.env); }},
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
         // Parsed by TaskDef::Problems, once the kind is known.
         if (auto schedule = NonEmptyString(v, p)) task.schedule = *schedule;
       }},
      {"timezone",
       [&](const YAML::Node& v, const std::string& p) {
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
      {"max_concurrency",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto cap = Integer(v, p, 0, INT_MAX)) task.max_concurrency = static_cast<int>(*cap);
       }},
      {"enabled",
       [&](const YAML::Node& v, const std::string& p) {
         if (auto enabled = Bool(v, p)) task.enabled = *enabled;
       }},
  };
  // The line of each key given, for the rules of the task below.
  std::map<std::string, int, std::less<>> key_lines;
  for (Field& field : fields) {
    field.apply = [&key_lines, key = field.key, apply = std::move(field.apply)](
                      const YAML::Node& v, const std::string& p) {
      key_lines[std::string(key)] = LineOf(v);
      apply(v, p);
    };
  }
  ReadFields(value, path, fields);

  if (func_name.empty() && !task.command.empty()) task.function = "task." + name;
  if (!func_name.empty()) task.function = func_name;
  // A command written as one string is run by the shell; that is the file's spelling,
  // so this rule is the loader's.
  if (command_is_string && !task.shell && !task.command.empty() && func_name.empty()) {
    Error(command_line, path + ".command",
          "a command given as one string needs shell: true; otherwise give a list "
          "[program, arg, ...]");
  }

  // The task's own rules. A rule that reads a key already reported (a value of the
  // wrong type or out of range) is left out, so one mistake gives one message.
  auto failed = [&](std::string_view key) {
    const std::string key_path = JoinPath(path, key);
    for (size_t i = errors_before; i < error_count(); ++i) {
      const std::string& error_path = errors()[i].path;
      if (error_path == key_path ||
          (error_path.starts_with(key_path) &&
           (error_path[key_path.size()] == '.' || error_path[key_path.size()] == '['))) {
        return true;
      }
    }
    return false;
  };
  for (const TaskProblem& problem : task.Problems()) {
    if (std::any_of(problem.involves.begin(), problem.involves.end(), failed)) continue;
    auto given = key_lines.find(problem.key);
    if (!problem.key.empty() && given != key_lines.end()) {
      Error(given->second, JoinPath(path, problem.key), problem.message);
    } else {
      Error(task_line, path, problem.message);
    }
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
