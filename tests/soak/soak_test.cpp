// The mixed-workload soak: a seeded random mix of runs against a real `taskmill serve`
// with the example config (capacity 16), as a user of the quick start would send them.
//
//   - batches of 2–25 runs every 0.3–1.5 s: demo.echo, demo.fail with max_attempts 3
//     and a retry delay of 1, 2 or 5 s, demo.sleep of 0.2–6 s, and runs delayed 10 to
//     20 minutes; plus one batch of 1,000 runs of which one in ten fails with retries;
//   - all through, /healthz must answer within 1 s;
//   - at the end every run is in its final state (the delayed ones still pending), the
//     server is near idle while nothing is due, and SIGTERM stops it within its grace.
//
// Options (flags after the gtest ones, or environment variables):
//   --soak-seconds=N   TASKMILL_SOAK_SECONDS   seconds of load (default 60; e.g. 600)
//   --soak-seed=N      TASKMILL_SOAK_SEED      the seed (default: random, printed)
//
// A second test sends the large batch alone to a fresh server: short runs, which the
// runner claims ahead of its slots, with retries falling due among them.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "cli/client.h"
#include "integration/harness.h"
#include "soak/health_watcher.h"
#include "soak/serve_process.h"
#include "soak/workload.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;
using Seconds = std::chrono::duration<double>;
using SteadyClock = std::chrono::steady_clock;

double g_load_seconds = 60;
uint64_t g_seed = 0;

// The example config's task_runner.capacity and kill_grace_sec.
constexpr int kCapacity = 16;
constexpr Seconds kShutdownGrace{5};
// Beyond the grace: the time to close the API, stop the threads and close storage.
constexpr Seconds kShutdownMargin{5};
constexpr int kLargeBatch = 1000;
constexpr auto kRequestTimeout = std::chrono::seconds(10);

Seconds Since(SteadyClock::time_point t) { return SteadyClock::now() - t; }

// Sleeps `pause` of real time, returning early when the watcher saw the server wedge.
void Pause(Seconds pause, const HealthWatcher& watcher) {
  const auto until = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(pause);
  while (!watcher.unhealthy() && SteadyClock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// The run statuses counted by GET /api/v1/stats; a null object when it did not answer.
json::object Stats(cli::HttpClient& client) {
  auto stats = client.Get("/api/v1/stats", kRequestTimeout);
  if (!stats.ok() || !stats->is_object()) return {};
  return stats->at("statuses").as_object();
}

class SoakTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && server_) {
      std::cout << "soak seed " << g_seed << " (TASKMILL_SOAK_SEED=" << g_seed
                << " reproduces the mix); the server's log ends with:\n"
                << server_->LogTail() << "\n";
    }
  }
  // The soak: `load_seconds` of the ordinary mix, with the large batch at a random
  // moment early in it, or (load_seconds 0) the large batch alone.
  void Soak(double load_seconds);

  TempDir dir_;  // outlives the server, so the log is still there to show
  std::unique_ptr<ServeProcess> server_;
};

TEST_F(SoakTest, MixedWorkloadKeepsTheServerResponsiveAndSettlesEveryRun) { Soak(g_load_seconds); }

// The first large batch with retries, on a fresh server and with nothing else going on,
// is reported to wedge the server on its own.
TEST_F(SoakTest, LargeBatchWithRetriesKeepsTheServerResponsive) { Soak(0); }

