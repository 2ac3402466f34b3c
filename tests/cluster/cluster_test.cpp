// Cluster tests: real `taskmill serve` processes on loopback sharing one storage, each
// playing some roles, as on separate machines. Parameterised by storage (cluster.h):
// every test runs on a shared SQLite file, and on PostgreSQL when a server is given.
#include "cluster/cluster.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <taskmill/clock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "cli/client.h"
#include "cluster/tcp_proxy.h"
#include "storage/postgres/testing/pg_test_server.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

using postgres::testing::PgTestServer;

// The leader lease of the failover test's schedulers (--scheduler-lease): short, so
// that the test waits seconds, not half a minute; long enough that a leader on a
// loaded machine renews it (every second) before it lapses.
constexpr auto kLease = 4s;

class ClusterTest : public ::testing::TestWithParam<ClusterStorage> {
 protected:
  void SetUp() override {
    if (!GetParam().skip_reason.empty()) GTEST_SKIP() << GetParam().skip_reason;
    std::string url = GetParam().url;
    if (GetParam().postgres) {
      // One server for the binary (or TASKMILL_TEST_POSTGRES_URL's), a fresh database
      // for each test.
      auto server = PgTestServer::Shared();
      ASSERT_TRUE(server.ok()) << server.status().ToString();
      url = FreshDatabase(**server);
      if (url.empty()) return;
      server_ = *server;
    }
    cluster_ = std::make_unique<Cluster>(url);
  }
  void TearDown() override {
    cluster_.reset();  // the nodes stop before their database goes
    if (server_ && !database_.empty()) (void)server_->DropDatabase(database_);
  }
  Cluster& cluster() { return *cluster_; }

  // Makes an empty database on `server` and answers its URL (empty after a failure).
  std::string FreshDatabase(PgTestServer& server) {
    database_ = PgTestServer::UniqueName("cluster");
    auto url = server.CreateDatabase(database_);
    if (!url.ok()) {
      ADD_FAILURE() << url.status().ToString();
      return "";
    }
    return *url;
  }

  // Waits up to `seconds` until node `api`'s scheduler reports that it leads.
  bool WaitLeader(const std::string& api, std::chrono::duration<double> seconds) {
    return WaitUntil(seconds, [&] {
      json::value state = cluster().Get(api, "/api/v1/scheduler");
      return state.is_object() && state.at("is_leader").as_bool();
    });
  }

  PgTestServer* server_ = nullptr;  // where database_ is
  std::string database_;
  std::optional<PgTestServer> own_server_;  // a test's own server; outlives cluster_
  std::unique_ptr<Cluster> cluster_;
};

// The runner of node `name`, as GET /api/v1/runners lists it (by its pid).
std::optional<json::object> RunnerOf(Cluster& cluster, const std::string& api, int pid) {
  json::value listed = cluster.Get(api, "/api/v1/runners");
  if (!listed.is_object()) return std::nullopt;
  for (const auto& runner : listed.at("runners").as_array()) {
    if (runner.at("pid").to_number<int64_t>() == pid) return runner.as_object();
  }
  return std::nullopt;
}

TEST_P(ClusterTest, EveryApiNodeListsEveryRunnerOfTheCluster) {
  ASSERT_TRUE(cluster().Start("leader", "scheduler,api"));
  ASSERT_TRUE(cluster().Start("standby", "scheduler,api"));
  ASSERT_TRUE(cluster().Start("runner-1", "runner"));
  // The same roles from taskmill.yaml's server.storage and server.roles.
  ASSERT_TRUE(cluster().StartFromConfig("runner-2", {"runner"}));
  for (const std::string api : {"leader", "standby"}) {
    for (const std::string runner : {"runner-1", "runner-2"}) {
      int pid = cluster().node(runner).pid();
      EXPECT_TRUE(WaitUntil(10s, [&] { return RunnerOf(cluster(), api, pid).has_value(); }))
          << api << " does not list " << runner << "\n"
          << cluster().Logs();
    }
  }
  auto listed = RunnerOf(cluster(), "standby", cluster().node("runner-1").pid());
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->at("kind").as_string(), "local");
  EXPECT_GT(listed->at("capacity").to_number<int64_t>(), 0);
  EXPECT_EQ(listed->at("used").to_number<int64_t>(), 0);
}

