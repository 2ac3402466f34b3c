#include "scheduler/triggers.h"

#include <spdlog/spdlog.h>
#include <taskmill/run_enums.h>

#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <set>

namespace taskmill {
namespace {
namespace json = boost::json;

struct ClockTrigger {
  const char* name;
  const char* schedule;  // UTC, aligned on the clock
  std::vector<std::string> TriggerBindings::*functions;
};
constexpr ClockTrigger kClockTriggers[] = {
    {"minutely", "0 * * * * *", &TriggerBindings::minutely},
    {"hourly", "0 0 * * * *", &TriggerBindings::hourly},
    {"daily", "0 0 0 * * *", &TriggerBindings::daily},
};
constexpr const char* kEachAccount = "each_account";

// Every trigger by name with its bindings, in a fixed order.
std::vector<std::pair<std::string, const std::vector<std::string>*>> AllBindings(
    const TriggerBindings& bindings) {
  std::vector<std::pair<std::string, const std::vector<std::string>*>> out;
  for (const ClockTrigger& trigger : kClockTriggers) {
    out.emplace_back(trigger.name, &(bindings.*trigger.functions));
  }
  out.emplace_back(kEachAccount, &bindings.each_account);
  return out;
}

json::array NamesJson(const std::vector<std::string>& names) {
  json::array out;
  for (const std::string& name : names) out.emplace_back(name);
  return out;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// The function behind `trigger.<name>`: calls the bound functions in order.
class TriggerHandler final : public Handler {
 public:
  TriggerHandler(std::string trigger, std::vector<std::string> bound,
                 std::shared_ptr<const FunctionRegistry> functions)
      : trigger_(std::move(trigger)), bound_(std::move(bound)), functions_(std::move(functions)) {}

  HandlerOutcome Execute(RunContext& ctx) override {
    // A run carries the bindings it was launched with (args.functions), so what it
    // calls is what its record says, even if the configuration changed meanwhile.
    std::vector<std::string> names = bound_;
    if (const json::object* args = ctx.args().if_object()) {
      if (const json::value* listed = args->if_contains("functions");
          listed && listed->is_array()) {
        names.clear();
        for (const json::value& name : listed->get_array()) {
          if (name.is_string()) names.emplace_back(name.get_string());
        }
      }
    }
    const std::string& account = ctx.account_id();
    // The calls share the trigger run's cancellation token, so stopping the run stops
    // the function being called. RunContext wants a shared_ptr but hands out only a
    // reference; the runner keeps the token alive for the whole attempt, so a
    // non-owning pointer (aliasing constructor, empty owner) is safe, and the
    // const_cast only restores the type: nothing here cancels the token.
    std::shared_ptr<CancellationToken> token(std::shared_ptr<void>(),
                                             const_cast<CancellationToken*>(&ctx.cancellation()));

    Progress progress;
    progress.total = static_cast<int64_t>(names.size());
    ctx.SetProgress(progress);
    json::array outcomes;
    std::vector<std::string> failures;
    for (const std::string& name : names) {
      HandlerOutcome out;
      if (ctx.cancelled()) {
        out.status = RunStatus::kStopped;
        out.error = "not called: the trigger run was stopped";
      } else {
        out = Call(name, ctx.run(), account, token);
      }
      json::object item;
      item["function"] = name;
      item["status"] = ToString(out.status);
      item["result"] = out.result;
      if (!out.error.empty()) item["error"] = out.error;
      outcomes.push_back(std::move(item));
      if (out.status == RunStatus::kCompleted) {
        ++progress.succeeded;
      } else {
        ++progress.failed;
        failures.push_back(name + ": " +
                           (out.error.empty() ? std::string(ToString(out.status)) : out.error));
      }
      if (!out.output.empty()) ctx.Log("[" + name + "]\n" + out.output);
      ctx.SetProgress(progress);
    }

    json::object result;
    result["trigger"] = trigger_;
    if (!account.empty()) result["account_id"] = account;
    result["functions"] = std::move(outcomes);
    ctx.SetResult(std::move(result));
    HandlerOutcome& outcome = ctx.outcome();
    if (failures.empty()) {
      outcome.status = RunStatus::kCompleted;
    } else {
      outcome.status = progress.succeeded == 0 ? RunStatus::kFailed : RunStatus::kPartial;
      outcome.error_kind = ToString(ErrorKind::kUser);
      outcome.error = std::to_string(failures.size()) + " of " + std::to_string(names.size()) +
                      " functions failed: ";
      for (size_t i = 0; i < failures.size(); ++i) outcome.error += (i ? "; " : "") + failures[i];
    }
    return std::move(outcome);
  }

 private:
  HandlerOutcome Call(const std::string& name, const Run& trigger_run, const std::string& account,
                      const std::shared_ptr<CancellationToken>& token) const {
    HandlerOutcome out;
    const FunctionRegistry::Entry* entry = functions_->Find(name);
    if (!entry) {
      out.status = RunStatus::kUnknownTask;
      out.error = "no function named '" + name + "' on this runner";
      return out;
    }
    // The function sees the trigger's run under its own name, with the account (if
    // any) as its only argument, like Kazoo's Module:Function(AccountId).
    Run run = trigger_run;
    run.function = name;
    run.args = account.empty() ? json::array() : json::array{json::value(account)};
    run.result = nullptr;
    RunContext sub(run, token);
    try {
      out = entry->handler->Execute(sub);
    } catch (const std::exception& e) {
      out = std::move(sub.outcome());
      out.status = RunStatus::kFailed;
      out.error = e.what();
    } catch (...) {
      out = std::move(sub.outcome());
      out.status = RunStatus::kFailed;
      out.error = "unknown exception";
    }
    if (out.status != RunStatus::kCompleted && out.error.empty()) {
      out.error = std::string(ToString(out.status));
    }
    return out;
  }

  std::string trigger_;
  std::vector<std::string> bound_;
  std::shared_ptr<const FunctionRegistry> functions_;
};

// 64-bit FNV-1a: account ids may hold any character, run ids may not.
std::string AccountHash(const std::string& account) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : account) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

}  // namespace

Status ValidateTriggerBindings(const TriggerBindings& bindings, const FunctionRegistry& functions) {
  for (const auto& [trigger, names] : AllBindings(bindings)) {
    for (size_t i = 0; i < names->size(); ++i) {
      const std::string& name = (*names)[i];
      std::string where = "triggers." + trigger + "[" + std::to_string(i) + "]";
      if (Status s = ValidateFunctionName(name); !s.ok()) {
        return Status::InvalidArgument(where + ": " + s.message());
      }
      if (name.starts_with("trigger.")) {
        return Status::InvalidArgument(where + ": '" + name +
                                       "' is a trigger; bind the functions it calls instead");
      }
      if (!functions.Find(name)) {
        return Status::InvalidArgument(where + ": unknown function '" + name +
                                       "'; `taskmill functions` lists the known ones");
      }
    }
  }
  if (!bindings.each_account.empty() && bindings.browse_interval.count() <= 0) {
    return Status::InvalidArgument("triggers.browse_interval: must be positive");
  }
  return Status::Ok();
}

Result<std::shared_ptr<const FunctionRegistry>> AddTriggerFunctions(
    std::shared_ptr<const FunctionRegistry> functions, const TriggerBindings& bindings) {
  if (bindings.empty()) return functions;
  TASKMILL_RETURN_IF_ERROR(ValidateTriggerBindings(bindings, *functions));
  // A copy: the registry is read-only once the engine runs, and entries share their
  // handlers, so copying costs a map of names.
  auto combined = std::make_shared<FunctionRegistry>(*functions);
  for (const auto& [trigger, names] : AllBindings(bindings)) {
    if (names->empty()) continue;
    FunctionInfo info;
    info.name = "trigger." + trigger;
    info.description = "Headless trigger " + trigger + ": calls " + Join(*names);
    info.doc = "Calls the functions bound to the " + trigger +
               " trigger one after another, in binding order; a failing function does not "
               "stop the next. The result lists each function's status, result and error.";
    info.input = "none";
    Status s = combined->Register(std::move(info),
                                  std::make_shared<TriggerHandler>(trigger, *names, functions));
    if (s.IsConflict()) {
      return Status::InvalidArgument("function 'trigger." + trigger + "' is reserved for the " +
                                     trigger + " trigger; register it under another name");
    }
    TASKMILL_RETURN_IF_ERROR(s);
  }
  return std::shared_ptr<const FunctionRegistry>(std::move(combined));
}

std::vector<ScheduledTask> TriggerTasks(const TriggerBindings& bindings) {
  std::vector<ScheduledTask> out;
  for (const ClockTrigger& trigger : kClockTriggers) {
    const std::vector<std::string>& names = bindings.*trigger.functions;
    if (names.empty()) continue;
    ScheduledTask task;
    task.stored = false;
    TaskDef& def = task.def;
    def.name = std::string("trigger.") + trigger.name;
    def.function = def.name;
    def.kind = TaskKind::kPeriodical;
    def.schedule = trigger.schedule;
    def.timezone = "UTC";
    def.misfire = ToString(Misfire::kSkip);
    def.overlap = ToString(Overlap::kSkip);
    def.args = json::object{{"trigger", trigger.name}, {"functions", NamesJson(names)}};
    out.push_back(std::move(task));
  }
  return out;
}

namespace {

// The each_account trigger's task, as its runs name it.
TaskDef EachAccountTask(const TriggerBindings& bindings) {
  TaskDef def;
  def.name = std::string("trigger.") + kEachAccount;
  def.function = def.name;
  def.args =
      json::object{{"trigger", kEachAccount}, {"functions", NamesJson(bindings.each_account)}};
  return def;
}

}  // namespace

std::vector<TaskDef> TriggerTaskRows(const TriggerBindings& bindings) {
  std::vector<TaskDef> out;
  for (ScheduledTask& task : TriggerTasks(bindings)) out.push_back(std::move(task.def));
  if (!bindings.each_account.empty()) out.push_back(EachAccountTask(bindings));
  return out;
}

bool IsTriggerTaskName(std::string_view name) { return name.starts_with("trigger."); }

std::optional<TimePoint> EachAccountDuty::Pass(TimePoint now) {
  if (bindings_.each_account.empty()) return std::nullopt;
  const Duration interval =
      bindings_.browse_interval.count() > 0 ? bindings_.browse_interval : std::chrono::hours(24);
  const TimePoint interval_start{(now.time_since_epoch() / interval) * interval};
  const TimePoint next = interval_start + interval;
  Storage& storage = launcher_.storage();
  if (!swept_) {
    auto stored = storage.StateGet(kStateKey);
    if (!stored.ok()) {
      spdlog::warn("scheduler: reading {}: {}", kStateKey, stored.status().ToString());
      return std::nullopt;
    }
    TimePoint at = TimePoint::min();
    if (*stored && !ParseTime(**stored, &at)) at = TimePoint::min();
    swept_ = at;
  }
  if (*swept_ >= interval_start) return next;

  auto accounts = KnownAccounts();
  if (!accounts.ok()) {
    spdlog::warn("scheduler: listing the accounts for the each_account trigger: {}",
                 accounts.status().ToString());
    return std::nullopt;
  }
  ScheduledTask task;
  task.stored = false;
  task.def = EachAccountTask(bindings_);
  const std::string id_prefix = task.def.name + "-" +
                                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                   interval_start.time_since_epoch())
                                                   .count()) +
                                "-";
  constexpr size_t kBatch = 500;
  std::vector<Run> batch;
  auto flush = [&]() -> bool {
    auto outcome = launcher_.StoreIgnoringDuplicates(std::move(batch));
    batch.clear();
    if (!outcome.ok()) {
      spdlog::warn("scheduler: launching the each_account trigger: {}",
                   outcome.status().ToString());
      return false;
    }
    return *outcome == Launcher::Outcome::kStored;
  };
  for (const std::string& account : *accounts) {
    auto run = launcher_.Build(task, std::nullopt, std::nullopt, account,
                               id_prefix + AccountHash(account));
    if (!run.ok()) {
      spdlog::warn("scheduler: each_account run for account {}: {}", account,
                   run.status().ToString());
      continue;
    }
    batch.push_back(std::move(*run));
    if (batch.size() == kBatch && !flush()) return std::nullopt;
  }
  if (!flush()) return std::nullopt;
  swept_ = interval_start;
  if (Status s = storage.StatePut(kStateKey, FormatTime(interval_start)); !s.ok()) {
    // The run ids are derived from the interval: sweeping it again stores nothing new.
    spdlog::warn("scheduler: storing {}: {}", kStateKey, s.ToString());
  }
  spdlog::info("scheduler: each_account trigger launched for {} accounts", accounts->size());
  return next;
}

Result<std::vector<std::string>> EachAccountDuty::KnownAccounts() {
  if (bindings_.accounts) return bindings_.accounts();
  // "Known accounts" are the owners of stored runs. Read page by page, once per
  // interval; bounded so that a huge history cannot stall the scheduler.
  constexpr int kMaxPages = 200;  // 200,000 runs
  std::set<std::string> accounts;
  RunFilter filter;
  filter.limit = 1000;
  for (int page = 0; page < kMaxPages; ++page) {
    auto listed = launcher_.storage().RunList(filter);
    if (!listed.ok()) return listed.status();
    for (const Run& run : listed->runs) {
      if (!run.account_id.empty()) accounts.insert(run.account_id);
    }
    if (listed->next_cursor.empty()) break;
    filter.cursor = listed->next_cursor;
  }
  return std::vector<std::string>(accounts.begin(), accounts.end());
}

}  // namespace taskmill
