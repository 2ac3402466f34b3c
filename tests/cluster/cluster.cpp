#include "cluster/cluster.h"

#include <gtest/gtest.h>

#include <fstream>

#include "cli/client.h"

namespace taskmill::testing {
namespace json = boost::json;
using cli::HttpClient;

ClusterStorage SqliteStorage() { return {"sqlite", "", "", false}; }

ClusterStorage PostgresStorage() { return {"postgresql", "", "", true}; }

Cluster::Cluster(std::string storage_url) : storage_url_(std::move(storage_url)) {
  if (storage_url_.empty()) storage_url_ = (dir() / "shared.db").string();
}

Cluster::~Cluster() {
  // A clean stop, as an operator's; a node that does not stop in time is killed.
  for (auto& [name, node] : nodes_) {
    if (node) (void)node->TerminateWithin(std::chrono::seconds(30));
  }
}

ServeProcess* Cluster::StartOn(const std::string& name, const std::string& roles,
                               const std::string& storage_url) {
  std::string url = storage_url_;
  storage_url_ = storage_url;
  ServeProcess* started = Start(name, roles);
  storage_url_ = url;
  return started;
}

ServeProcess* Cluster::Start(const std::string& name, const std::string& roles,
                             std::vector<std::string> extra) {
  std::filesystem::path data = dir() / name;
  std::filesystem::create_directories(data);
  std::vector<std::string> args = {"--storage", storage_url_, "--roles", roles};
  args.insert(args.end(), extra.begin(), extra.end());
  auto node = std::make_unique<ServeProcess>(data, dir() / (name + ".log"), args);
  if (!node->started()) {
    ADD_FAILURE() << "node " << name << " (" << roles << ") did not start:\n" << node->LogTail();
    return nullptr;
  }
  ServeProcess* started = node.get();
  nodes_[name] = std::move(node);
  return started;
}

ServeProcess* Cluster::StartFromConfig(const std::string& name,
                                       const std::vector<std::string>& roles) {
  std::filesystem::path data = dir() / name;
  std::filesystem::create_directories(data);
  std::filesystem::path config = dir() / (name + ".yaml");
  std::string list;
  for (const auto& role : roles) list += (list.empty() ? "" : ", ") + role;
  {
    std::ofstream out(config);
    out << "server:\n  storage: \"" << storage_url_ << "\"\n  roles: [" << list << "]\n";
  }
  auto node = std::make_unique<ServeProcess>(data, dir() / (name + ".log"),
                                             std::vector<std::string>{"--config", config.string()});
  if (!node->started()) {
    ADD_FAILURE() << "node " << name << " (" << config << ") did not start:\n" << node->LogTail();
    return nullptr;
  }
  ServeProcess* started = node.get();
  nodes_[name] = std::move(node);
  return started;
}

std::string Cluster::Logs() const {
  std::string out;
  for (const auto& [name, node] : nodes_) {
    out += "---- " + name + " ----\n" + node->LogTail(1500) + "\n";
  }
  return out;
}

json::value Cluster::Get(const std::string& api, const std::string& target) {
  HttpClient client(node(api).url());
  auto answer = client.Get(target);
  if (!answer.ok()) {
    ADD_FAILURE() << "GET " << target << " on " << api << ": " << answer.status().ToString();
    return nullptr;
  }
  return *answer;
}

json::value Cluster::Send(const std::string& api, const std::string& method,
                          const std::string& target, const json::value& body) {
  HttpClient client(node(api).url());
  auto answer = client.Send(method, target, json::serialize(body));
  if (!answer.ok()) {
    ADD_FAILURE() << method << " " << target << " on " << api << ": " << answer.status().ToString();
    return nullptr;
  }
  if (answer->status >= 300) {
    ADD_FAILURE() << method << " " << target << " on " << api << ": " << answer->status << " "
                  << answer->body;
    return nullptr;
  }
  return answer->body.empty() ? json::value(nullptr) : json::parse(answer->body);
}

std::map<std::string, int64_t> Cluster::Stats(const std::string& api) {
  std::map<std::string, int64_t> out;
  json::value stats = Get(api, "/api/v1/stats");
  if (!stats.is_object()) return out;
  for (const auto& [status, n] : stats.at("statuses").as_object()) {
    out[std::string(status)] = n.to_number<int64_t>();
  }
  return out;
}

std::vector<json::object> Cluster::Runs(const std::string& api, const std::string& query) {
  std::vector<json::object> runs;
  std::string cursor;
  while (true) {
    std::string target = "/api/v1/runs?limit=1000&" + query;
    if (!cursor.empty()) target += "&cursor=" + cursor;
    json::value page = Get(api, target);
    if (!page.is_object()) return runs;
    for (const auto& run : page.at("runs").as_array()) runs.push_back(run.as_object());
    const json::value& next = page.at("next_cursor");
    if (next.is_null()) return runs;
    cursor = std::string(next.as_string());
  }
}

}  // namespace taskmill::testing