// kill -9 of a runner during 20,000 runs: every run ends completed, none is lost, and
// the only runs tried twice are those the killed runner held.
TEST_P(ClusterTest, RunnerKilledDuringLoadLosesNoRunAndRetriesOnlyItsRunsInFlight) {
  ASSERT_TRUE(cluster().Start("leader", "scheduler,api"));
  ASSERT_TRUE(cluster().Start("standby", "scheduler"));
  ServeProcess* doomed = cluster().Start("runner-1", "runner");
  ASSERT_TRUE(doomed);
  ASSERT_TRUE(cluster().Start("runner-2", "runner"));
  const int doomed_pid = doomed->pid();  // its id in the runners list
  std::optional<json::object> doomed_runner;
  ASSERT_TRUE(WaitUntil(10s, [&] {
    doomed_runner = RunnerOf(cluster(), "leader", doomed_pid);
    return doomed_runner.has_value();
  })) << cluster().Logs();
  const std::string doomed_id(doomed_runner->at("id").as_string());
  const int64_t doomed_capacity = doomed_runner->at("capacity").to_number<int64_t>();

  constexpr int kRuns = 20000;
  constexpr int kBatch = 10000;
  for (int stored = 0; stored < kRuns; stored += kBatch) {
    json::array runs;
    for (int i = 0; i < kBatch; ++i) {
      runs.push_back(json::object{{"function", "demo.sleep"},
                                  {"args", json::array{0.01}},
                                  {"max_attempts", 3},
                                  {"time_to_resolve", 30}});
    }
    json::value answer = cluster().Send("leader", "POST", "/api/v1/runs:batch?return=ids",
                                        json::object{{"runs", std::move(runs)}});
    ASSERT_TRUE(answer.is_object());
    ASSERT_EQ(answer.at("runs").as_array().size(), static_cast<size_t>(kBatch));
  }
  // Killed in the middle of the load, while it holds runs: attempts of 10 ms keep its
  // slots full, and the kill follows a listing that shows it running some.
  ASSERT_TRUE(WaitUntil(60s, [&] { return cluster().Stats("leader")["completed"] >= kRuns / 4; }))
      << cluster().Logs();
  std::set<std::string> seen_held;  // runs the last listing before the kill showed it hold
  ASSERT_TRUE(WaitUntil(30s, [&] {
    json::value running = cluster().Get("leader", "/api/v1/runs?status=running&limit=1000");
    if (!running.is_object()) return false;
    for (const auto& run : running.at("runs").as_array()) {
      if (run.at("runner").as_string() == doomed_id)
        seen_held.insert(std::string(run.at("id").as_string()));
    }
    return !seen_held.empty();
  })) << cluster().Logs();
  doomed->Kill9();

  // A lease ends within time_to_resolve (30 s) plus a sweep; the rest runs meanwhile.
  std::map<std::string, int64_t> stats;
  EXPECT_TRUE(WaitUntil(120s,
                        [&] {
                          stats = cluster().Stats("leader");
                          return stats["completed"] + stats["failed"] + stats["lost"] >= kRuns;
                        }))
      << "pending " << stats["pending"] << ", running " << stats["running"] << "\n"
      << cluster().Logs();
  EXPECT_EQ(stats["total"], kRuns) << "no run is lost nor duplicated";
  EXPECT_EQ(stats["completed"], kRuns);
  EXPECT_EQ(stats["failed"], 0);
  EXPECT_EQ(stats["lost"], 0);

  std::vector<json::object> runs = cluster().Runs("leader", "function=demo.sleep");
  ASSERT_EQ(runs.size(), static_cast<size_t>(kRuns));
  int retried = 0;
  int handed_back = 0;
  for (const json::object& run : runs) {
    const json::array& attempts = run.at("attempts").as_array();
    if (run.at("max_attempts").to_number<int64_t>() > 3) {
      // Claimed by the killed runner, but its start was not stored yet (a backend may
      // store starts lazily: storage.h RunStartBatch): handed back uncharged, which
      // raises max_attempts by one and records no attempt; then run by another.
      ++handed_back;
      for (const auto& attempt : attempts) {
        EXPECT_NE(attempt.at("runner").as_string(), doomed_id) << json::serialize(run);
      }
    }
    if (attempts.size() <= 1) continue;
    ++retried;
    // Only the runs the killed runner held (running, or finished with the outcome not
    // yet stored) are retried: their first attempt was its, ended lost by the sweep,
    // and the last one completed on another runner.
    ASSERT_EQ(attempts.size(), 2u) << json::serialize(run);
    EXPECT_EQ(attempts.front().at("runner").as_string(), doomed_id) << json::serialize(run);
    EXPECT_EQ(attempts.front().at("outcome").as_string(), "lost") << json::serialize(run);
    EXPECT_NE(attempts.back().at("runner").as_string(), doomed_id) << json::serialize(run);
  }
  std::map<std::string, int> attempts_by_runner;
  for (const json::object& run : runs) {
    for (const auto& attempt : run.at("attempts").as_array()) {
      ++attempts_by_runner[std::string(attempt.at("runner").as_string())];
    }
  }
  for (const auto& [runner, n] : attempts_by_runner) {
    std::cout << "[ cluster  ] " << GetParam().name << ": " << n << " attempts on " << runner
              << (runner == doomed_id ? " (killed)" : "") << "\n";
  }
  // The runs seen held just before the kill either ended on the killed runner before it
  // died (an attempt of 10 ms can end between the listing and the kill), were retried
  // on another, or (claimed, not started) were handed back; none ended otherwise. (The kill can
  // fall in the instant between one batch of finishes and the next claim, so that it held none at
  // all: a valid outcome, which this test does not fail.)
  for (const json::object& run : runs) {
    if (!seen_held.count(std::string(run.at("id").as_string()))) continue;
    // Claimed, its start not stored: handed back uncharged, checked above.
    if (run.at("max_attempts").to_number<int64_t>() > 3) continue;
    const json::array& attempts = run.at("attempts").as_array();
    ASSERT_FALSE(attempts.empty()) << json::serialize(run);
    EXPECT_EQ(attempts.front().at("runner").as_string(), doomed_id) << json::serialize(run);
    if (attempts.size() == 1) {
      EXPECT_EQ(attempts.front().at("outcome").as_string(), "completed") << json::serialize(run);
    }
  }
  std::cout << "[ cluster  ] " << GetParam().name << ": " << retried
            << " runs retried (an attempt lost) and " << handed_back
            << " handed back uncharged (claimed, start not yet stored) after the kill of a "
               "runner of "
            << doomed_capacity << " slots\n";
}

