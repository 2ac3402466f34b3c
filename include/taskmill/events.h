// taskmill/events.h — in-process publish/subscribe of run and task changes.
//
// Publishers (runner, scheduler, API) call Publish after the change is committed.
// Subscribers are called synchronously on the publisher's thread and must not
// block; they copy what they need and hand it to their own thread. Thread-safe.
#pragma once

#include <taskmill/model.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace taskmill {

struct Event {
  enum class Type { kRunCreated, kRunStarted, kRunProgress, kRunFinished, kTaskChanged, kFlow };
  Type type = Type::kRunCreated;
  uint64_t sequence = 0;  // assigned by the bus, increasing
  std::string run_id;
  std::string queue;
  std::string task;
  std::string function;
  std::string account_id;
  RunStatus status = RunStatus::kPending;
  Progress progress;
  // run.finished only, for per-function figures: when the run was due (its run_at),
  // when its last attempt started (unset if it never started) and when it finished.
  std::optional<TimePoint> due_at;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  // kFlow only: what happened (start, over, step_start, step_over, step_all_over,
  // step_failed, step_timeout, step_exit; docs/flows.md), in which flow and step; run_id
  // is the run concerned and flow_id the flow's root. Streamed as `flow.<what>`.
  std::string flow_event;
  std::string flow;
  std::string step;
  std::string flow_id;
  std::string error;
};
std::string_view ToString(Event::Type t);  // "run.created", ...
// The name an event is streamed under: ToString(type), or "flow.<what>" for kFlow.
std::string EventName(const Event& event);

class EventBus {
 public:
  using Listener = std::function<void(const Event&)>;
  uint64_t Subscribe(Listener listener);
  void Unsubscribe(uint64_t id);
  void Publish(Event event);

 private:
  std::mutex mu_;
  uint64_t next_id_ = 1;                    // guarded by mu_
  uint64_t next_sequence_ = 1;              // guarded by mu_
  std::map<uint64_t, Listener> listeners_;  // guarded by mu_
};

}  // namespace taskmill
