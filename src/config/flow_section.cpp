// The `flows:` section: each flow's keys and steps read into a FlowDef, then the flow's
// rules (FlowDef::Problems: cycles, unknown and unreachable steps) with the lines of the
// keys they concern. The TaskFlow names are accepted beside ours: default_entrance,
// task_func, child_task_func, task_retry_limit (retries, so attempts = limit + 1),
// task_timeout (milliseconds) and exit_on_failed?; a leading ':' of a step name (an
// Elixir atom, `:flow2`) is dropped.
#include <climits>
#include <map>

#include "config/loader.h"

namespace taskmill::config {
namespace {

constexpr int64_t kMaxAttempts = 1'000'000;

std::string StepName(std::string name) {
  if (name.size() > 1 && name.front() == ':') name.erase(0, 1);
  return name;
}

}  // namespace

void Loader::ReadFlows(const YAML::Node& section, const std::string& path) {
  if (!section.IsMap()) {
    Error(section, path,
          "expected a mapping of flow names to flow definitions, got " + Describe(section));
    return;
  }
  ForEachEntry(section, path,
               [&](const YAML::Node& key_node, const std::string& name,
                   const std::string& flow_path,
                   const YAML::Node& value) { ReadFlow(key_node, name, flow_path, value); });
}

void Loader::ReadFlow(const YAML::Node& key_node, const std::string& name,
                      const std::string& path, const YAML::Node& value) {
  const int flow_line = LineOf(key_node);
  if (!value.IsMap()) {
    Error(value, path, "expected a mapping with entrance and steps, got " + Describe(value));
    return;
  }
  const size_t errors_before = error_count();
  FlowDef flow;
  flow.name = name;
  std::map<std::string, int, std::less<>> lines;  // "key" or "step" or "step.key" → line
  auto entrance = [&](const YAML::Node& v, const std::string& p) {
    lines["entrance"] = LineOf(v);
    if (auto text = NonEmptyString(v, p)) flow.entrance = StepName(*text);
  };
  ReadFields(
      value, path,
      {
          {"entrance", entrance},
          {"default_entrance", entrance},
          {"queue",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto queue = NonEmptyString(v, p)) {
               if (!IsValidQueueName(*queue)) {
                 Error(v, p, "invalid queue name: 1-100 characters of [A-Za-z0-9_.:-]");
               }
               flow.queue = *queue;
             }
           }},
          {"callback",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto text = NonEmptyString(v, p)) {
               if (!IsFunctionName(*text)) Error(v, p, "expected a function name category.action");
               flow.callback = *text;
             }
           }},
          {"steps",
           [&](const YAML::Node& v, const std::string& p) {
             lines["steps"] = LineOf(v);
             if (!v.IsMap()) {
               Error(v, p, "expected a mapping of step names to steps, got " + Describe(v));
               return;
             }
             ForEachEntry(v, p,
                          [&](const YAML::Node& step_key, const std::string& step_name,
                              const std::string& step_path, const YAML::Node& step_value) {
                            FlowStep step;
                            step.name = StepName(step_name);
                            lines[step.name] = LineOf(step_key);
                            ReadFlowStep(step_path, step_value, &step, &lines);
                            flow.steps.push_back(std::move(step));
                          });
           }},
      });
  if (error_count() > errors_before) return;  // the rules below would repeat them

  for (const FlowProblem& problem : flow.Problems()) {
    std::string at = problem.step.empty() ? problem.key : problem.step;
    if (!problem.step.empty() && !problem.key.empty()) {
      if (lines.contains(problem.step + "." + problem.key)) at = problem.step + "." + problem.key;
    }
    auto line = lines.find(at);
    std::string key_path = path;
    if (!problem.step.empty()) key_path = JoinPath(JoinPath(path, "steps"), problem.step);
    if (!problem.key.empty()) key_path = JoinPath(key_path, problem.key);
    Error(line != lines.end() ? line->second : flow_line, key_path, problem.message);
  }
  config_.flows.push_back(std::move(flow));
}

void Loader::ReadFlowStep(const std::string& path, const YAML::Node& value, FlowStep* step,
                          std::map<std::string, int, std::less<>>* lines) {
  if (!value.IsMap()) {
    Error(value, path, "expected a mapping of step settings, got " + Describe(value));
    return;
  }
  auto function_into = [this](std::string* out) {
    return [this, out](const YAML::Node& v, const std::string& p) {
      auto text = NonEmptyString(v, p);
      if (!text) return;
      // Elixir captures (&Flow1.flow1/1) are the seed's spelling, not a function here.
      if (!IsFunctionName(*text)) {
        Error(v, p,
              "expected a function name category.action (lower-case letters, digits, '_' and "
              "'-', one dot), got " +
                  Describe(v));
        return;
      }
      *out = *text;
    };
  };
  auto names_into = [this](std::vector<std::string>* out) {
    return [this, out](const YAML::Node& v, const std::string& p) {
      if (v.IsScalar()) {
        if (auto text = NonEmptyString(v, p)) out->push_back(StepName(*text));
        return;
      }
      if (auto list = StringList(v, p)) {
        for (std::string& n : *list) out->push_back(StepName(std::move(n)));
      }
    };
  };
  auto exit_on_failed = [this, step](const YAML::Node& v, const std::string& p) {
    if (auto exit = Bool(v, p)) step->exit_on_failed = *exit;
  };
  std::vector<Field> fields = {
          {"func_name", function_into(&step->function)},
          {"task_func", function_into(&step->function)},
          {"child_func", function_into(&step->child_function)},
          {"child_task_func", function_into(&step->child_function)},
          {"max_attempts",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = Integer(v, p, 1, kMaxAttempts)) step->retry.max_attempts = int(*n);
           }},
          {"task_retry_limit",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = Integer(v, p, 0, kMaxAttempts - 1)) step->retry.max_attempts = int(*n) + 1;
           }},
          {"delay",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto d = Seconds(v, p, /*allow_zero=*/true)) step->retry.delay = *d;
           }},
          {"timeout",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto d = Seconds(v, p, /*allow_zero=*/false)) step->timeout = *d;
           }},
          {"task_timeout",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto ms = Integer(v, p, 1, int64_t{1'000'000'000'000})) {
               step->timeout = std::chrono::milliseconds(*ms);
             }
           }},
          {"next", names_into(&step->next)},
          {"after", names_into(&step->after)},
          {"max_concurrency",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = Integer(v, p, 0, INT_MAX)) step->max_concurrency = int(*n);
           }},
          {"exit_on_failed", exit_on_failed},
          {"exit_on_failed?", exit_on_failed},
  };
  for (Field& field : fields) {
    // FlowProblem keys are our names; the seed's spellings report under them.
    std::string key(field.key);
    if (key == "task_func") key = "func_name";
    if (key == "child_task_func") key = "child_func";
    if (key == "task_retry_limit") key = "max_attempts";
    if (key == "task_timeout") key = "timeout";
    if (key == "exit_on_failed?") key = "exit_on_failed";
    field.apply = [lines, at = step->name + "." + key, apply = std::move(field.apply)](
                      const YAML::Node& v, const std::string& p) {
      (*lines)[at] = LineOf(v);
      apply(v, p);
    };
  }
  ReadFields(value, path, fields);
}

}  // namespace taskmill::config