// kill -9 of the leading scheduler: the standby leads within 2 × the lease, and a
// per-second periodical task misses no second and fires none twice.
TEST_P(ClusterTest, LeaderKilledStandbyLeadsWithinTwoLeasesAndNoSecondIsMissedOrDoubled) {
  const std::vector<std::string> lease = {
      "--scheduler-lease",
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kLease).count())};
  ASSERT_TRUE(cluster().Start("leader", "scheduler,api", lease));
  ASSERT_TRUE(WaitLeader("leader", 10s)) << cluster().Logs();
  ASSERT_TRUE(cluster().Start("standby", "scheduler,api", lease));
  ASSERT_TRUE(cluster().Start("runner-1", "runner"));
  ASSERT_TRUE(cluster().Start("runner-2", "runner"));
  // Exactly one leads; both name it.
  json::value on_standby = cluster().Get("standby", "/api/v1/scheduler");
  ASSERT_TRUE(on_standby.is_object());
  EXPECT_FALSE(on_standby.at("is_leader").as_bool());
  EXPECT_EQ(on_standby.at("leader"), cluster().Get("leader", "/api/v1/scheduler").at("leader"));
  json::value defined = cluster().Send(
      "leader", "PUT", "/api/v1/tasks/tick",
      json::object{{"kind", "periodical"},
                   {"function", "demo.echo"},
                   {"schedule", "* * * * * *"},
                   {"overlap", "allow"},
                   // Seconds missed while no scheduler led are run late, not skipped.
                   {"misfire", "run_all"},
                   {"misfire_max", 1000}});
  ASSERT_TRUE(defined.is_object());
  ASSERT_TRUE(WaitUntil(20s, [&] { return cluster().Runs("leader", "task=tick").size() >= 3; }))
      << cluster().Logs();

  cluster().node("leader").Kill9();
  const auto killed_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitLeader("standby", 2 * kLease)) << cluster().Logs();
  std::cout << "[ cluster  ] " << GetParam().name << ": the standby led "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count()
            << " s after the leader's kill (measured by polling every 20 ms)\n";
  // Three seconds fired by the new leader.
  const std::string taken_over =
      FormatTime(std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()));
  ASSERT_TRUE(WaitUntil(20s, [&] {
    size_t after = 0;
    for (const auto& run : cluster().Runs("standby", "task=tick")) {
      // The same format throughout, so the text orders as the instants do.
      after += std::string(run.at("created_at").as_string()) >= taken_over;
    }
    return after >= 3;
  })) << cluster().Logs();

  std::vector<json::object> runs = cluster().Runs("standby", "task=tick");
  std::map<std::string, int> fired;  // scheduled_at → runs
  for (const json::object& run : runs) {
    ++fired[std::string(run.at("scheduled_at").as_string())];
    EXPECT_NE(run.at("status").as_string(), "did_not_start") << json::serialize(run);
  }
  for (const auto& [second, n] : fired) EXPECT_EQ(n, 1) << second << " fired " << n << " times";
  // Consecutive seconds from the first to the last: none missed.
  std::vector<int64_t> seconds;
  for (const auto& [second, n] : fired) {
    TimePoint at;
    ASSERT_TRUE(ParseTime(second, &at)) << second;
    seconds.push_back(
        std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count());
  }
  std::sort(seconds.begin(), seconds.end());
  ASSERT_GE(seconds.size(), 6u);
  for (size_t i = 1; i < seconds.size(); ++i) {
    EXPECT_EQ(seconds[i] - seconds[i - 1], 1) << "a gap after the " << i << "th second";
  }
}

