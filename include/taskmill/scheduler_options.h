// taskmill/scheduler_options.h — the scheduler role's leases, sweeps and launches,
// and the triggers (part of the engine's public API, in a header of its own so that
// the roles include only what they use).
#pragma once

#include <taskmill/clock.h>
#include <taskmill/status.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace taskmill {

class FlowRegistry;

// Kazoo's headless triggers: functions bound to a clock-aligned trigger. Each
// trigger with bindings fires one run (function `trigger.<name>`, task
// `trigger.<name>`) that calls its functions one after another, in binding order; a
// failing function does not stop the next, and each one's outcome is recorded in the
// run's result. docs/scheduling.md, "Triggers".
struct TriggerBindings {
  std::vector<std::string> minutely;  // on every minute (UTC)
  std::vector<std::string> hourly;    // on every hour (UTC)
  std::vector<std::string> daily;     // at midnight UTC
  // Once per known account per browse_interval (intervals aligned on the Unix epoch),
  // each function called with the account id (RunContext::account_id() and args
  // [account_id]).
  std::vector<std::string> each_account;
  Duration browse_interval = std::chrono::hours(24);  // Default: 1 day
  // The accounts each_account visits. Default (unset): every distinct non-empty
  // account_id of the stored runs, read once per browse_interval.
  std::function<Result<std::vector<std::string>>()> accounts;

  bool empty() const {
    return minutely.empty() && hourly.empty() && daily.empty() && each_account.empty();
  }
};

struct SchedulerOptions {
  // How long a won leader lease lasts; renewed at least every sweep_interval.
  // Default: 15 s
  Duration leader_ttl = std::chrono::seconds(15);
  // Lost-run sweeps, lease renewal and the continuous guard run this often; periodical
  // launches do not wait for it (the scheduler wakes at each fire instant). Default: 1 s
  Duration sweep_interval = std::chrono::seconds(1);
  int task_log_max_size = 100;  // finished runs kept per task. Default: 100
  // History is pruned to task_log_max_size this often. Default: 60 s
  Duration prune_interval = std::chrono::seconds(60);
  // Finished runs older than this are removed by the leader every prune_interval
  // (Storage::RunPruneOlderThan), whatever their task. Default: 0, none by age
  Duration history_retention{0};
  // A periodical instant that passed while no scheduler led, more than this before
  // the current leader took over, is a misfire (the task's misfire policy decides);
  // later instants launch normally, so a quick restart misses nothing. Default: 5 s
  Duration misfire_grace = std::chrono::seconds(5);
  // A periodical launch is stored this long before its instant, due at the instant,
  // so that the commit is done when the instant comes and the runner claims the run
  // right then. While the task has a live run and overlap is skip, the launch is
  // decided at the instant itself instead. Default: 200 ms (0: store at the instant)
  Duration launch_ahead = std::chrono::milliseconds(200);
  TriggerBindings triggers;  // Default: none
  // The flows whose runs the lost-run sweep advances (set by the engine).
  std::shared_ptr<const FlowRegistry> flows;
};

}  // namespace taskmill
