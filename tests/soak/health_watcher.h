// health_watcher.h — a thread that, all through the soak, asks the server's /healthz
// with a deadline of one second per probe and records every probe that got no
// answer in time, with the server's CPU use since the previous probe (a wedged
// server that spins shows a full core there).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "soak/serve_process.h"

namespace taskmill::testing {

class HealthWatcher {
 public:
  static constexpr std::chrono::seconds kProbeDeadline{1};

  explicit HealthWatcher(const ServeProcess& server);
  ~HealthWatcher() { Stop(); }
  void Stop();

  // True once a probe got no answer within the deadline.
  bool unhealthy() const { return unhealthy_.load(); }
  std::vector<std::string> failures() const;
  int probes() const { return probes_.load(); }
  // The slowest answer so far, for the test's report.
  std::chrono::duration<double> slowest() const;

 private:
  void Loop();

  const ServeProcess& server_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::atomic<bool> stop_{false};
  std::atomic<bool> unhealthy_{false};
  std::atomic<int> probes_{0};
  mutable std::mutex mu_;
  std::vector<std::string> failures_;         // guarded by mu_
  std::chrono::duration<double> slowest_{0};  // guarded by mu_
  std::thread thread_;
};

}  // namespace taskmill::testing