// The host and port of a postgresql:// URL, and the URL with them replaced.
struct UrlHost {
  std::string host;
  int port = 5432;
  std::string before, after;  // the URL around "host:port"
};
std::optional<UrlHost> SplitHost(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return std::nullopt;
  size_t start = url.find('@', scheme);
  start = start == std::string::npos ? scheme + 3 : start + 1;
  size_t end = url.find_first_of("/?", start);
  if (end == std::string::npos) end = url.size();
  std::string hostport = url.substr(start, end - start);
  UrlHost out{hostport, 5432, url.substr(0, start), url.substr(end)};
  if (size_t colon = hostport.rfind(':'); colon != std::string::npos) {
    out.host = hostport.substr(0, colon);
    out.port = std::stoi(hostport.substr(colon + 1));
  }
  return out;
}

// A runner cut off from the database: its leases expire, its runs are retried on
// another runner, and the outcomes it writes when the link comes back are refused.
TEST_P(ClusterTest, PartitionedRunnerLosesItsRunsToAnotherAndItsLateFinishesAreRefused) {
  if (!GetParam().postgres) {
    GTEST_SKIP() << "PostgreSQL only: nodes sharing a SQLite file share one machine, and "
                    "a file cannot be cut off from one of them";
  }
  auto target = SplitHost(cluster().storage_url());
  ASSERT_TRUE(target) << cluster().storage_url();
  TcpProxy proxy(target->host, target->port);
  ASSERT_GT(proxy.port(), 0);
  const std::string through_proxy =
      target->before + "127.0.0.1:" + std::to_string(proxy.port()) + target->after;

  ASSERT_TRUE(cluster().Start("leader", "scheduler,api"));
  ServeProcess* cut_off = cluster().StartOn("runner-1", "runner", through_proxy);
  ASSERT_TRUE(cut_off);
  json::array runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(json::object{{"function", "demo.sleep"},
                                {"args", json::array{8}},
                                {"max_attempts", 2},
                                {"time_to_resolve", 3}});
  }
  ASSERT_TRUE(
      cluster()
          .Send("leader", "POST", "/api/v1/runs:batch", json::object{{"runs", std::move(runs)}})
          .is_object());
  ASSERT_TRUE(WaitUntil(30s, [&] { return cluster().Stats("leader")["running"] == 4; }))
      << cluster().Logs();
  ASSERT_TRUE(cluster().Start("runner-2", "runner"));

  proxy.Cut();
  // Leases of 3 s end, the sweep retries the runs, and runner-2 takes them.
  ASSERT_TRUE(WaitUntil(30s, [&] {
    int retried = 0;
    for (const auto& run : cluster().Runs("leader", "function=demo.sleep")) {
      retried += run.at("attempts").as_array().size() == 1 && run.at("status") == "running";
    }
    return retried == 4;
  })) << cluster().Logs();
  proxy.Heal();
  // runner-1's attempts end now and their outcomes reach the database: refused.
  ASSERT_TRUE(WaitUntil(60s, [&] { return cluster().Stats("leader")["completed"] == 4; }))
      << cluster().Logs();
  for (const auto& run : cluster().Runs("leader", "function=demo.sleep")) {
    const json::array& attempts = run.at("attempts").as_array();
    ASSERT_EQ(attempts.size(), 2u) << json::serialize(run);
    EXPECT_EQ(attempts[0].at("outcome").as_string(), "lost") << json::serialize(run);
    EXPECT_EQ(attempts[1].at("outcome").as_string(), "completed") << json::serialize(run);
  }
  // And the cut-off runner serves again without a restart of its own.
  EXPECT_TRUE(WaitUntil(30s, [&] {
    return RunnerOf(cluster(), "leader", cut_off->pid()).has_value();
  })) << cluster().Logs();
}

