// The processes of command tasks never outlive the server that started them, and a
// run never has two live attempts on one machine: after kill -9, after a double
// SIGTERM, and across the restart that follows. Processes are observed through /proc
// (a command's TASKMILL_RUN_ID and TASKMILL_ATTEMPT are in its environment).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;
namespace fs = std::filesystem;

struct Proc {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  char state = '?';
  std::string comm;
  std::string run_id;   // TASKMILL_RUN_ID, empty when not a command's process
  std::string attempt;  // TASKMILL_ATTEMPT
};

// Every process that is not a zombie (a killed process whose parent has not reaped
// it, which a container's init may never do, runs no more).
std::vector<Proc> LiveProcesses() {
  std::vector<Proc> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    Proc p;
    auto [end, perr] = std::from_chars(name.data(), name.data() + name.size(), p.pid);
    if (perr != std::errc() || end != name.data() + name.size()) continue;
    std::ifstream stat_file(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
    size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    p.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 2));
    rest >> p.state >> p.ppid >> p.pgrp;
    if (!rest || p.state == 'Z' || p.state == 'X') continue;
    std::ifstream environ_file(entry.path() / "environ");
    std::string var;
    while (std::getline(environ_file, var, '\0')) {
      if (var.starts_with("TASKMILL_RUN_ID=")) p.run_id = var.substr(16);
      if (var.starts_with("TASKMILL_ATTEMPT=")) p.attempt = var.substr(17);
    }
    out.push_back(std::move(p));
  }
  return out;
}

// Processes of the runs in `runs` (by their environment).
std::vector<Proc> CommandProcesses(const std::set<std::string>& runs) {
  std::vector<Proc> out;
  for (auto& p : LiveProcesses()) {
    if (runs.contains(p.run_id)) out.push_back(std::move(p));
  }
  return out;
}

bool GroupIsEmpty(pid_t pgrp) {
  for (const auto& p : LiveProcesses()) {
    if (p.pgrp == pgrp) return false;
  }
  return true;
}

// Waits until `done()` holds or `seconds` pass; returns the last `done()`.
template <typename Pred>
bool WaitFor(Pred done, double seconds) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(seconds));
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// The attempts of each run that have a live process: never more than one per run.
std::map<std::string, std::set<std::string>> LiveAttempts(const std::set<std::string>& runs) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& p : CommandProcesses(runs)) out[p.run_id].insert(p.attempt);
  return out;
}

void ExpectAtMostOneLiveAttemptPerRun(const std::set<std::string>& runs) {
  for (const auto& [run, attempts] : LiveAttempts(runs)) {
    EXPECT_LE(attempts.size(), 1u) << "run " << run << " has processes of several attempts";
  }
}

std::string StartTask(const std::string& task, const std::string& server) {
  auto r = Taskmill({"start", task, "--json"}, server);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto run = r.Json();
  if (!run.is_object()) return "";
  return std::string(run.at("id").as_string());
}

json::object GetRun(const std::string& id, const std::string& server) {
  auto r = Taskmill({"run", id, "--json"}, server);
  auto v = r.Json();
  return v.is_object() ? v.as_object() : json::object();
}

// Whether every run of `runs` has a live process of attempt number `attempt`.
bool AllRunning(const std::set<std::string>& runs, const std::string& attempt) {
  std::set<std::string> seen;
  for (const auto& p : CommandProcesses(runs)) {
    if (p.attempt == attempt) seen.insert(p.run_id);
  }
  return seen.size() == runs.size();
}

