#include "scheduler/periodic.h"

#include <spdlog/spdlog.h>
#include <taskmill/run_enums.h>

#include <algorithm>
#include <boost/json.hpp>
#include <deque>
#include <set>

#include "metrics/taskmill_metrics.h"

namespace taskmill {
namespace {
namespace json = boost::json;

// Counting missed instants one by one costs about a microsecond each; past this many
// (a per-second schedule down for 12 days) the count is reported as "more than" and
// only the latest instants are looked at.
constexpr int64_t kMaxMissedCounted = 1'000'000;

struct StoredCursor {
  TimePoint at{};
  std::string schedule;
  std::string timezone;
};

// The cursor is stored with the schedule it was computed for, so that a changed
// schedule starts afresh instead of treating the new schedule's past instants as
// missed.
std::string EncodeCursor(TimePoint at, const TaskDef& task) {
  json::object o;
  o["at"] = FormatTime(at);
  o["schedule"] = task.schedule;
  o["timezone"] = task.timezone;
  return json::serialize(o);
}

std::optional<StoredCursor> DecodeCursor(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.get_object();
  const json::value* at = o.if_contains("at");
  const json::value* schedule = o.if_contains("schedule");
  const json::value* timezone = o.if_contains("timezone");
  if (!at || !at->is_string() || !schedule || !schedule->is_string() || !timezone ||
      !timezone->is_string()) {
    return std::nullopt;
  }
  StoredCursor cursor;
  if (!ParseTime(at->get_string(), &cursor.at)) return std::nullopt;
  cursor.schedule = schedule->get_string();
  cursor.timezone = timezone->get_string();
  return cursor;
}

// The instants a pass found before the misfire boundary.
struct Missed {
  int64_t count = 0;
  bool more = false;  // count is a lower bound (kMaxMissedCounted reached)
  TimePoint first{};
  std::deque<TimePoint> latest;  // the latest `keep` of them, oldest first