// PostgreSQL stopped with a fast shutdown and started again while runs are created and
// run: every run the API acknowledged is stored and completes, and every node carries
// on without a restart of its own.
TEST_P(ClusterTest, DatabaseRestartedDuringLoadLosesNoAcknowledgedRun) {
  if (!GetParam().postgres) {
    GTEST_SKIP() << "PostgreSQL only: SQLite has no server to restart";
  }
  // A server of this test's own, since it restarts it.
  auto own = PgTestServer::Start();
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  if (own->external()) {
    GTEST_SKIP() << "TASKMILL_TEST_POSTGRES_URL names a server this test cannot restart";
  }
  own_server_.emplace(std::move(*own));
  cluster_.reset();
  if (server_ && !database_.empty()) (void)server_->DropDatabase(database_);
  server_ = nullptr;
  database_.clear();
  const std::string url = FreshDatabase(*own_server_);
  ASSERT_FALSE(url.empty());
  cluster_ = std::make_unique<Cluster>(url);

  ASSERT_TRUE(cluster().Start("leader", "scheduler,api"));
  ASSERT_TRUE(cluster().Start("runner-1", "runner"));
  ASSERT_TRUE(cluster().Start("runner-2", "runner"));

  // A client creating batches of runs without pause, as a user's program would,
  // keeping the ids of the batches the API acknowledged; errors while the database is
  // down are expected (the client sees them, and would retry).
  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged_batches{0}, refused_batches{0};
  std::mutex ids_mu;
  std::set<std::string> acknowledged;
  std::thread client([&] {
    cli::HttpClient http(cluster().node("leader").url());
    while (!stop) {
      json::array runs;
      for (int i = 0; i < 50; ++i) {
        runs.push_back(json::object{{"function", "demo.sleep"},
                                    {"args", json::array{0.001}},
                                    {"max_attempts", 3},
                                    {"time_to_resolve", 10}});
      }
      auto answer = http.Send("POST", "/api/v1/runs:batch?return=ids",
                              json::serialize(json::object{{"runs", std::move(runs)}}),
                              "application/json", 10s);
      if (!answer.ok() || answer->status >= 300) {
        ++refused_batches;
        std::this_thread::sleep_for(50ms);
        continue;
      }
      json::value body = json::parse(answer->body);
      std::lock_guard lock(ids_mu);
      for (const auto& run : body.at("runs").as_array()) {
        acknowledged.insert(std::string(run.at("id").as_string()));
      }
      ++acknowledged_batches;
    }
  });
  auto completed = [&] { return cluster().Stats("leader")["completed"]; };
  EXPECT_TRUE(WaitUntil(30s, [&] { return completed() >= 500; })) << cluster().Logs();

  ASSERT_TRUE(own_server_->StopFast().ok());
  std::this_thread::sleep_for(2s);  // the nodes find the server gone
  ASSERT_TRUE(own_server_->StartAgain().ok());
  const auto restarted_at =
      FormatTime(std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()));
  const int acknowledged_before = acknowledged_batches;
  // The API node acknowledges again, without a restart of its own.
  EXPECT_TRUE(WaitUntil(60s, [&] { return acknowledged_batches >= acknowledged_before + 20; }))
      << cluster().Logs();
  stop = true;
  client.join();

  // Every acknowledged run completes: the runners resumed too.
  EXPECT_TRUE(WaitUntil(120s, [&] {
    auto stats = cluster().Stats("leader");
    return stats["pending"] + stats["running"] == 0 && stats["total"] > 0;
  })) << cluster().Logs();
  std::set<std::string> stored;
  for (const auto& run : cluster().Runs("leader", "function=demo.sleep")) {
    EXPECT_EQ(run.at("status").as_string(), "completed") << json::serialize(run);
    stored.insert(std::string(run.at("id").as_string()));
  }
  size_t lost = 0;
  for (const auto& id : acknowledged) lost += stored.count(id) == 0;
  EXPECT_EQ(lost, 0u) << "acknowledged runs missing after the restart, of " << acknowledged.size();
  // Both runners beat again after the restart.
  for (const std::string runner : {"runner-1", "runner-2"}) {
    EXPECT_TRUE(WaitUntil(
        30s,
        [&] {
          auto listed = RunnerOf(cluster(), "leader", cluster().node(runner).pid());
          return listed && std::string(listed->at("last_seen").as_string()) > restarted_at;
        }))
        << runner << " does not beat after the restart\n"
        << cluster().Logs();
  }
  std::cout << "[ cluster  ] " << GetParam().name << ": " << acknowledged.size()
            << " runs acknowledged, " << refused_batches
            << " batches refused while the server restarted, none lost\n";
}

INSTANTIATE_TEST_SUITE_P(Storages, ClusterTest,
                         ::testing::Values(SqliteStorage(), PostgresStorage()),
                         [](const ::testing::TestParamInfo<ClusterStorage>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace taskmill::testing
