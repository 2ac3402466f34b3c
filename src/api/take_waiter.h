// api/take_waiter.h — long-polls of remote runners' takes
// (`POST /api/v1/runners/{runner}/take?queue=Q&wait=SECONDS`): a wait answers with the
// first runs claimed, or with none when its time is up. Woken by run.created events
// of the queue (a new run, a retry, a swept lease); the shape (and threading) is
// EventWaiter's (event_waiter.h). What a try claims is the caller's: the route claims
// through RemoteRunnerService::Take, exactly as the local runner does.
#pragma once

#include <taskmill/events.h>
#include <taskmill/model.h>

#include <string>
#include <vector>

#include "api/event_waiter.h"

namespace taskmill::api {

struct TakeWaitPolicy {
  using Value = std::vector<Run>;
  // A run becomes claimable when it is created or put back to pending (both publish
  // run.created).
  static const std::string* Key(const Event& event) {
    return event.type == Event::Type::kRunCreated ? &event.queue : nullptr;
  }
  static bool Ready(const Result<std::vector<Run>>& runs) { return !runs->empty(); }
};

using TakeWaiter = EventWaiter<TakeWaitPolicy>;

}  // namespace taskmill::api