void SoakTest::Soak(double load_seconds) {
  std::cout << fmt::format("soak: seed {} (TASKMILL_SOAK_SEED={} reproduces it), {} s of load\n",
                           g_seed, g_seed, load_seconds)
            << std::flush;
  server_ = std::make_unique<ServeProcess>(
      dir_.path() / "data", dir_.path() / "serve.log",
      std::vector<std::string>{"--config",
                               std::string(TASKMILL_SOURCE_DIR) + "/examples/taskmill.yaml"});
  ServeProcess& server = *server_;
  ASSERT_TRUE(server.started()) << server.LogTail();

  HealthWatcher watcher(server);
  cli::HttpClient client(server.url());
  Workload workload(g_seed);
  std::map<std::string, RunKind> runs;
  std::map<RunKind, int> counts;
  double sleep_total = 0;

  // ---- the load ------------------------------------------------------------------
  // The large batch lands while the ordinary mix keeps the slots busy.
  const double large_at = load_seconds == 0 ? 0
                                            : workload.Uniform(std::min(5.0, load_seconds / 3),
                                                               std::min(20.0, load_seconds / 2));
  bool large_sent = false;
  const auto load_start = SteadyClock::now();
  int batches = 0;
  while (!watcher.unhealthy() && (Since(load_start).count() < load_seconds || !large_sent)) {
    std::vector<PlannedRun> batch;
    if (!large_sent && Since(load_start).count() >= large_at) {
      batch = workload.LargeBatch(kLargeBatch);
      large_sent = true;
    } else {
      batch = workload.NextBatch();
    }
    json::array items;
    for (const auto& run : batch) items.push_back(run.item);
    auto stored = client.Post("/api/v1/runs:batch?return=ids", json::object{{"runs", items}},
                              kRequestTimeout);
    if (!stored.ok()) {
      ADD_FAILURE() << fmt::format("at {:.1f} s: POST /api/v1/runs:batch of {} runs failed: {}",
                                   Since(load_start).count(), batch.size(),
                                   stored.status().ToString());
      break;
    }
    const auto& ids = stored->at("runs").as_array();
    ASSERT_EQ(ids.size(), batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      runs[std::string(ids[i].at("id").as_string())] = batch[i].kind;
      ++counts[batch[i].kind];
      sleep_total += batch[i].sleep_seconds;
    }
    ++batches;
    if (Since(load_start).count() < load_seconds) Pause(workload.NextPause(), watcher);
  }
  std::cout << fmt::format(
                   "soak: {} batches, {} runs: {} echo, {} fail, {} sleep ({:.0f} s in all), "
                   "{} delayed; large batch at {:.1f} s{}\n",
                   batches, runs.size(), counts[RunKind::kEcho], counts[RunKind::kFail],
                   counts[RunKind::kSleep], sleep_total, counts[RunKind::kDelayed], large_at,
                   large_sent ? "" : " (not reached)")
            << std::flush;

  // ---- every run due is done -----------------------------------------------------
  // The bound: the sleeps queued on the 16 slots, twice over, plus the longest retry
  // chain (5 s + 5 s) and 30 s for everything else, on a busy machine. The state
  // waited for: only the delayed runs are left pending, and nothing runs.
  const Seconds settle_bound{30 + 10 + 2 * sleep_total / kCapacity};
  const auto settle_start = SteadyClock::now();
  bool settled = false;
  json::object last;
  while (!watcher.unhealthy() && Since(settle_start) < settle_bound) {
    last = Stats(client);
    settled = !last.empty() &&
              last.at("total").to_number<int64_t>() == static_cast<int64_t>(runs.size()) &&
              last.at("running").to_number<int64_t>() == 0 &&
              last.at("pending").to_number<int64_t>() == counts[RunKind::kDelayed];
    if (settled) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!watcher.unhealthy()) {
    EXPECT_TRUE(settled) << fmt::format("runs still due or running {:.0f} s after the load: {}",
                                        settle_bound.count(), json::serialize(last));
    std::cout << fmt::format("soak: settled {:.1f} s after the load\n",
                             Since(settle_start).count());
  }

  // ---- near idle while nothing is due --------------------------------------------
  // Only runs due in 10 minutes or more are left, so the server has nothing to do but
  // wait (and answer the watcher's probes). Its CPU time over a few seconds of real
  // time must be a small fraction of one core. The bound of 20 % is generous on
  // purpose: a loop that spins uses 100 % of a core, while an idle server's timers,
  // heartbeats and the probes use well under 1 %; 20 % leaves room for a busy machine
  // (CPU time is only charged when the process runs, so a loaded machine lowers it)
  // and fails only on a spin.
  if (settled && !watcher.unhealthy()) {
    const Seconds window{3};
    auto cpu_before = server.CpuTime();
    const auto window_start = SteadyClock::now();
    std::this_thread::sleep_for(window);
    auto cpu_after = server.CpuTime();
    const Seconds elapsed = Since(window_start);
    ASSERT_TRUE(cpu_before && cpu_after) << "the server exited";
    const double share = (*cpu_after - *cpu_before).count() / elapsed.count();
    std::cout << fmt::format("soak: idle CPU {:.1f} % of a core over {:.1f} s\n", share * 100,
                             elapsed.count());
    EXPECT_LT(share, 0.20) << "the server spins while nothing is due";
  }

  // ---- every run in its final state ----------------------------------------------
  if (settled && !watcher.unhealthy()) {
    const TimePoint now = SystemClock::Instance().Now();
    std::map<std::string, int> wrong_by_kind;
    size_t seen = 0;
    std::string cursor;
    for (;;) {
      std::string target = "/api/v1/runs?limit=1000";
      if (!cursor.empty()) target += "&cursor=" + cli::UrlEncode(cursor);
      auto page = client.Get(target, kRequestTimeout);
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      for (const auto& value : page->at("runs").as_array()) {
        const auto& run = value.as_object();
        auto it = runs.find(std::string(run.at("id").as_string()));
        if (it == runs.end()) continue;  // not one of ours (none is expected)
        ++seen;
        std::string problem = CheckFinalState(it->second, run, now);
        if (!problem.empty() && ++wrong_by_kind[ToString(it->second)] <= 3) {
          ADD_FAILURE() << ToString(it->second) << " run " << it->first << ": " << problem;
        }
      }
      const auto& next = page->at("next_cursor");
      if (!next.is_string() || next.as_string().empty()) break;
      cursor = std::string(next.as_string());
    }
    EXPECT_EQ(seen, runs.size()) << "every acknowledged run is listed";
    for (const auto& [kind, wrong] : wrong_by_kind) {
      ADD_FAILURE() << wrong << " " << kind << " runs are not in their final state";
    }
  }

  // ---- /healthz all through ------------------------------------------------------
  watcher.Stop();
  const auto failures = watcher.failures();
  for (size_t i = 0; i < failures.size() && i < 5; ++i) ADD_FAILURE() << failures[i];
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << watcher.probes()
                                << " probes of /healthz got no answer within 1 s";
  std::cout << fmt::format("soak: {} probes of /healthz, slowest {:.3f} s\n", watcher.probes(),
                           watcher.slowest().count());

  // ---- SIGTERM stops the server within its grace period --------------------------
  const auto term_sent = SteadyClock::now();
  auto code = server.TerminateWithin(kShutdownGrace + kShutdownMargin);
  if (code) {
    std::cout << fmt::format("soak: exited {:.2f} s after SIGTERM\n", Since(term_sent).count());
    EXPECT_EQ(*code, 0) << "exit status after SIGTERM";
  } else {
    ADD_FAILURE() << fmt::format(
        "the server did not exit within {:.0f} s of SIGTERM (grace "
        "{:.0f} s + {:.0f} s); killed with SIGKILL",
        (kShutdownGrace + kShutdownMargin).count(), kShutdownGrace.count(),
        kShutdownMargin.count());
    server.Kill9();
  }
}

