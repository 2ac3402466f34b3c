#include "core/lifecycle/run_notifier.h"

#include <algorithm>

namespace taskmill {

void RunNotifier::Announce(std::span<const Run> runs, Event (*event)(const Run&)) const {
  TimePoint earliest = TimePoint::max();
  for (const Run& run : runs) {
    if (run.status == RunStatus::kPending) earliest = std::min(earliest, run.run_at);
  }
  if (earliest != TimePoint::max() && wake_) wake_(earliest);
  for (const Run& run : runs) events_.Publish(event(run));
}

void RunNotifier::Finished(const Run& run, const RunFinish& finish) const {
  if (finish.status == RunStatus::kPending && wake_) wake_(finish.run_at);
  events_.Publish(RunEvent::Finished(run, finish));
}

}  // namespace taskmill
