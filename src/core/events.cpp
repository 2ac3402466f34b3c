#include <taskmill/events.h>

#include <vector>

namespace taskmill {

std::string_view ToString(Event::Type t) {
  switch (t) {
    case Event::Type::kRunCreated:
      return "run.created";
    case Event::Type::kRunStarted:
      return "run.started";
    case Event::Type::kRunProgress:
      return "run.progress";
    case Event::Type::kRunFinished:
      return "run.finished";
    case Event::Type::kTaskChanged:
      return "task.changed";
    case Event::Type::kFlow:
      return "flow";
  }
  return "unknown";
}

std::string EventName(const Event& event) {
  if (event.type == Event::Type::kFlow) return "flow." + event.flow_event;
  return std::string(ToString(event.type));
}

uint64_t EventBus::Subscribe(Listener listener) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void EventBus::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

void EventBus::Publish(Event event) {
  // Listeners run under the lock so that an unsubscribed listener is never called
  // afterwards; they must not block or publish (documented in events.h).
  std::lock_guard lock(mu_);
  event.sequence = next_sequence_++;
  for (auto& [id, listener] : listeners_) listener(event);
}

}  // namespace taskmill
