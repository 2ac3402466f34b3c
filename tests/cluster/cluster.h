// cluster.h — a taskmill cluster of real `taskmill serve` processes on loopback, all
// sharing one storage URL, for the cluster tests (tests/cluster/README.md).
//
// Each node is a ServeProcess (tests/soak/serve_process.h) with its own data
// directory and log, started with --storage URL --roles ROLES. The cluster talks to
// its API nodes over HTTP (src/cli/client.h) as a user would. Waits are deadlines in
// seconds on a state (harness.h WaitUntil).
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "integration/harness.h"
#include "soak/serve_process.h"

namespace taskmill::testing {

// Where the nodes store: a name for test output and the URL every node is given.
struct ClusterStorage {
  std::string name;
  std::string url;          // empty: a SQLite file in the cluster's directory, or for
                            // PostgreSQL a database the test makes
  std::string skip_reason;  // not empty: the tests on this storage are skipped
  bool postgres = false;
};

// The storages the cluster tests run on: a shared SQLite file, and a fresh database
// of the private PostgreSQL server the test binary starts (pg_test_server.h), or of
// the server $TASKMILL_TEST_POSTGRES_URL names when it is set.
ClusterStorage SqliteStorage();
ClusterStorage PostgresStorage();

class Cluster {
 public:
  // `storage_url` empty: a SQLite file in the cluster's temporary directory.
  explicit Cluster(std::string storage_url);
  ~Cluster();

  // Starts node `name` with `roles` ("scheduler,api", "runner", ...) and `extra`
  // arguments; nullptr (and a test failure naming its log) when it does not start.
  ServeProcess* Start(const std::string& name, const std::string& roles,
                      std::vector<std::string> extra = {});
  // The same, on another URL of the same storage (one through a TcpProxy).
  ServeProcess* StartOn(const std::string& name, const std::string& roles,
                        const std::string& storage_url);
  const std::string& storage_url() const { return storage_url_; }
  // The same, with the storage and the roles in a taskmill.yaml (server.storage,
  // server.roles) instead of flags.
  ServeProcess* StartFromConfig(const std::string& name, const std::vector<std::string>& roles);
  ServeProcess& node(const std::string& name) { return *nodes_.at(name); }
  // The last lines of every node's log, for a failed assertion's message.
  std::string Logs() const;

  // Calls the API of node `api` (one with the api role).
  boost::json::value Get(const std::string& api, const std::string& target);
  boost::json::value Send(const std::string& api, const std::string& method,
                          const std::string& target, const boost::json::value& body);

  // GET /api/v1/stats of node `api`: the count of each status, and "total".
  std::map<std::string, int64_t> Stats(const std::string& api);
  // Every run matching `query` (e.g. "task=tick"), page by page.
  std::vector<boost::json::object> Runs(const std::string& api, const std::string& query);

  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::string storage_url_;
  std::map<std::string, std::unique_ptr<ServeProcess>> nodes_;
};

}  // namespace taskmill::testing