TEST(ProcessLifecycleTest, KillNineTakesCommandProcessesAlongAndNoRunRunsTwice) {
  TempDir dir;
  fs::path config = dir.path() / "t.yaml";
  std::ofstream(config) << "task_runner:\n  kill_grace_sec: 1\n"
                        << "tasks:\n"
                        << "  sleeper:\n    command: [\"sleep\", \"40\"]\n"
                        << "    time_to_resolve: 2\n    max_attempts: 2\n"
                        // A group with processes the server did not start itself.
                        << "  forker:\n    command: \"sleep 41 & sleep 42; wait\"\n"
                        << "    shell: true\n    time_to_resolve: 2\n    max_attempts: 2\n";
  std::vector<std::string> args = {"--config", config.string()};
  fs::path data = dir.path() / "data";

  std::set<std::string> sleepers, runs;
  std::string forker;
  std::map<pid_t, std::string> leaders;  // process group → run, at the kill
  pid_t forker_group = 0;
  {
    Server server(data, args);
    ASSERT_TRUE(server.started()) << server.startup_output();
    for (int i = 0; i < 3; ++i) sleepers.insert(StartTask("sleeper", server.url()));
    forker = StartTask("forker", server.url());
    runs = sleepers;
    runs.insert(forker);
    ASSERT_EQ(runs.size(), 4u);
    // The forker's group holds the shell and its two sleeps.
    ASSERT_TRUE(WaitFor(
        [&] {
          if (!AllRunning(runs, "1")) return false;
          return CommandProcesses({forker}).size() >= 3;
        },
        30))
        << "the 4 commands did not start";
    for (const auto& p : CommandProcesses(runs)) {
      if (p.ppid == server.pid()) {
        EXPECT_EQ(p.pgrp, p.pid) << "a command leads its own process group";
        leaders[p.pgrp] = p.run_id;
        if (p.run_id == forker) forker_group = p.pgrp;
      }
    }
    ASSERT_EQ(leaders.size(), 4u);
    ASSERT_NE(forker_group, 0);

    server.Kill9();
    // The commands the server started die with it.
    for (const auto& [group, run] : leaders) {
      if (run == forker) continue;
      EXPECT_TRUE(WaitFor([&] { return GroupIsEmpty(group); }, 1))
          << "group " << group << " of run " << run << " outlived the server";
    }
    auto shell_gone = [&] {
      for (const auto& p : LiveProcesses()) {
        if (p.pid == forker_group) return false;
      }
      return true;
    };
    EXPECT_TRUE(WaitFor(shell_gone, 1)) << "the forker's shell outlived the server";
  }

  {
    // The sleeps the shell started are left to the next server on this data directory,
    // which kills them before it runs anything.
    Server server(data, args);
    ASSERT_TRUE(server.started()) << server.startup_output();
    EXPECT_TRUE(GroupIsEmpty(forker_group)) << "the forker's sleeps survived the restart";
    ExpectAtMostOneLiveAttemptPerRun(runs);
    // Attempt 1 is found lost; attempt 2 starts, alone.
    bool second_attempts = WaitFor(
        [&] {
          ExpectAtMostOneLiveAttemptPerRun(runs);
          return AllRunning(runs, "2");
        },
        120);
    EXPECT_TRUE(second_attempts) << "attempt 2 did not start for every run";
    ExpectAtMostOneLiveAttemptPerRun(runs);
    for (const auto& id : runs) {
      json::object run = GetRun(id, server.url());
      ASSERT_TRUE(run.contains("attempts")) << id;
      // Finished attempts are listed; the current one (2) is the run's own fields.
      const auto& attempts = run.at("attempts").as_array();
      ASSERT_EQ(attempts.size(), 1u) << json::serialize(run);
      ASSERT_EQ(run.at("attempt").as_int64(), 2) << json::serialize(run);
      // The stored attempts agree: the first ended before the second began.
      const auto& first = attempts[0].as_object();
      ASSERT_TRUE(first.at("finished_at").is_string()) << json::serialize(run);
      EXPECT_LE(first.at("finished_at").as_string(), run.at("started_at").as_string())
          << json::serialize(run);
    }
    // A clean stop ends the commands too, and leaves no record behind.
    std::map<pid_t, std::string> groups;
    for (const auto& p : CommandProcesses(runs)) groups[p.pgrp] = p.run_id;
    EXPECT_EQ(server.Terminate(), 0);
    for (const auto& [group, run] : groups) {
      EXPECT_TRUE(WaitFor([&] { return GroupIsEmpty(group); }, 5))
          << "group " << group << " of run " << run << " outlived a clean stop";
    }
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data / "command-groups", ec)) {
    ADD_FAILURE() << "left in the record after a clean stop: " << entry.path().filename();
  }
}

