// api/run_waiter.h — long-polls of runs (`GET /api/v1/runs/{id}?wait=SECONDS`): a wait
// answers once the run is final, or when its time is up with the run as it is.
// Woken by events with a final status of the run; the shape (and threading) is
// EventWaiter's (event_waiter.h).
#pragma once

#include <taskmill/engine.h>

#include <string>

#include "api/event_waiter.h"

namespace taskmill::api {

struct RunWaitPolicy {
  using Value = Run;
  static const std::string* Key(const Event& event) {
    return IsFinal(event.status) ? &event.run_id : nullptr;
  }
  static bool Ready(const Result<Run>& run) { return IsFinal(run->status); }
};

class RunWaiter : public EventWaiter<RunWaitPolicy> {
 public:
  RunWaiter(Engine& engine, Duration recheck_interval)
      : EventWaiter(engine.events(), recheck_interval), engine_(engine) {}

  // Answers `done` on `strand` once the run is final or `wait` has passed (then
  // with the run as it is), or with the error of reading it (e.g. kNotFound).
  void Wait(boost::asio::any_io_executor strand, std::string id, std::string queue, Duration wait,
            Completion done) {
    Try read = [&storage = engine_.storage(), id, queue] { return storage.RunGet(id, queue); };
    EventWaiter::Wait(std::move(strand), std::move(id), wait, std::move(read), std::move(done));
  }

 private:
  Engine& engine_;
};

}  // namespace taskmill::api
