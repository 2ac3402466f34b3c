// The configuration loader's entry points and the document as a whole: its size, its
// YAML syntax, one document, its root sections, and the defaults applied once every
// section is read. The sections are read in server_sections.cpp, task_section.cpp and
// function_section.cpp (loader.h).
#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "config/document_probe.h"
#include "config/loader.h"

namespace taskmill::config {
namespace {

// A configuration file is a few kilobytes: a huge one is refused before it is read
// (aliases that expand to a huge tree are refused by DocumentProbe).
constexpr size_t kMaxDocumentBytes = size_t{4} << 20;

}  // namespace

void Loader::ReadRoot(const YAML::Node& root) {
  ReadFields(
      root, "",
      {
          {"server", [&](const YAML::Node& v, const std::string& p) { ReadServer(v, p); }},
          {"api", [&](const YAML::Node& v, const std::string& p) { ReadApi(v, p); }},
          {"task_storage",
           [&](const YAML::Node& v, const std::string& p) { ReadTaskStorage(v, p); }},
          {"task_runner", [&](const YAML::Node& v, const std::string& p) { ReadTaskRunner(v, p); }},
          {"scheduler", [&](const YAML::Node& v, const std::string& p) { ReadScheduler(v, p); }},
          {"tasks", [&](const YAML::Node& v, const std::string& p) { ReadTasks(v, p); }},
          {"queues", [&](const YAML::Node& v, const std::string& p) { ReadQueues(v, p); }},
          {"triggers", [&](const YAML::Node& v, const std::string& p) { ReadTriggers(v, p); }},
          {"bulk", [&](const YAML::Node& v, const std::string& p) { ReadBulk(v, p); }},
          {"functions",
           [&](const YAML::Node& v, const std::string& p) {
             ReadFunctionMap(v, p, &Loader::ReadFunction);
           }},
          {"remote_functions",
           [&](const YAML::Node& v, const std::string& p) {
             ReadFunctionMap(v, p, &Loader::ReadRemoteFunction);
           }},
          {"flows", [&](const YAML::Node& v, const std::string& p) { ReadFlows(v, p); }},
      });
}

Result<Config> Loader::Load(std::string_view yaml) {
  if (yaml.size() > kMaxDocumentBytes) {
    Error(0, "",
          "the file is " + std::to_string(yaml.size()) + " bytes; a configuration may be at most " +
              std::to_string(kMaxDocumentBytes >> 20) + " MiB");
    return Finish();
  }
  std::string text(yaml);
  try {
    // First walk the documents without building nodes, reading at most three.
    // yaml-cpp 0.7 never consumes a stray ',' at the start of a document: it reports
    // an empty document there again and again, so YAML::LoadAll never returns, and
    // YAML::Load returns an empty root, which would load as "all defaults" (yaml-cpp
    // issue #1040, fixed upstream after 0.8). A document whose root starts where the
    // previous one did is that loop; report it as the syntax error it is.
    constexpr int kMaxDocumentsProbed = 3;
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    DocumentProbe probe;
    for (int i = 0; i < kMaxDocumentsProbed && parser.HandleNextDocument(probe); ++i) {
    }
    const std::vector<YAML::Mark>& roots = probe.roots();
    for (size_t i = 1; i < roots.size(); ++i) {
      if (roots[i].pos == roots[i - 1].pos) {
        size_t pos = static_cast<size_t>(roots[i].pos);
        std::string found = pos < text.size() ? "'" + text.substr(pos, 1) + "'" : "end of file";
        Error(roots[i].line + 1, "", "invalid YAML: unexpected " + found);
        return Finish();
      }
    }
    if (roots.size() > 1) {
      Error(roots[1].line + 1, "",
            "expected one YAML document, found more than one (remove the '---' separators)");
    }
    if (probe.expansion_line() > 0) {
      // Refused before any node is built or walked.
      Error(probe.expansion_line(), "",
            "the YAML aliases expand to more than " + std::to_string(kMaxExpandedNodes) +
                " nodes; a configuration may reuse anchors, but not multiply them this much");
      return Finish();
    }
    if (!roots.empty()) ReadRoot(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    // Syntax errors, and yaml-cpp's guard against too deeply nested documents.
    Error(e.mark.is_null() ? 0 : e.mark.line + 1, "", "invalid YAML: " + e.msg);
  }
  // task_storage may come after tasks in the file, so the default is applied last.
  for (size_t i = 0; i < config_.tasks.size(); ++i) {
    if (!ttr_given_[i]) config_.tasks[i].time_to_resolve = config_.task_ttr;
  }
  CheckRemoteFunctions();
  return Finish();
}

Result<Config> Loader::Finish() {
  Status status = ErrorStatus();
  if (!status.ok()) return status;
  return std::move(config_);
}

Result<Config> LoadString(std::string_view yaml, std::string source_name) {
  return Loader(std::move(source_name)).Load(yaml);
}

Result<Config> LoadFile(const std::string& path) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    return Status::NotFound(path + ": no such file");
  }
  if (status.type() == std::filesystem::file_type::directory) {
    return Status::InvalidArgument(path + ": is a directory, expected a YAML file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument(path + ": cannot read: " + std::strerror(errno));
  return LoadString(text.str(), path);
}

std::string StorageUrl(const ServerSection& server) {
  if (!server.storage.empty()) return server.storage;
  return (std::filesystem::path(server.data_dir) / "taskmill.db").string();
}

bool HasRole(const ServerSection& server, std::string_view role) {
  return std::find(server.roles.begin(), server.roles.end(), role) != server.roles.end();
}

Status CheckRemoteQueues(const Config& config) {
  if (!HasRole(config.server, "runner")) return Status::Ok();
  const std::vector<std::string>& local = config.runner_queues;
  for (const FunctionInfo& remote : config.remote_functions) {
    if (local.empty() || std::find(local.begin(), local.end(), remote.queue) != local.end()) {
      return Status::InvalidArgument(
          "remote function " + remote.name + ": queue '" + remote.queue +
          "' would also be served by this process's runner, which cannot run remote functions; "
          "list the local queues in task_runner.queues (e.g. [default]) or leave out the runner "
          "role");
    }
  }
  return Status::Ok();
}

EngineOptions ToEngineOptions(const Config& config) {
  EngineOptions options;
  options.storage.url = StorageUrl(config.server);
  // server.synchronous is an option of the embedded backend: it travels in its URL.
  if (config.server.synchronous != "full") {
    options.storage.url += options.storage.url.find('?') == std::string::npos ? '?' : '&';
    options.storage.url += "synchronous=" + config.server.synchronous;
  }
  options.runner = HasRole(config.server, "runner");
  options.scheduler = HasRole(config.server, "scheduler");
  options.runner_options.capacity = config.runner_capacity;
  options.runner_options.prefetch = config.runner_prefetch;
  options.runner_options.output_limit = config.runner_output_limit;
  options.runner_options.kill_grace = config.kill_grace;
  options.runner_options.queues = config.runner_queues;
  options.scheduler_options.task_log_max_size = config.task_log_max_size;
  options.scheduler_options.history_retention = config.history_retention;
  options.scheduler_options.leader_ttl = config.scheduler_lease;
  options.scheduler_options.triggers = config.triggers;
  options.default_time_to_resolve = config.task_ttr;
  return options;
}

}  // namespace taskmill::config