TEST(ProcessLifecycleTest, SecondSigtermSkipsTheGraceAndRecordsAttemptsInterrupted) {
  TempDir dir;
  fs::path config = dir.path() / "t.yaml";
  // Commands that ignore SIGTERM, and a grace far beyond the wait for the exit below:
  // only the second signal can end them in time.
  std::ofstream(config) << "task_runner:\n  kill_grace_sec: 600\n"
                        << "tasks:\n"
                        << "  stubborn:\n    command: \"trap '' TERM; sleep 40; true\"\n"
                        << "    shell: true\n    max_attempts: 1\n";
  std::vector<std::string> args = {"--config", config.string()};
  fs::path data = dir.path() / "data";

  std::set<std::string> runs;
  std::set<pid_t> groups;
  {
    Server server(data, args);
    ASSERT_TRUE(server.started()) << server.startup_output();
    for (int i = 0; i < 3; ++i) runs.insert(StartTask("stubborn", server.url()));
    ASSERT_EQ(runs.size(), 3u);
    ASSERT_TRUE(WaitFor(
        [&] {
          if (!AllRunning(runs, "1")) return false;
          // The shell and its sleep.
          std::map<std::string, int> per_run;
          for (const auto& p : CommandProcesses(runs)) per_run[p.run_id] += 1;
          for (const auto& id : runs) {
            if (per_run[id] < 2) return false;
          }
          return true;
        },
        30))
        << "the commands did not start";
    for (const auto& p : CommandProcesses(runs)) groups.insert(p.pgrp);

    server.Signal(SIGTERM);
    // Signals of one kind do not queue: send the second once the first was taken,
    // which the API shows by answering 503 to every request.
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = Taskmill({"api", "GET", "/healthz"}, server.url(), std::chrono::seconds(10));
          return r.exit_code != 0;
        },
        30))
        << "the server did not begin to stop";
    server.Signal(SIGTERM);
    EXPECT_EQ(server.Wait(std::chrono::seconds(60)), 0) << "the server did not stop in time";
    for (pid_t group : groups) {
      EXPECT_TRUE(WaitFor([&] { return GroupIsEmpty(group); }, 5))
          << "group " << group << " outlived the server";
    }
  }

  // Restarted without runners, so that the runs stay as the stop left them.
  Server server(data, {"--config", config.string(), "--roles", "api,scheduler"});
  ASSERT_TRUE(server.started()) << server.startup_output();
  for (const auto& id : runs) {
    json::object run = GetRun(id, server.url());
    ASSERT_TRUE(run.contains("attempts")) << id;
    const auto& attempts = run.at("attempts").as_array();
    ASSERT_EQ(attempts.size(), 1u) << json::serialize(run);
    EXPECT_EQ(attempts[0].at("outcome").as_string(), "interrupted") << json::serialize(run);
    // An interrupted attempt hands the run back: it runs again, its attempt not used up.
    EXPECT_EQ(run.at("status").as_string(), "pending") << json::serialize(run);
  }
}

// A raw HTTP/1.1 exchange on 127.0.0.1: the request is written at once; the answer is
// read by `Read` until the server closes the connection (or `seconds` pass).
class RawHttp {
 public:
  RawHttp(const std::string& url, const std::string& target) {
    int port = std::stoi(url.substr(url.rfind(':') + 1));
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return;
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    connected_ = write(fd_, request.data(), request.size()) == static_cast<ssize_t>(request.size());
  }
  ~RawHttp() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }

  std::string Read(int seconds) {
    std::string answer;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      answer.append(buf, static_cast<size_t>(n));
    }
    return answer;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

TEST(ProcessLifecycleTest, LongPollAtShutdownIsAnswered503WithRetryAfter) {
  TempDir dir;
  fs::path config = dir.path() / "t.yaml";
  // A command that holds the shutdown in its grace period, so that the long-poll is
  // surely read while the server is still stopping, whenever its bytes arrive.
  std::ofstream(config) << "task_runner:\n  kill_grace_sec: 600\n"
                        << "tasks:\n"
                        << "  stubborn:\n    command: \"trap '' TERM; sleep 40; true\"\n"
                        << "    shell: true\n";
  Server server(dir.path() / "data", {"--config", config.string()});
  ASSERT_TRUE(server.started()) << server.startup_output();
  std::string stubborn = StartTask("stubborn", server.url());
  ASSERT_TRUE(WaitFor([&] { return AllRunning({stubborn}, "1"); }, 30));
  auto created = Taskmill({"create", "demo.echo", "--in", "300", "--json"}, server.url());
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::string id(created.Json().at("id").as_string());

  RawHttp poll_request(server.url(), "/api/v1/runs/" + id + "?wait=60");
  ASSERT_TRUE(poll_request.connected());
  // Waiting, or read only after the signal: both are answered (the wait registered
  // before the shutdown is covered deterministically in src/api/shutdown_test.cpp).
  server.Signal(SIGTERM);
  std::string answer = poll_request.Read(30);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503")) << answer;
  EXPECT_NE(answer.find("\r\nRetry-After: "), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"code\":\"unavailable\""), std::string::npos) << answer;
  // New requests too, for as long as the stop lasts.
  RawHttp late(server.url(), "/api/v1/runs/" + id);
  ASSERT_TRUE(late.connected());
  EXPECT_TRUE(late.Read(30).starts_with("HTTP/1.1 503"));
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(std::chrono::seconds(60)), 0);
}

}  // namespace
}  // namespace taskmill::testing
