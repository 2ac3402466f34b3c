// Values and checks shared by the conformance suite's test files (helpers.h).
#include "storage/conformance/helpers.h"

namespace taskmill::conformance {
namespace json = boost::json;
using namespace std::chrono_literals;

std::vector<std::string> Ids(const std::vector<Run>& runs) {
  std::vector<std::string> ids;
  ids.reserve(runs.size());
  for (const auto& r : runs) ids.push_back(r.id);
  return ids;
}

std::string Json(const Run& run) { return json::serialize(ToJson(run)); }
std::string Json(const Attempt& attempt) { return json::serialize(ToJson(attempt)); }
std::string Json(const TaskDef& task) { return json::serialize(ToJson(task)); }
std::string Time(TimePoint t) { return FormatTime(t); }
std::string Time(const std::optional<TimePoint>& t) { return t ? FormatTime(*t) : "null"; }

// The end of attempt `attempt` of run `id` in queue "default".
RunFinish FinishOf(std::string id, int attempt, RunStatus status, TimePoint finished_at) {
  RunFinish finish;
  finish.queue = "default";
  finish.id = std::move(id);
  finish.attempt = attempt;
  finish.status = status;
  finish.finished_at = finished_at;
  return finish;
}

int64_t CountOf(const StorageStats& stats, RunStatus status) {
  auto it = stats.by_status.find(status);
  return it == stats.by_status.end() ? -1 : it->second;
}

// A run with every field set to a value other than its default, as a runner would
// leave it after a first failed attempt and a second successful one.
Run FullCompletedRun(std::string id) {
  Run r;
  r.id = std::move(id);
  r.queue = "imports";
  r.function = "numbers.import";
  r.task = "nightly-import";
  r.status = RunStatus::kCompleted;
  r.args = json::array{1, "two", json::object{{"three", 3.5}}, nullptr, true};
  r.data = json::object{{"customer", "acme"}, {"nested", json::array{1, 2}}};
  r.priority = -3;
  r.account_id = "account-7";
  r.auth_account_id = "admin-1";
  r.created_at = kT0 + 1us;
  r.run_at = At(5) + 250us;
  r.scheduled_at = At(5);
  r.started_at = At(20) + 7us;
  r.finished_at = At(25) + 999'999us;
  r.attempt = 2;
  r.retry = RetryPolicy{3, 1500ms, 2.5, 90s};
  r.timeout = 45s;
  r.time_to_resolve = 2min + 1us;
  r.result = json::object{{"rows", 12}, {"ok", true}};
  r.error = "";
  r.error_kind = "";
  r.progress = {12, 10, 2};
  r.parent_id = "flow-step-1";
  r.flow_id = "flow-1";
  r.input_file = "file-in-1";
  r.output_file = "file-out-1";
  r.attempts = {
      Attempt{1, "runner-a", At(6), At(8), "failed", "exit status 3", "line 1\nline 2"},
      Attempt{2, "runner-b", At(20) + 7us, At(25) + 999'999us, "completed", "", "done \"ok\""},
  };
  return r;
}

// A run in the middle of its second attempt (the launch after FullCompletedRun's).
Run FullRunningRun(std::string id) {
  Run r = FullCompletedRun(std::move(id));
  r.scheduled_at = At(65);
  r.status = RunStatus::kRunning;
  r.finished_at.reset();
  r.result = nullptr;
  r.error = "last attempt: exit status 3";
  r.error_kind = "user";
  r.lease_until = At(80);
  r.runner = "runner-b";
  r.attempts.pop_back();
  return r;
}

Run FlowRoot(const std::string& id) {
  Run root;
  root.id = id;
  root.function = "flow.run";
  root.status = RunStatus::kRunning;
  root.flow_id = id;
  root.created_at = kT0;
  root.run_at = kT0;
  root.started_at = kT0;
  return root;
}

Run FlowMember(const std::string& id, const std::string& flow, const std::string& parent) {
  Run run;
  run.id = id;
  run.function = "test.echo";
  run.flow_id = flow;
  run.parent_id = parent;
  run.created_at = kT0;
  run.run_at = kT0;
  return run;
}

std::pair<ClaimedRun, ClaimedRun> ClaimTwoSteps(Storage& storage, int max_attempts) {
  Run a = FlowMember("r:a", "r", "r"), b = FlowMember("r:b", "r", "r");
  a.retry.max_attempts = b.retry.max_attempts = max_attempts;
  RunPutParams put;
  put.runs = {FlowRoot("r"), a, b};
  EXPECT_TRUE(storage.RunPut(put).ok());
  auto claimed = storage.RunTake({.runner = "runner", .max = 2, .now = kT0});
  EXPECT_TRUE(claimed.ok() && claimed->size() == 2u);
  if (!claimed.ok() || claimed->size() != 2u) return {};
  if ((*claimed)[0].id != "r:a") std::swap((*claimed)[0], (*claimed)[1]);
  return {(*claimed)[0], (*claimed)[1]};
}

Status StageChildren(Storage& storage, const ClaimedRun& parent, int count) {
  std::vector<Run> runs;
  for (int i = 0; i < count; ++i) {
    runs.push_back(FlowMember(parent.id + ":" + std::to_string(i), "r", parent.id));
  }
  return storage.RunStage(parent.queue, parent.id, parent.attempt, runs);
}

RunFinish FailingFlowR(const ClaimedRun& step, TimePoint at) {
  RunFinish failed = FinishOf(step.id, step.attempt, RunStatus::kFailed, at);
  failed.staged = StagedRuns::kDrop;
  failed.settle = RunSettle{.queue = "default",
                            .id = "r",
                            .status = RunStatus::kFailed,
                            .error = "step " + step.id + " failed",
                            .error_kind = "flow",
                            .when_idle = false,
                            .stop_live = true};
  return failed;
}

TaskDef FullTask(std::string name) {
  TaskDef t;
  t.name = std::move(name);
  t.kind = TaskKind::kPeriodical;
  t.function = "task." + t.name;
  t.command = {"/usr/bin/env", "python3", "-c", "print('hi there')"};
  t.shell = true;
  t.working_dir = "/var/lib/taskmill/work";
  t.env = {{"LANG", "C.UTF-8"}, {"MODE", "fast"}};
  t.args = json::array{"--verbose", json::object{{"limit", 10}}};
  t.schedule = "*/15 * * * * *";
  t.timezone = "Europe/Berlin";
  t.misfire = "run_all";
  t.misfire_max = 3;
  t.overlap = "allow";
  t.pause = 90s;
  t.time_to_resolve = 5min;
  t.timeout = 250ms;
  t.retry = RetryPolicy{5, 2s, 3.0, 1h};
  t.queue = "reports";
  t.priority = 4;
  t.enabled = false;
  return t;
}
}  // namespace taskmill::conformance
