#include "soak/health_watcher.h"

#include <fmt/format.h>

#include "cli/client.h"

namespace taskmill::testing {

HealthWatcher::HealthWatcher(const ServeProcess& server) : server_(server) {
  thread_ = std::thread([this] { Loop(); });
}

void HealthWatcher::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> HealthWatcher::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

std::chrono::duration<double> HealthWatcher::slowest() const {
  std::lock_guard lock(mu_);
  return slowest_;
}

void HealthWatcher::Loop() {
  using Clock = std::chrono::steady_clock;
  auto last_time = Clock::now();
  auto last_cpu = server_.CpuTime();
  while (!stop_) {
    // A new connection for each probe: a probe that timed out leaves its connection
    // in an unknown state, and a fresh one also checks that new connections are served.
    cli::HttpClient client(server_.url(), kProbeDeadline);
    const auto sent = Clock::now();
    auto answer = client.Send("GET", "/healthz", {}, {}, kProbeDeadline);
    const auto now = Clock::now();
    const std::chrono::duration<double> took = now - sent;
    ++probes_;
    std::string problem;
    if (!answer.ok()) {
      problem = answer.status().ToString();
    } else if (answer->status != 200) {
      problem = fmt::format("HTTP {}: {}", answer->status, answer->body);
    } else if (took > kProbeDeadline) {
      problem = fmt::format("answered after {:.2f} s", took.count());
    }
    // The server's CPU use since the previous probe, as a fraction of one core.
    auto cpu = server_.CpuTime();
    double cpu_share = -1;
    if (cpu && last_cpu) {
      cpu_share =
          (*cpu - *last_cpu).count() / std::chrono::duration<double>(now - last_time).count();
    }
    {
      std::lock_guard lock(mu_);
      slowest_ = std::max(slowest_, took);
      if (!problem.empty()) {
        failures_.push_back(
            fmt::format("at {:.1f} s: GET /healthz got no answer within {} s ({}); the server used "
                        "{:.0f} % of a core since the previous probe",
                        std::chrono::duration<double>(now - start_).count(), kProbeDeadline.count(),
                        problem, cpu_share * 100));
        unhealthy_ = true;
      }
    }
    last_time = now;
    last_cpu = cpu;
    // About four probes a second: frequent enough to see a wedge at once, light
    // enough not to be part of the load.
    auto next = now + std::chrono::milliseconds(250);
    while (!stop_ && Clock::now() < next)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace taskmill::testing