// The text of "--name=VALUE" among `args`, else of the environment variable `env`;
// `where` says which (for an error message). nullopt when neither is given.
std::optional<std::string> Option(const std::vector<std::string>& args, const std::string& name,
                                  const char* env, std::string* where) {
  const std::string prefix = "--" + name + "=";
  for (const auto& a : args) {
    if (a.rfind(prefix, 0) == 0) {
      *where = "--" + name;
      return a.substr(prefix.size());
    }
  }
  if (const char* value = std::getenv(env)) {
    *where = env;
    return std::string(value);
  }
  return std::nullopt;
}

[[noreturn]] void UsageError(const std::string& where, const std::string& want,
                             const std::string& got) {
  std::cerr << "error: " << where << ": expected " << want << ", got '" << got << "'\n";
  std::exit(2);
}

}  // namespace
}  // namespace taskmill::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);  // removes the gtest flags
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a.rfind("--soak-seconds=", 0) != 0 && a.rfind("--soak-seed=", 0) != 0) {
      std::cerr << "error: unknown argument '" << a
                << "' (expected --soak-seconds=N, --soak-seed=N or gtest flags)\n";
      return 2;
    }
  }
  using taskmill::testing::Option;
  using taskmill::testing::UsageError;
  std::string where;
  if (auto text = Option(args, "soak-seconds", "TASKMILL_SOAK_SECONDS", &where)) {
    char* end = nullptr;
    double seconds = std::strtod(text->c_str(), &end);
    if (text->empty() || *end != '\0' || !(seconds > 0)) UsageError(where, "seconds > 0", *text);
    taskmill::testing::g_load_seconds = seconds;
  }
  taskmill::testing::g_seed = std::random_device{}();
  if (auto text = Option(args, "soak-seed", "TASKMILL_SOAK_SEED", &where)) {
    char* end = nullptr;
    errno = 0;
    unsigned long long seed = std::strtoull(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || errno != 0 || (*text)[0] == '-') {
      UsageError(where, "an unsigned integer", *text);
    }
    taskmill::testing::g_seed = seed;
  }
  return RUN_ALL_TESTS();
}
