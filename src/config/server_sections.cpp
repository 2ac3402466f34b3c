// The server's sections of the configuration: server, api, task_storage,
// task_runner, triggers and bulk (see config.h for what each feeds).
#include <algorithm>
#include <climits>
#include <cstdint>

#include "config/age.h"
#include "config/loader.h"

namespace taskmill::config {
namespace {

// Largest task_runner.output_limit: captured output is held in memory per attempt.
constexpr int64_t kMaxOutputLimit = int64_t{1} << 30;
// Largest task_runner.capacity: each slot is a thread, and thousands of them are
// already more than any machine runs at once; a larger number is a typo that would
// otherwise abort the server when the threads cannot be created.
constexpr int64_t kMaxCapacity = 4096;

const std::vector<std::string_view> kRoles = {"api", "scheduler", "runner"};
const std::vector<std::string_view> kSynchronousModes = {"full", "normal"};

// host:port with a decimal port 0-65535; an IPv6 host is bracketed ([::1]:8080).
bool IsListenAddress(std::string_view listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = listen.substr(0, colon);
  std::string_view port = listen.substr(colon + 1);
  int64_t port_number = 0;
  if (port.empty() || !std::all_of(port.begin(), port.end(), IsDigit) ||
      ParseInteger(port, &port_number) != Parsed::kOk || port_number > 65535) {
    return false;
  }
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find(':') == std::string_view::npos;  // unbracketed IPv6 is ambiguous
}

}  // namespace

void Loader::ReadServer(const YAML::Node& section, const std::string& path) {
  ServerSection& server = config_.server;
  ReadFields(section, path,
             {
                 {"listen",
                  [&](const YAML::Node& v, const std::string& p) {
                    auto listen = String(v, p);
                    if (!listen) return;
                    if (!IsListenAddress(*listen)) {
                      Error(v, p, "expected host:port (e.g. 127.0.0.1:8080), got " + Describe(v));
                      return;
                    }
                    server.listen = *listen;
                  }},
                 {"data_dir",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto dir = NonEmptyString(v, p)) server.data_dir = *dir;
                  }},
                 {"storage",
                  [&](const YAML::Node& v, const std::string& p) {
                    // Checked when opened (OpenStorage), which knows the supported schemes.
                    if (auto url = String(v, p)) server.storage = *url;
                  }},
                 {"synchronous",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto mode = Choice(v, p, "synchronous mode", kSynchronousModes)) {
                      server.synchronous = *mode;
                    }
                  }},
                 {"roles", [&](const YAML::Node& v, const std::string& p) { ReadRoles(v, p); }},
             });
}

void Loader::ReadRoles(const YAML::Node& value, const std::string& path) {
  if (!value.IsSequence()) {
    Error(value, path,
          "expected a list of roles (" + JoinKeys(kRoles) + "), got " + Describe(value));
    return;
  }
  if (value.size() == 0) {
    Error(value, path, "at least one role is required; choose from " + JoinChoices(kRoles));
    return;
  }
  std::vector<std::string> roles;
  bool ok = true;
  size_t index = 0;
  for (auto it = value.begin(); it != value.end(); ++it, ++index) {
    std::string item_path = IndexPath(path, index);
    auto role = Choice(*it, item_path, "role", kRoles);
    if (!role) {
      ok = false;
    } else if (std::find(roles.begin(), roles.end(), *role) != roles.end()) {
      Error(*it, item_path, "role '" + *role + "' is listed twice");
      ok = false;
    } else {
      roles.push_back(std::move(*role));
    }
  }
  if (ok) config_.server.roles = std::move(roles);
}

