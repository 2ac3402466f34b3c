// config/loader.h — reads one configuration document into a Config.
//
// A Loader is a YamlReader (yaml_reader.h) that knows the sections of the file. Its
// methods live by subject:
//   config.cpp            the document (size, syntax, documents), the root and the result
//   server_sections.cpp   server, api, task_storage, task_runner, triggers, bulk
//   task_section.cpp      tasks: each key read, then TaskDef::Validate for the rules
//   flow_section.cpp      flows: each flow's steps, then FlowDef::Validate's rules
//   function_section.cpp  functions and remote_functions, and the rules between them
//                         and the other sections
// Not thread-safe; one loader per document.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace taskmill::config {

class Loader : private YamlReader {
 public:
  explicit Loader(std::string source) : YamlReader(source) { config_.source = std::move(source); }

  Result<Config> Load(std::string_view yaml);

 private:
  void ReadRoot(const YAML::Node& root);

  // server_sections.cpp
  void ReadServer(const YAML::Node& section, const std::string& path);
  void ReadRoles(const YAML::Node& value, const std::string& path);
  void ReadApi(const YAML::Node& section, const std::string& path);
  void ReadTaskStorage(const YAML::Node& section, const std::string& path);
  void ReadTaskRunner(const YAML::Node& section, const std::string& path);
  void ReadRunnerQueues(const YAML::Node& value, const std::string& path);
  void ReadQueues(const YAML::Node& section, const std::string& path);
  void ReadTriggers(const YAML::Node& section, const std::string& path);
  std::optional<std::vector<std::string>> TriggerFunctions(const YAML::Node& value,
                                                           const std::string& path);
  void ReadBulk(const YAML::Node& section, const std::string& path);

  // task_section.cpp
  void ReadTasks(const YAML::Node& section, const std::string& path);
  void ReadTask(const YAML::Node& key_node, const std::string& name, const std::string& path,
                const YAML::Node& value);

  // flow_section.cpp
  void ReadFlows(const YAML::Node& section, const std::string& path);
  void ReadFlow(const YAML::Node& key_node, const std::string& name, const std::string& path,
                const YAML::Node& value);
  // Reads one step; records the line of each key given as lines["<step>.<key>"].
  void ReadFlowStep(const std::string& path, const YAML::Node& value, FlowStep* step,
                    std::map<std::string, int, std::less<>>* lines);

  // function_section.cpp
  void ReadFunctionMap(const YAML::Node& section, const std::string& path,
                       void (Loader::*read)(const YAML::Node&, const std::string&,
                                            const std::string&, const YAML::Node&));
  void ReadFunction(const YAML::Node& key_node, const std::string& name, const std::string& path,
                    const YAML::Node& value);
  void ReadRemoteFunction(const YAML::Node& key_node, const std::string& name,
                          const std::string& path, const YAML::Node& value);
  // Rules between sections, once the whole file is read.
  void CheckRemoteFunctions();

  // `env:` of a command task or a co-process: NAME: value pairs, in file order.
  void ReadEnv(const YAML::Node& value, const std::string& path,
               std::vector<std::pair<std::string, std::string>>* env);

  Result<Config> Finish();

  Config config_;
  std::vector<bool> ttr_given_;    // per task of config_.tasks: has its own time_to_resolve
  std::vector<bool> queue_given_;  // per task of config_.tasks: has its own queue
  std::vector<int> remote_lines_;  // per remote function: line of its queue (or of its name)
};

// `category.action`, each part [a-z0-9_-]+: core's rule (ValidateFunctionName), asked
// here so that the loader's message can carry the line.
bool IsFunctionName(std::string_view name);

}  // namespace taskmill::config