  TimePoint last() const { return latest.back(); }
};

// After kMaxMissedCounted instants: finds the latest `keep` instants before
// `boundary` by looking back over a growing window, and returns where the count left
// off continuing from (the first instant at or after the boundary).
std::optional<TimePoint> SkipToLatest(const CompiledSchedule& schedule, TimePoint reached,
                                      TimePoint boundary, size_t keep, Missed& missed) {
  missed.more = true;
  Duration back = std::chrono::minutes(1);
  constexpr Duration kLongest = std::chrono::hours(24 * 366 * 10);
  for (;;) {
    TimePoint from = std::max(reached, boundary - back);
    std::deque<TimePoint> found;
    std::optional<TimePoint> next = schedule.Next(from);
    while (next && *next < boundary) {
      found.push_back(*next);
      if (found.size() > keep) found.pop_front();
      next = schedule.Next(*next);
    }
    if (found.size() >= keep || from == reached || back >= kLongest) {
      if (!found.empty()) missed.latest = std::move(found);
      return next;
    }
    back *= 8;
  }
}

// The latest scheduled_at among the newest runs of a task (launches are stored in the
// order of their instants; runs started by hand carry none). Bounded: a task buried
// under more than 1,000 hand-started runs falls back on the stored cursor.
Result<std::optional<TimePoint>> LatestScheduledAt(Storage& storage, const std::string& task) {
  RunFilter filter;
  filter.task = task;
  filter.limit = 100;
  for (int page = 0; page < 10; ++page) {
    auto listed = storage.RunList(filter);
    if (!listed.ok()) return listed.status();
    std::optional<TimePoint> latest;
    for (const Run& run : listed->runs) {
      if (run.scheduled_at && (!latest || *run.scheduled_at > *latest)) latest = run.scheduled_at;
    }
    if (latest || listed->next_cursor.empty()) return latest;
    filter.cursor = listed->next_cursor;
  }
  return std::optional<TimePoint>();
}

std::string Plural(int64_t n, bool more, const char* word) {
  return (more ? "more than " : "") + std::to_string(n) + " " + word + (n == 1 ? "" : "es");
}

}  // namespace

Status PeriodicalDuty::RestartCursor(Storage& storage, const TaskDef& task, TimePoint now) {
  return storage.StatePut(CursorKey(task.name), EncodeCursor(now, task));
}

std::optional<TimePoint> PeriodicalDuty::Pass(TimePoint now, TimePoint leading_since,
                                              const std::vector<ScheduledTask>& tasks) {
  const TimePoint boundary = leading_since - misfire_grace_;
  std::optional<TimePoint> earliest;
  std::set<std::string> present;
  for (const ScheduledTask& task : tasks) {
    const TaskDef& def = task.def;
    if (def.kind != TaskKind::kPeriodical) continue;
    present.insert(def.name);
    TaskState& state = states_[def.name];
    if (!def.enabled) {
      // Nothing of a disabled task is launched or counted as missed; when it is
      // enabled again its schedule starts from that moment.
      state = TaskState{};
      state.seen_disabled = true;
      continue;
    }
    if (!state.loaded || state.schedule != def.schedule || state.timezone != def.timezone) {
      Prepare(def, now, state);
    }
    if (!state.compiled) continue;
    auto next = HandleTask(task, now, boundary, leading_since, state);
    if (!next.leading) return std::nullopt;
    if (next.next && (!earliest || *next.next < *earliest)) earliest = next.next;
  }
  std::erase_if(states_, [&](const auto& entry) { return !present.count(entry.first); });
  return earliest;
}

void PeriodicalDuty::Prepare(const TaskDef& def, TimePoint now, TaskState& state) {
  const bool restart = state.seen_disabled;
  state = TaskState{};
  state.loaded = true;
  state.schedule = def.schedule;
  state.timezone = def.timezone;
  auto compiled = CompileSchedule(def);
  if (!compiled.ok()) {
    // Logged once per definition and term: the state remembers it until then.
    spdlog::warn("scheduler: task {} is not scheduled: schedule '{}': {}", def.name, def.schedule,
                 compiled.status().message());
    return;
  }
  state.compiled = std::move(*compiled);
  if (!restart) {
    auto stored = launcher_.storage().StateGet(CursorKey(def.name));
    if (!stored.ok()) {
      spdlog::warn("scheduler: reading the cursor of task {}: {}", def.name,
                   stored.status().ToString());
      state.loaded = false;  // try again next pass rather than forget the past
      state.compiled.reset();
      return;
    }
    if (*stored) {
      auto cursor = DecodeCursor(**stored);
      if (cursor && cursor->schedule == def.schedule && cursor->timezone == def.timezone) {
        // The stored cursor moves only when a schedule (re)starts; the launches since
        // carry their instants themselves, so the latest of them is where the last
        // leader stopped, however it stopped.
        state.cursor = cursor->at;
        auto latest = LatestScheduledAt(launcher_.storage(), def.name);
        if (!latest.ok()) {
          spdlog::warn("scheduler: reading the latest launch of task {}: {}", def.name,
                       latest.status().ToString());
          state.loaded = false;
          state.compiled.reset();
          return;
        }
        if (*latest && **latest > state.cursor) state.cursor = **latest;
        return;
      }
    }
  }
  // A new task, a changed schedule, or one enabled again: its schedule starts now.
  state.cursor = now;
  if (Status s = RestartCursor(launcher_.storage(), def, now); !s.ok()) {
    spdlog::warn("scheduler: storing the cursor of task {}: {}", def.name, s.ToString());
  }
}

PeriodicalDuty::TaskResult PeriodicalDuty::HandleTask(const ScheduledTask& task, TimePoint now,
                                                      TimePoint boundary, TimePoint leading_since,
                                                      TaskState& state) {
  const TaskDef& def = task.def;
  const CompiledSchedule& schedule = *state.compiled;
  // An unknown word (the loader refuses one) reads as the default, skip.
  const Misfire misfire = ParseMisfire(def.misfire).value_or(Misfire::kSkip);
  const bool run_all = misfire == Misfire::kRunAll;
  const bool run_once = misfire == Misfire::kRunOnce;
  const bool overlap_skip = ParseOverlap(def.overlap).value_or(Overlap::kSkip) == Overlap::kSkip;
  // run_all launches up to misfire_max missed instants and needs the one before them
  // as the key of the record of the rest.
  const size_t keep = run_all ? static_cast<size_t>(std::max(1, def.misfire_max)) + 1 : 1;

  Missed missed;
  std::vector<TimePoint> on_time;
  std::vector<TimePoint> ahead;  // in (now, now + launch_ahead]
  const TimePoint horizon = now + launch_ahead_;
  std::optional<TimePoint> next = schedule.Next(state.cursor);
  while (next && *next <= horizon) {
    if (*next > now) {
      ahead.push_back(*next);
    } else if (*next >= boundary) {
      on_time.push_back(*next);
    } else {
      if (missed.count == 0) missed.first = *next;
      ++missed.count;
      missed.latest.push_back(*next);
      if (missed.latest.size() > keep) missed.latest.pop_front();
      if (missed.count == kMaxMissedCounted) {
        next = SkipToLatest(schedule, *next, boundary, keep, missed);
        continue;
      }
    }
    next = schedule.Next(*next);
  }
  // Past the horizon: wake launch_ahead before it (after `now`, since it lies beyond
  // now + launch_ahead).
  TaskResult result{.leading = true,
                    .next = next ? std::optional<TimePoint>(*next - launch_ahead_) : std::nullopt};
  if (missed.count == 0 && on_time.empty() && ahead.empty()) return result;

  // One run is built per task and pass (the engine reads the task once), copied for
  // each instant, and everything is stored in one commit in the order of the
  // instants.
  auto built = launcher_.Build(task, std::nullopt);
  if (!built.ok()) {
    spdlog::warn("scheduler: building a launch of task {}: {}", def.name,
                 built.status().ToString());
    result.next.reset();  // retried at the next sweep rather than in a tight loop
    return result;
  }
  std::vector<Run> records;
  auto add = [&](TimePoint at, const std::string& error, const std::string& error_kind) {
    Run run = launcher_.ForInstant(*built, at);
    if (!error.empty()) launcher_.MarkDidNotStart(run, error, error_kind);
    records.push_back(std::move(run));
  };
  auto zoned = [&](TimePoint t) { return cron::FormatInZone(t, schedule.zone); };

  // 1. Misfires.
  std::vector<TimePoint> catch_up;
  if (missed.count > 0) {
    const std::string span = missed.count == 1
                                 ? " (" + zoned(missed.first) + ")"
                                 : " (" + zoned(missed.first) + " to " + zoned(missed.last()) + ")";
    if (run_once) {
      catch_up.push_back(missed.last());
    } else if (run_all) {
      size_t launch = std::min(missed.latest.size(), keep - 1);
      int64_t rest = missed.count - static_cast<int64_t>(launch);
      // The record of the rest needs an instant of its own as its key.
      if (rest > 0 && missed.latest.size() == launch) {
        --launch;
        ++rest;
      }
      if (rest > 0) {
        TimePoint key = missed.latest[missed.latest.size() - launch - 1];
        add(key,
            "skipped " + Plural(rest, missed.more, "launch") + " of " +
                Plural(missed.count, missed.more, "launch") +
                " missed while the scheduler was down" + span +
                "; misfire run_all launches at most misfire_max = " +
                std::to_string(def.misfire_max),
            "misfire");
      }
      catch_up.assign(missed.latest.end() - static_cast<std::ptrdiff_t>(launch),
                      missed.latest.end());
    } else {
      add(missed.last(),
          "missed " + Plural(missed.count, missed.more, "launch") +
              " while the scheduler was down" + span,
          "misfire");
    }
  }

  // 2. Launches, each judged by the overlap policy against the runs live before it.
  int64_t live = 0;
  if (overlap_skip && (!catch_up.empty() || !on_time.empty() || !ahead.empty())) {
    auto counted = launcher_.storage().RunCountLive(def.name);
    if (!counted.ok()) {
      spdlog::warn("scheduler: counting live runs of task {}: {}", def.name,
                   counted.status().ToString());
      result.next.reset();
      return result;
    }
    live = *counted;
  }
  constexpr const char* kStillRunning = "previous run still running";
  // Instants that fell while no scheduler led (catch-up launches, and instants of the
  // gap within misfire_grace) follow the misfire policy only, never the overlap check:
  // the run that would block them is typically one the dead node held, handed back
  // by the sweep just before this pass, and no scheduler was there to judge the
  // overlap at the instant itself.
  for (TimePoint at : catch_up) {
    add(at, "", "");
    ++live;
  }
  // The latest instant handled on time (launched, or recorded as an overlap skip):
  // how late its commit lands is the scheduler's lag. Catch-up launches are late by
  // the downtime, which is the misfire policy's business, not lag.
  std::optional<TimePoint> latest_on_time;
  for (TimePoint at : on_time) {
    latest_on_time = at;
    const bool in_gap = at < leading_since;
    bool skip = !in_gap && overlap_skip && live > 0;
    add(at, skip ? kStillRunning : "", "overlap");
    if (!skip) ++live;
  }
  // 3. Launches ahead of their instant, due at the instant. With a live run and
  // overlap skip the previous run may still end in time, so the decision waits for
  // the instant, and so does the scheduler.
  for (TimePoint at : ahead) {
    if (overlap_skip && live > 0) {
      result.next = at;
      break;
    }
    add(at, "", "");
    records.back().run_at = at;
    latest_on_time = at;
    ++live;
  }
  if (records.empty()) return result;

  const TimePoint last = records.back().scheduled_at.value_or(state.cursor);
  auto outcome = launcher_.Store(std::move(records));
  if (!outcome.ok()) {
    spdlog::warn("scheduler: launching task {}: {}", def.name, outcome.status().ToString());
    result.next.reset();
    return result;
  }
  if (*outcome == Launcher::Outcome::kNotLeader) {
    result.leading = false;
    return result;
  }
  // Not written to storage: every handled instant is the scheduled_at of a stored run
  // (a launch, or a did_not_start record keyed by the latest instant it stands for),
  // so the next leader finds the cursor among the runs, and a launch is one commit.
  state.cursor = std::max(state.cursor, last);
  if (latest_on_time) {
    const Duration late = launcher_.clock().Now() - *latest_on_time;
    metrics::Taskmill().scheduler_lag->Set(
        std::max(0.0, std::chrono::duration<double>(late).count()));
  }
  return result;
}

}  // namespace taskmill
