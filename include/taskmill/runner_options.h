// taskmill/runner_options.h — how the runner role claims and executes runs
// (part of the engine's public API, in a header of its own so that the roles include
// only what they use).
#pragma once

#include <taskmill/clock.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace taskmill {

class FlowRegistry;

struct RunnerOptions {
  int capacity = 16;  // concurrent attempts (slots). Default: 16
  // Most runs claimed ahead of the free slots, waiting in the runner for a slot,
  // while attempts are short: the runner claims only as many as its slots finish in
  // about a millisecond at the attempt duration it measures, so long attempts get no
  // runs claimed ahead. Claiming many runs per storage call is what lets thousands
  // of short runs a second through. 0: claim for free slots only. Default: 1000
  int prefetch = 1000;
  std::string id;                                    // Default: hostname:pid
  std::vector<std::string> queues;                   // Default: every queue
  Duration poll_interval = std::chrono::seconds(1);  // fallback when no wake-up arrives
  Duration heartbeat_interval{0};                    // Default: a third of the shortest lease
  Duration kill_grace = std::chrono::seconds(5);     // SIGTERM → SIGKILL for commands
  size_t output_limit = 1 << 20;                     // captured command output per attempt
  // The flows whose steps this runner advances (set by the engine from EngineOptions).
  std::shared_ptr<const FlowRegistry> flows;
};

}  // namespace taskmill
