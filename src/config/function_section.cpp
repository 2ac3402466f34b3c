// The function sections of the configuration: `functions:` (bulk functions run as
// JSON-lines co-processes) and `remote_functions:` (run by remote runners), and the
// rules between them and the other sections.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "bulk/coprocess.h"
#include "config/loader.h"

namespace taskmill::config {

bool IsFunctionName(std::string_view name) { return ValidateFunctionName(name).ok(); }

// `functions:` and `remote_functions:`: maps of function names to definitions, each
// entry read by `read` once its name is known to be a valid function name.
void Loader::ReadFunctionMap(const YAML::Node& section, const std::string& path,
                             void (Loader::*read)(const YAML::Node&, const std::string&,
                                                  const std::string&, const YAML::Node&)) {
  if (!section.IsMap()) {
    Error(section, path,
          "expected a mapping of function names to definitions, got " + Describe(section));
    return;
  }
  ForEachEntry(section, path,
               [&](const YAML::Node& key_node, const std::string& name,
                   const std::string& function_path, const YAML::Node& value) {
                 if (!IsFunctionName(name)) {
                   Error(LineOf(key_node), function_path,
                         "invalid function name '" + name +
                             "'; expected category.action (lower-case letters, digits, '_' "
                             "and '-', one dot)");
                   return;
                 }
                 (this->*read)(key_node, name, function_path, value);
               });
}

// A function of `functions:`: a bulk function run by a co-process (CoprocessSpec).
void Loader::ReadFunction(const YAML::Node& key_node, const std::string& name,
                          const std::string& path, const YAML::Node& value) {
  const int line = LineOf(key_node);
  if (!value.IsMap()) {
    Error(value, path, "expected a mapping of function settings, got " + Describe(value));
    return;
  }
  const size_t errors_before = error_count();
  CoprocessSpec spec;
  spec.info.name = name;
  spec.info.input = "csv";
  int process_line = 0;
  std::vector<std::pair<std::string, int>> verify_lines;  // column, line
  auto list_into = [&](std::vector<std::string>* out) {
    return [this, out](const YAML::Node& v, const std::string& p) {
      if (auto items = StringList(v, p)) *out = std::move(*items);
    };
  };
  ReadFields(
      value, path,
      {
          {"description",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto text = String(v, p)) spec.info.description = *text;
           }},
          {"doc",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto text = String(v, p)) spec.info.doc = *text;
           }},
          {"input",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto input = Choice(v, p, "input", {"csv", "none"})) spec.info.input = *input;
           }},
          {"mandatory", list_into(&spec.info.mandatory)},
          {"optional", list_into(&spec.info.optional)},
          {"output_header", list_into(&spec.info.output_header)},
          {"header", list_into(&spec.header)},
          {"verify",
           [&](const YAML::Node& v, const std::string& p) {
             ForEachEntry(v, p,
                          [&](const YAML::Node& column_key, const std::string& column,
                              const std::string& column_path, const YAML::Node& pattern) {
                            auto text = NonEmptyString(pattern, column_path);
                            if (!text) return;
                            auto compiled = bulk::CompileVerifiers({{column, *text}});
                            if (!compiled.ok()) {
                              Error(pattern, column_path,
                                    "not a valid regular expression (ECMAScript): " + *text);
                              return;
                            }
                            spec.verifiers[column] = *text;
                            verify_lines.emplace_back(column, LineOf(column_key));
                          });
           }},
          {"process",
           [&](const YAML::Node& v, const std::string& p) {
             process_line = LineOf(v);
             auto argv = StringList(v, p);
             if (!argv) return;
             if (argv->empty() || argv->front().empty()) {
               Error(v, p, "the first element must name the program to run");
               return;
             }
             spec.argv = std::move(*argv);
           }},
          {"protocol",
           [&](const YAML::Node& v, const std::string& p) { Choice(v, p, "protocol", {"jsonl"}); }},
          {"working_dir",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto dir = String(v, p)) spec.working_dir = *dir;
           }},
          {"env", [&](const YAML::Node& v, const std::string& p) { ReadEnv(v, p, &spec.env); }},
          {"pipeline",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = Integer(v, p, 1, 10000)) spec.pipeline = static_cast<int>(*n);
           }},
          {"max_restarts",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = Integer(v, p, 0, 1000)) spec.max_restarts = static_cast<int>(*n);
           }},
          {"kill_grace_sec",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto grace = Seconds(v, p, /*allow_zero=*/true)) spec.kill_grace = *grace;
           }},
          {"stop_on_error",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto stop = Bool(v, p)) spec.stop_on_error = *stop;
           }},
          {"progress_every",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto rows = Integer(v, p, 1, INT64_MAX)) spec.progress_every = *rows;
           }},
          {"wait_after_row_ms",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto ms = Integer(v, p, 0, 3'600'000)) {
               spec.wait_after_row = std::chrono::milliseconds(*ms);
             }
           }},
      });

  // Rules between keys, each only when its keys were read without error.
  if (process_line == 0 && error_count() == errors_before) {
    Error(line, path, "process is required: the program to start, e.g. [\"python3\", \"my.py\"]");
  }
  std::vector<std::string_view> declared;
  for (const auto& c : spec.info.mandatory) declared.push_back(c);
  for (const auto& c : spec.info.optional) declared.push_back(c);
  for (const auto& [column, column_line] : verify_lines) {
    if (std::find(declared.begin(), declared.end(), column) == declared.end()) {
      std::string_view suggestion = ClosestMatch(column, declared);
      Error(column_line, path + ".verify." + column,
            "not a mandatory or optional column" +
                (suggestion.empty() ? std::string()
                                    : " (did you mean '" + std::string(suggestion) + "'?)"));
    }
  }
  if (error_count() == errors_before) {
    // The spec's own rules (columns declared twice, input vs columns, ...), with the
    // function's line; its messages already name the function.
    Status valid = spec.Validate();
    if (!valid.ok()) Error(line, path, valid.message());
  }
  config_.functions.push_back(std::move(spec));
}