void Loader::ReadApi(const YAML::Node& section, const std::string& path) {
  ApiSection& api = config_.api;
  auto integer = [&](auto* out, int64_t min, int64_t max) {
    return [this, out, min, max](const YAML::Node& v, const std::string& p) {
      if (auto value = Integer(v, p, min, max))
        *out = static_cast<std::decay_t<decltype(*out)>>(*value);
    };
  };
  auto seconds = [&](Duration* out, bool allow_zero) {
    return [this, out, allow_zero](const YAML::Node& v, const std::string& p) {
      if (auto value = Seconds(v, p, allow_zero)) *out = *value;
    };
  };
  ReadFields(section, path,
             {
                 {"threads", integer(&api.threads, 1, 256)},
                 {"max_json_body", integer(&api.max_json_body, 1024, int64_t{1} << 30)},
                 {"max_header", integer(&api.max_header, 1024, int64_t{64} << 20)},
                 {"request_timeout_sec", seconds(&api.request_timeout, false)},
                 {"idle_timeout_sec", seconds(&api.idle_timeout, false)},
                 {"max_connections", integer(&api.max_connections, 1, 1 << 20)},
                 {"max_wait_sec", seconds(&api.max_wait, true)},
                 {"allow_command_tasks",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto allow = Bool(v, p)) api.allow_command_tasks = *allow;
                  }},
                 {"tls_cert",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto file = String(v, p)) api.tls_cert = *file;
                  }},
                 {"tls_key",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto file = String(v, p)) api.tls_key = *file;
                  }},
             });
  if (api.tls_cert.empty() != api.tls_key.empty()) {
    Error(section, path, "tls_cert and tls_key go together: give both, or neither");
  }
}

void Loader::ReadTaskStorage(const YAML::Node& section, const std::string& path) {
  ReadFields(section, path,
             {
                 {"task_ttr",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto ttr = Seconds(v, p, /*allow_zero=*/false)) config_.task_ttr = *ttr;
                  }},
                 {"task_log_max_size",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto size = Integer(v, p, 1, INT_MAX)) {
                      config_.task_log_max_size = static_cast<int>(*size);
                    }
                  }},
                 {"history_retention",
                  [&](const YAML::Node& v, const std::string& p) {
                    auto text = String(v, p);
                    if (!text) return;
                    auto age = ParseAge(*text);
                    if (!age.ok()) return Error(v, p, age.status().message());
                    config_.history_retention = *age;
                  }},
             });
}

void Loader::ReadScheduler(const YAML::Node& section, const std::string& path) {
  ReadFields(section, path,
             {
                 {"lease",
                  [&](const YAML::Node& v, const std::string& p) {
                    auto lease = Seconds(v, p, /*allow_zero=*/false);
                    if (!lease) return;
                    // The leader renews its lease every sweep (1 s): a shorter lease
                    // would lapse between two renewals of a live leader.
                    if (*lease < kMinSchedulerLease) {
                      Error(v, p, "must be at least 2 seconds (the lease is renewed every second)");
                      return;
                    }
                    config_.scheduler_lease = *lease;
                  }},
             });
}

void Loader::ReadTaskRunner(const YAML::Node& section, const std::string& path) {
  ReadFields(
      section, path,
      {
          {"capacity",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto capacity = Integer(v, p, 1, kMaxCapacity)) {
               config_.runner_capacity = static_cast<int>(*capacity);
             }
           }},
          {"prefetch",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto prefetch = Integer(v, p, 0, 1'000'000)) {
               config_.runner_prefetch = static_cast<int>(*prefetch);
             }
           }},
          {"output_limit",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto limit = Integer(v, p, 0, kMaxOutputLimit)) {
               config_.runner_output_limit = static_cast<size_t>(*limit);
             }
           }},
          {"kill_grace_sec",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto grace = Seconds(v, p, /*allow_zero=*/true)) config_.kill_grace = *grace;
           }},
          {"queues", [&](const YAML::Node& v, const std::string& p) { ReadRunnerQueues(v, p); }},
      });
}

// task_runner.queues: a non-empty list of distinct queue names. An empty list is an
// error rather than "every queue", which is what leaving the key out means.
void Loader::ReadRunnerQueues(const YAML::Node& value, const std::string& path) {
  auto queues = StringList(value, path);
  if (!queues) return;
  if (queues->empty()) {
    Error(value, path, "at least one queue is required; omit the key to serve every queue");
    return;
  }
  bool ok = true;
  for (size_t i = 0; i < queues->size(); ++i) {
    const std::string& queue = (*queues)[i];
    const YAML::Node item = value[i];
    if (!IsValidQueueName(queue)) {
      Error(item, IndexPath(path, i),
            "invalid queue name '" + queue + "'; use 1-100 of letters, digits, '_', '.', ':', '-'");
      ok = false;
    } else if (std::find(queues->begin(), queues->begin() + static_cast<std::ptrdiff_t>(i),
                         queue) != queues->begin() + static_cast<std::ptrdiff_t>(i)) {
      Error(item, IndexPath(path, i), "queue '" + queue + "' is listed twice");
      ok = false;
    }
  }
  if (ok) config_.runner_queues = std::move(*queues);
}

