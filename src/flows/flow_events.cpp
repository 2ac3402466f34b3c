// Which lifecycle event a flow's run means (flow_events.h).
#include "flows/flow_events.h"

#include <taskmill/flow.h>
#include <taskmill/run_enums.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "flows/advance.h"

namespace taskmill::flows {
namespace {

Event FlowEvent(const Run& run, std::string what, const Role& role) {
  Event e;
  e.type = Event::Type::kFlow;
  e.flow_event = std::move(what);
  e.flow = role.flow;
  e.step = role.step;
  e.flow_id = run.flow_id;
  e.run_id = run.id;
  e.queue = run.queue;
  e.function = run.function;
  e.account_id = run.account_id;
  e.status = run.status;
  e.error = run.error;
  return e;
}

}  // namespace

void PublishFlowStart(EventBus& bus, const Run& root) {
  if (auto role = RoleOf(root)) bus.Publish(FlowEvent(root, "start", *role));
}

void PublishFlowOver(EventBus& bus, const Run& root) {
  if (auto role = RoleOf(root); role && IsFinal(root.status)) {
    bus.Publish(FlowEvent(root, "over", *role));
  }
}

void PublishStarted(EventBus& bus, const Run& run) {
  auto role = RoleOf(run);
  if (!role || role->root || role->child) return;
  bus.Publish(FlowEvent(run, "step_start", *role));
}

std::vector<FinishEvent> FinishEvents(const Run& run, const RunFinish& f) {
  std::vector<FinishEvent> out;
  auto role = RoleOf(run);
  if (!role || role->root) return out;
  if (role->child) {
    if (f.settle && f.settle->stop_live) {
      out.push_back({"step_exit"});
    } else if (IsFinal(f.status)) {
      out.push_back({"step_all_over", true});
    }
    return out;
  }
  if (f.outcome == ToString(ErrorKind::kTimeout)) out.push_back({"step_timeout"});
  if (!IsFinal(f.status)) return out;  // a retry follows
  if (f.status == RunStatus::kCompleted || f.status == RunStatus::kPartial) {
    out.push_back({"step_over"});
    bool has_children = f.staged == StagedRuns::kRelease;
    ForEachFollowUp(
        f, [&](const RunFollowUp& up, bool) { has_children |= up.run.parent_id == run.id; });
    // With children, the last child's end tells it.
    if (!has_children) out.push_back({"step_all_over"});
  } else {
    out.push_back({"step_failed"});
  }
  return out;
}

namespace {

// The step run `id` is final and none of its children is live (read after the commit).
bool AllOver(Storage& storage, const std::string& id) {
  // The children first, the cheapest read first: while children are left to run (most
  // finishes of a big step), the newest is live, one seek by the step's id. A listing
  // by status pending is a walk through the pending runs, which a listing of the
  // running ones is not: asked at every finish batch, it walked up to 20,000 of a
  // step's pending children each time.
  {
    RunFilter newest;
    newest.parent_id = id;
    newest.limit = 1;
    auto page = storage.RunList(newest);
    if (!page.ok() || (!page->runs.empty() && !IsFinal(page->runs.front().status))) return false;
  }
  for (RunStatus live : {RunStatus::kRunning, RunStatus::kPending}) {
    RunFilter filter;
    filter.parent_id = id;
    filter.status = live;
    filter.limit = 1;
    auto page = storage.RunList(filter);
    if (!page.ok() || !page->runs.empty()) return false;
  }
  auto step = storage.RunGet(id);
  return step.ok() && IsFinal(step->status);
}

}  // namespace

std::map<std::string, bool> StepsAllOver(Storage& storage, const FinishedRuns& finished,
                                         const std::map<std::string, bool>& told) {
  // Storage answers the same for each child of one step: each step is read once.
  std::map<std::string, bool> all_over;
  for (const auto& [run, f] : finished) {
    for (const FinishEvent& event : FinishEvents(*run, *f)) {
      if (!event.when_all_over) continue;
      auto [seen, first] = all_over.try_emplace(run->parent_id, false);
      if (!first) continue;
      auto known = told.find(run->parent_id);
      seen->second = known != told.end() ? known->second : AllOver(storage, run->parent_id);
    }
  }
  return all_over;
}

void PublishFinished(EventBus& bus, const FinishedRuns& finished,
                     const std::map<std::string, bool>& all_over) {
  std::set<std::string> told;  // each step all over at most once per batch
  for (const auto& [run, f] : finished) {
    auto role = RoleOf(*run);
    if (!role) continue;
    for (const FinishEvent& event : FinishEvents(*run, *f)) {
      if (!event.when_all_over) {
        Event e = FlowEvent(*run, event.what, *role);
        e.status = f->status;
        e.error = f->error;
        bus.Publish(std::move(e));
        continue;
      }
      // A child ended: the event is its step's.
      auto over = all_over.find(run->parent_id);
      if (over == all_over.end() || !over->second || !told.insert(run->parent_id).second) continue;
      Event e = FlowEvent(*run, event.what, *role);
      e.run_id = run->parent_id;
      e.status = RunStatus::kCompleted;
      e.error.clear();
      bus.Publish(std::move(e));
    }
  }
}

void PublishFinished(EventBus& bus, Storage& storage, const FinishedRuns& finished) {
  PublishFinished(bus, finished, StepsAllOver(storage, finished));
}

}  // namespace taskmill::flows

namespace taskmill {
uint64_t OnFlowEvent(EventBus& bus, std::function<void(const Event&)> callback) {
  return bus.Subscribe([callback = std::move(callback)](const Event& e) {
    if (e.type == Event::Type::kFlow) callback(e);
  });
}
}  // namespace taskmill
