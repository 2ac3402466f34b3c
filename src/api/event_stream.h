// api/event_stream.h — Server-Sent Events for GET /api/v1/events.
//
// One EventHub per server subscribes to the engine's EventBus and keeps the last
// `capacity` events, each sent as an SSE frame:
//
//   id: 42
//   event: run.finished
//   data: {"type":"run.finished","sequence":42,"run_id":"…","status":"completed",…}
//
// Frames are formatted lazily, by the first connection that sends them, and shared:
// every connection writes the ring's own string (PushPart), never a copy, so 1,000
// streams behind on the same events hold 1,000 lists of references, not 1,000 copies
// of the events. A frame dropped from the ring lives on until the last write that
// refers to it completes.
//
// Each SSE connection is an EventCursor: a position in that ring plus the principal's
// filter (an account token sees its own account's run events; task.changed events go
// to everyone). A publish does not write to any socket: it appends to the ring and
// wakes the cursors, each of which later pulls everything new in one piece on its own
// connection's strand. So a burst of events costs one write per connection, not one
// per event, and a slow client slows only itself. A client that falls more than
// `capacity` events behind receives an `overflow` event and continues from the oldest
// event kept (it should reload its view).
//
// `Last-Event-ID` resumes after the given id when it is still in the ring; otherwise
// the stream starts with new events only.
//
// Thread-safe.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/events.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/auth.h"
#include "api/router.h"

namespace taskmill::api {

class EventCursor;

class EventHub {
 public:
  EventHub(EventBus& bus, Clock& clock, size_t capacity = 65536);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // A cursor for `principal`, after `last_event_id` when it is still kept, else at the
  // newest event. `types` empty: every type.
  std::shared_ptr<EventCursor> Open(Principal principal, std::optional<uint64_t> last_event_id,
                                    std::set<std::string> types);
  size_t subscribers() const;

 private:
  friend class EventCursor;
  struct Frame {
    uint64_t id = 0;
    Event event;
    TimePoint at{};
    PushPart text;  // the SSE frame, made on first use (under mu_)
    const PushPart& Text();
  };
  void OnEvent(const Event& event);
  void Close(EventCursor* cursor);

  EventBus& bus_;
  Clock& clock_;
  const size_t capacity_;
  uint64_t subscription_ = 0;
  mutable std::mutex mu_;
  std::deque<Frame> ring_;          // guarded by mu_; ids increase by one
  uint64_t next_id_ = 1;            // guarded by mu_
  std::set<EventCursor*> cursors_;  // guarded by mu_
};

// One SSE connection's view of the hub; a PushSource for the server (router.h).
class EventCursor : public PushSource {
 public:
  EventCursor(EventHub& hub, Principal principal, uint64_t next_id, std::set<std::string> types)
      : hub_(hub), principal_(std::move(principal)), next_id_(next_id), types_(std::move(types)) {}
  ~EventCursor() override;

  void Start(std::function<void()> wake) override;
  void Pull(std::vector<PushPart>& parts) override;

 private:
  friend class EventHub;
  void Wake();

  EventHub& hub_;
  const Principal principal_;
  uint64_t next_id_;  // guarded by hub_.mu_
  const std::set<std::string> types_;
  std::function<void()> wake_;  // set by Start before the cursor is registered
  std::atomic<bool> wake_pending_{false};
};

}  // namespace taskmill::api
