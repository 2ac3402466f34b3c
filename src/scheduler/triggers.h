// triggers.h — Kazoo's headless triggers (internal to the scheduler and the engine).
//
// A trigger with bindings becomes:
//   * a function `trigger.<name>` (AddTriggerFunctions) that calls the bound functions
//     one after another, in binding order, each with its own outcome recorded in the
//     run's result; a failing or throwing function does not stop the next;
//   * for minutely / hourly / daily, a periodical task `trigger.<name>` that exists
//     only in the scheduler (TriggerTasks), so misfire (skip), overlap (skip) and the
//     launch key work exactly as for the tasks of the configuration;
//   * for each_account, the EachAccountDuty: once per browse_interval, one run per
//     known account, with the account as the run's account_id.
// The names `trigger.minutely`, `trigger.hourly`, `trigger.daily` and
// `trigger.each_account` are reserved for these tasks and functions.
//
// Functions here are thread-safe; EachAccountDuty is used by the scheduler's pass only.
#pragma once

#include <taskmill/function.h>
#include <taskmill/scheduler_options.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/launcher.h"

namespace taskmill {

// Checks every bound name against `functions` and the interval. InvalidArgument names
// the binding: "triggers.hourly[1]: unknown function 'demo.nope'".
Status ValidateTriggerBindings(const TriggerBindings& bindings, const FunctionRegistry& functions);

// `functions` plus a `trigger.<name>` function per trigger with bindings; `functions`
// itself when there are none. Fails as ValidateTriggerBindings does.
Result<std::shared_ptr<const FunctionRegistry>> AddTriggerFunctions(
    std::shared_ptr<const FunctionRegistry> functions, const TriggerBindings& bindings);

// The scheduler-only periodical tasks of the clock triggers that have bindings.
std::vector<ScheduledTask> TriggerTasks(const TriggerBindings& bindings);

// The task rows that make the triggers with bindings visible wherever tasks are
// (listed with their schedule and next fire times, gettable, enabled and disabled by
// the task routes): the clock triggers' periodical tasks, and for each_account a task
// without a schedule. The scheduler stores them at start; it launches from its own
// definitions (TriggerTasks, EachAccountDuty) and takes only `enabled` from the rows.
std::vector<TaskDef> TriggerTaskRows(const TriggerBindings& bindings);

// Whether `name` is reserved for a trigger's task ("trigger.<name>").
bool IsTriggerTaskName(std::string_view name);

// The each_account sweep.
class EachAccountDuty {
 public:
  EachAccountDuty(Launcher& launcher, TriggerBindings bindings)
      : launcher_(launcher), bindings_(std::move(bindings)) {}

  // When the current browse interval (aligned on the Unix epoch) has not been swept
  // yet, stores one run per known account; the run ids are derived from the interval
  // and the account, so a second sweep of the same interval stores nothing new.
  // Returns the start of the next interval (nullopt without bindings, or when
  // leadership was lost).
  std::optional<TimePoint> Pass(TimePoint now);
  // Forgets the swept interval held in memory (leadership regained).
  void Reset() { swept_.reset(); }

  static constexpr const char* kStateKey = "scheduler.trigger.each_account";

 private:
  Result<std::vector<std::string>> KnownAccounts();

  Launcher& launcher_;
  TriggerBindings bindings_;
  std::optional<TimePoint> swept_;  // start of the last interval swept
};

}  // namespace taskmill
