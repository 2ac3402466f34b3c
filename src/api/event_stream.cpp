#include "api/event_stream.h"

#include <boost/json.hpp>

namespace taskmill::api {
namespace json = boost::json;

namespace {

// Most bytes one Pull hands to a connection: big enough that a burst goes out in a
// few writes, small enough that one pull holds the hub's lock briefly and its list of
// references stays small (about 750 frames of a few hundred bytes).
constexpr size_t kMaxPull = 256 << 10;

bool IsRunEvent(Event::Type type) { return type != Event::Type::kTaskChanged; }

}  // namespace

EventHub::EventHub(EventBus& bus, Clock& clock, size_t capacity)
    : bus_(bus), clock_(clock), capacity_(std::max<size_t>(capacity, 16)) {
  subscription_ = bus_.Subscribe([this](const Event& event) { OnEvent(event); });
}

EventHub::~EventHub() { bus_.Unsubscribe(subscription_); }

void EventHub::OnEvent(const Event& event) {
  // On the publisher's thread (the runner's, the API's): keep only a copy here. The
  // frame is formatted by the first stream that sends it, so events nobody streams cost
  // no JSON work.
  TimePoint at = clock_.Now();
  std::lock_guard lock(mu_);
  ring_.push_back({.id = next_id_++, .event = event, .at = at});
  if (ring_.size() > capacity_) ring_.pop_front();
  // Waking under the lock keeps every cursor alive meanwhile (Close takes the lock);
  // Wake only posts to the connection's strand and never blocks.
  for (EventCursor* cursor : cursors_) cursor->Wake();
}

const PushPart& EventHub::Frame::Text() {
  if (text) return text;
  json::object data;
  data["type"] = ToString(event.type);
  data["at"] = TimeToJson(at);
  if (event.type == Event::Type::kTaskChanged) {
    data["task"] = event.task;
  } else if (event.type == Event::Type::kFlow) {
    data["type"] = EventName(event);
    data["flow"] = event.flow;
    data["flow_id"] = event.flow_id;
    data["step"] = event.step;
    data["run_id"] = event.run_id;
    data["account_id"] = event.account_id;
    data["status"] = ToString(event.status);
    if (!event.error.empty()) data["error"] = event.error;
  } else {
    data["run_id"] = event.run_id;
    data["queue"] = event.queue;
    data["task"] = event.task;
    data["function"] = event.function;
    data["account_id"] = event.account_id;
    data["status"] = ToString(event.status);
    data["progress"] = ToJson(event.progress);
  }
  data["id"] = id;
  text = std::make_shared<const std::string>("id: " + std::to_string(id) +
                                             "\nevent: " + EventName(event) +
                                             "\ndata: " + json::serialize(data) + "\n\n");
  return text;
}

std::shared_ptr<EventCursor> EventHub::Open(Principal principal,
                                            std::optional<uint64_t> last_event_id,
                                            std::set<std::string> types) {
  std::lock_guard lock(mu_);
  uint64_t oldest = ring_.empty() ? next_id_ : ring_.front().id;
  uint64_t next = next_id_;
  if (last_event_id && *last_event_id + 1 >= oldest && *last_event_id < next_id_) {
    next = *last_event_id + 1;
  }
  return std::make_shared<EventCursor>(*this, std::move(principal), next, std::move(types));
}

size_t EventHub::subscribers() const {
  std::lock_guard lock(mu_);
  return cursors_.size();
}

void EventHub::Close(EventCursor* cursor) {
  std::lock_guard lock(mu_);
  cursors_.erase(cursor);
}

EventCursor::~EventCursor() { hub_.Close(this); }

void EventCursor::Start(std::function<void()> wake) {
  wake_ = std::move(wake);
  std::lock_guard lock(hub_.mu_);
  hub_.cursors_.insert(this);
}

void EventCursor::Wake() {
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) wake_();
}

void EventCursor::Pull(std::vector<PushPart>& parts) {
  wake_pending_.store(false, std::memory_order_release);
  std::lock_guard lock(hub_.mu_);
  auto& ring = hub_.ring_;
  if (ring.empty()) return;
  uint64_t oldest = ring.front().id;
  if (next_id_ < oldest) {
    parts.push_back(std::make_shared<const std::string>(
        "event: overflow\ndata: {\"skipped\":" + std::to_string(oldest - next_id_) + "}\n\n"));
    next_id_ = oldest;
  }
  size_t bytes = 0;
  for (size_t i = next_id_ - oldest; i < ring.size() && bytes < kMaxPull; ++i) {
    EventHub::Frame& frame = ring[i];
    next_id_ = frame.id + 1;
    Event::Type type = frame.event.type;
    if (IsRunEvent(type) && !principal_.CanSee(frame.event.account_id)) continue;
    if (!types_.empty() && !types_.contains(EventName(frame.event))) continue;
    parts.push_back(frame.Text());
    bytes += parts.back()->size();
  }
  // More left than one pull carries: come back for it.
  if (next_id_ < hub_.next_id_) Wake();
}

}  // namespace taskmill::api