// queues: a mapping of queue names to their settings (max_concurrency).
void Loader::ReadQueues(const YAML::Node& section, const std::string& path) {
  if (!section.IsMap()) {
    Error(section, path, "expected a mapping of queue names to settings, got " + Describe(section));
    return;
  }
  ForEachEntry(section, path,
               [&](const YAML::Node& key_node, const std::string& name,
                   const std::string& queue_path, const YAML::Node& value) {
                 if (!IsValidQueueName(name)) {
                   Error(key_node, queue_path,
                         "invalid queue name '" + name +
                             "'; use 1-100 of letters, digits, '_', '.', ':', '-'");
                   return;
                 }
                 ReadFields(value, queue_path,
                            {
                                {"max_concurrency",
                                 [&](const YAML::Node& v, const std::string& p) {
                                   if (auto cap = Integer(v, p, 0, 1'000'000)) {
                                     config_.queue_caps[name] = static_cast<int>(*cap);
                                   }
                                 }},
                            });
               });
}

void Loader::ReadTriggers(const YAML::Node& section, const std::string& path) {
  TriggerBindings& triggers = config_.triggers;
  auto bind = [&](std::vector<std::string>* out) {
    return [this, out](const YAML::Node& v, const std::string& p) {
      if (auto names = TriggerFunctions(v, p)) *out = std::move(*names);
    };
  };
  ReadFields(section, path,
             {
                 {"minutely", bind(&triggers.minutely)},
                 {"hourly", bind(&triggers.hourly)},
                 {"daily", bind(&triggers.daily)},
                 {"each_account", bind(&triggers.each_account)},
                 {"browse_interval_sec",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto interval = Seconds(v, p, /*allow_zero=*/false)) {
                      triggers.browse_interval = *interval;
                    }
                  }},
             });
}

// The functions bound to one trigger: a list of function names, each at most once.
// Whether they are registered is checked when the engine opens (Engine::Open), which
// knows the registry.
std::optional<std::vector<std::string>> Loader::TriggerFunctions(const YAML::Node& value,
                                                                 const std::string& path) {
  if (!value.IsSequence()) {
    Error(value, path, "expected a list of function names, got " + Describe(value));
    return std::nullopt;
  }
  std::vector<std::string> names;
  bool ok = true;
  size_t index = 0;
  for (auto it = value.begin(); it != value.end(); ++it, ++index) {
    std::string item_path = IndexPath(path, index);
    auto name = String(*it, item_path);
    if (!name) {
      ok = false;
    } else if (!IsFunctionName(*name)) {
      Error(*it, item_path,
            "expected a function name category.action (lower-case letters, digits, '_' and "
            "'-', one dot), got " +
                Describe(*it));
      ok = false;
    } else if (name->starts_with("trigger.")) {
      Error(*it, item_path, "'" + *name + "' is a trigger; bind the functions it calls instead");
      ok = false;
    } else if (std::find(names.begin(), names.end(), *name) != names.end()) {
      Error(*it, item_path, "function '" + *name + "' is bound twice");
      ok = false;
    } else {
      names.push_back(std::move(*name));
    }
  }
  if (!ok) return std::nullopt;
  return names;
}

// `bulk:` — BulkOptions.
void Loader::ReadBulk(const YAML::Node& section, const std::string& path) {
  BulkOptions& bulk = config_.bulk;
  ReadFields(section, path,
             {
                 {"max_file_size",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto size = Integer(v, p, 1024, INT64_MAX)) bulk.max_file_size = *size;
                  }},
                 {"max_record_size",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto size = Integer(v, p, 1024, int64_t{1} << 30)) {
                      bulk.max_record_size = static_cast<size_t>(*size);
                    }
                  }},
                 {"progress_every",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto rows = Integer(v, p, 1, INT64_MAX)) bulk.progress_every = *rows;
                  }},
                 {"wait_after_row_ms",
                  [&](const YAML::Node& v, const std::string& p) {
                    if (auto ms = Integer(v, p, 0, 3'600'000)) {
                      bulk.wait_after_row = std::chrono::milliseconds(*ms);
                    }
                  }},
             });
}

}  // namespace taskmill::config