// A function of `remote_functions:`: declared here, executed by workers that take its
// runs over HTTP (docs/remote-runners.md).
void Loader::ReadRemoteFunction(const YAML::Node& key_node, const std::string& name,
                                const std::string& path, const YAML::Node& value) {
  const int line = LineOf(key_node);
  if (!value.IsMap()) {
    Error(value, path, "expected a mapping with at least queue, got " + Describe(value));
    return;
  }
  FunctionInfo info;
  info.name = name;
  info.handler_kind = "remote";
  int queue_line = 0;
  ReadFields(value, path,
             {
                 {"queue",
                  [&](const YAML::Node& v, const std::string& p) {
                    queue_line = LineOf(v);
                    auto queue = NonEmptyString(v, p);
                    if (!queue) return;
                    if (!IsValidQueueName(*queue)) {
                      Error(v, p,
                            "invalid queue name '" + *queue +
                                "'; use 1-100 of letters, digits, '_', '.', ':', '-'");
                      return;
                    }
                    info.queue = *queue;
                  }},
                 {"description",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto text = String(v, p)) info.description = *text;
                  }},
                 {"doc",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto text = String(v, p)) info.doc = *text;
                  }},
             });
  if (queue_line == 0) {
    Error(line, path,
          "queue is required: the queue the remote runners take this function's runs from");
  }
  config_.remote_functions.push_back(std::move(info));
  remote_lines_.push_back(queue_line != 0 ? queue_line : line);
}

void Loader::CheckRemoteFunctions() {
  for (size_t i = 0; i < config_.remote_functions.size(); ++i) {
    const FunctionInfo& remote = config_.remote_functions[i];
    const std::string path = "remote_functions." + remote.name;
    for (const CoprocessSpec& spec : config_.functions) {
      if (spec.info.name == remote.name) {
        Error(remote_lines_[i], path, "also declared under functions; declare it once");
      }
    }
    if (remote.queue.empty()) continue;  // reported where it was read
    // The same rule as CheckRemoteQueues, with the line of the queue.
    if (HasRole(config_.server, "runner") &&
        (config_.runner_queues.empty() ||
         std::find(config_.runner_queues.begin(), config_.runner_queues.end(), remote.queue) !=
             config_.runner_queues.end())) {
      Error(remote_lines_[i], path + ".queue",
            "queue '" + remote.queue +
                "' would also be served by this process's runner, which cannot run remote "
                "functions; list the local queues in task_runner.queues (e.g. [default]) or "
                "leave out the runner role");
    }
  }
  // A task of a remote function goes where the function's workers take, unless it says
  // otherwise.
  for (size_t i = 0; i < config_.tasks.size(); ++i) {
    if (queue_given_[i]) continue;
    for (const FunctionInfo& remote : config_.remote_functions) {
      if (remote.name == config_.tasks[i].function && !remote.queue.empty()) {
        config_.tasks[i].queue = remote.queue;
      }
    }
  }
}

}  // namespace taskmill::config
