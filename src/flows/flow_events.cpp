// Which lifecycle event a flow's run means (flow_events.h).
#include "flows/flow_events.h"

#include <taskmill/flow.h>
#include <taskmill/run_enums.h>

#include <boost/json.hpp>

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

void PublishFinished(EventBus& bus, const Run& run, const RunFinish& f) {
  auto role = RoleOf(run);
  if (!role || role->root) return;
  Run ended = run;
  ended.status = f.status;
  ended.error = f.error;
  const bool timed_out = f.outcome == ToString(ErrorKind::kTimeout);
  if (role->child) {
    if (f.settle && f.settle->stop_live) bus.Publish(FlowEvent(ended, "step_exit", *role));
    return;
  }
  if (timed_out) bus.Publish(FlowEvent(ended, "step_timeout", *role));
  if (!IsFinal(f.status)) return;  // a retry follows
  if (f.status == RunStatus::kCompleted || f.status == RunStatus::kPartial) {
    bus.Publish(FlowEvent(ended, "step_over", *role));
    bool has_children = false;
    for (const RunFollowUp& up : f.follow_ups) has_children |= up.run.parent_id == run.id;
    if (!has_children) bus.Publish(FlowEvent(ended, "step_all_over", *role));
  } else {
    bus.Publish(FlowEvent(ended, "step_failed", *role));
  }
}

}  // namespace taskmill::flows

namespace taskmill {
uint64_t OnFlowEvent(EventBus& bus, std::function<void(const Event&)> callback) {
  return bus.Subscribe([callback = std::move(callback)](const Event& e) {
    if (e.type == Event::Type::kFlow) callback(e);
  });
}
}  // namespace taskmill
