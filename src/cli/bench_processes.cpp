// Runner processes for `taskmill bench --processes N`. Each is this binary started again
// as `taskmill bench runner`: a runner with no scheduler on the shared storage, which
// executes the no-op bench function, writes its count of finished runs to its standard
// output whenever it changed (at most every 5 ms), and stops when its standard input
// closes, so that it also ends when the bench dies. The bench sums the counts: the drain
// ends at the report that brings the sum to the runs enqueued, without a query that
// would load the database it measures.
#include "cli/bench_processes.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <taskmill/engine.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

extern char** environ;

namespace taskmill::cli {
namespace {

struct RunnerOptions {
  std::string storage;
  int capacity = 64;
};

int RunRunner(const RunnerOptions& o) {
  ::signal(SIGPIPE, SIG_IGN);  // a bench that went away is seen as a closed stdin
  std::atomic<int64_t> finished{0};
  auto registry = std::make_shared<FunctionRegistry>();
  (void)registry->Register(kBenchFunction, [](RunContext&) {});
  auto engine = OpenBenchEngine(o.storage, o.capacity, registry, finished, "bench runner: ");
  if (!engine.ok()) return 2;
  if (Status st = (*engine)->Start(); !st.ok()) {
    std::cerr << "error: bench runner: " << st.ToString() << "\n";
    return 2;
  }
  // Stdin closing is the order to stop; until then report the count when it changed.
  int64_t reported = -1;
  for (;;) {
    pollfd in{.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
    int ready = ::poll(&in, 1, 5);
    if (ready > 0) {
      char buf[64];
      if (::read(STDIN_FILENO, buf, sizeof buf) <= 0) break;
    }
    int64_t n = finished.load(std::memory_order_relaxed);
    if (n != reported) {
      std::string line = std::to_string(n) + "\n";
      if (::write(STDOUT_FILENO, line.data(), line.size()) < 0) break;
      reported = n;
    }
  }
  (*engine)->Stop();
  return 0;
}

struct Child {
  pid_t pid = -1;
  int to = -1;    // its stdin
  int from = -1;  // its stdout
  int64_t count = 0;
  std::string partial;
};

void StopAll(std::vector<Child>& children) {
  for (auto& c : children) {
    if (c.to >= 0) ::close(c.to);
    c.to = -1;
  }
  for (auto& c : children) {
    if (c.pid > 0) {
      int status = 0;
      ::waitpid(c.pid, &status, 0);
    }
    if (c.from >= 0) ::close(c.from);
    c.from = -1;
  }
}

Status Spawn(const std::string& storage_url, int capacity, Child& child) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
    return Status::Internal("bench: pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::string cap = std::to_string(capacity);
  std::vector<std::string> args = {"taskmill",  "bench",      "runner", "--storage",
                                   storage_url, "--capacity", cap};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = ::posix_spawn(&child.pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  child.to = in[1];
  child.from = out[0];
  if (rc != 0) {
    child.pid = -1;
    return Status::Internal("bench: could not start a runner process");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Engine>> OpenBenchEngine(const std::string& storage_url, int capacity,
                                                std::shared_ptr<FunctionRegistry> registry,
                                                std::atomic<int64_t>& finished,
                                                const std::string& who) {
  EngineOptions options;
  options.storage.url = storage_url;
  options.scheduler = false;
  options.runner_options.capacity = capacity;
  auto engine = Engine::Open(options, std::move(registry));
  if (!engine.ok()) {
    std::cerr << "error: " << who << engine.status().ToString() << "\n";
    return engine.status();
  }
  (*engine)->events().Subscribe([&finished](const Event& e) {
    if (e.type == Event::Type::kRunFinished) finished.fetch_add(1, std::memory_order_relaxed);
  });
  return engine;
}

CLI::App* AddBenchRunnerCommand(CLI::App& bench) {
  auto opts = std::make_shared<RunnerOptions>();
  auto* cmd = bench.add_subcommand(
      "runner",
      "A runner of the bench's no-op runs (for bench --processes); stops when stdin closes");
  cmd->add_option("--storage", opts->storage, "Storage URL shared with the bench")->required();
  cmd->add_option("--capacity", opts->capacity, "Runner slots")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->callback([opts] { throw CLI::RuntimeError(RunRunner(*opts)); });
  return cmd;
}

Result<double> DrainWithProcesses(const std::string& storage_url, int processes, int capacity,
                                  int64_t runs) {
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<Child> children(static_cast<size_t>(processes));
  auto t0 = std::chrono::steady_clock::now();
  for (auto& c : children) {
    if (Status st = Spawn(storage_url, capacity, c); !st.ok()) {
      StopAll(children);
      return st;
    }
  }
  // Read the counts until their sum reaches `runs`; a runner that exits early fails the
  // drain, and so does a drain that makes no progress for 60 s.
  int64_t sum = 0;
  auto last_progress = std::chrono::steady_clock::now();
  auto t_end = t0;
  while (sum < runs) {
    std::vector<pollfd> fds;
    for (auto& c : children) fds.push_back({.fd = c.from, .events = POLLIN, .revents = 0});
    ::poll(fds.data(), fds.size(), 100);
    for (size_t i = 0; i < children.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[256];
      ssize_t n = ::read(children[i].from, buf, sizeof buf);
      if (n <= 0) {
        StopAll(children);
        return Status::Internal("bench: a runner process ended before the drain did");
      }
      children[i].partial.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = children[i].partial.find('\n')) != std::string::npos) {
        children[i].count = std::stoll(children[i].partial.substr(0, nl));
        children[i].partial.erase(0, nl + 1);
      }
    }
    int64_t now_sum = 0;
    for (auto& c : children) now_sum += c.count;
    auto now = std::chrono::steady_clock::now();
    if (now_sum != sum) {
      sum = now_sum;
      last_progress = now;
      t_end = now;
    } else if (now - last_progress > std::chrono::seconds(60)) {
      StopAll(children);
      return Status::Internal("bench: the runner processes finished no run for 60 s (" +
                              std::to_string(sum) + " of " + std::to_string(runs) + ")");
    }
  }
  StopAll(children);
  return std::chrono::duration<double>(t_end - t0).count();
}

}  // namespace taskmill::cli
