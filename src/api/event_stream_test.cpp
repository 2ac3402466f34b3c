#include "api/event_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace taskmill::api {
namespace {

class EventHubTest : public ::testing::Test {
 protected:
  void Publish(int count, Event::Type type = Event::Type::kRunFinished) {
    for (int i = 0; i < count; ++i) {
      Event event;
      event.type = type;
      event.run_id = "run-" + std::to_string(published_++);
      event.queue = "default";
      event.function = "demo.echo";
      event.status = RunStatus::kCompleted;
      bus_.Publish(std::move(event));
    }
  }

  // Opens a started cursor at the newest event, counting its wakes.
  std::shared_ptr<EventCursor> Open(std::set<std::string> types = {},
                                    std::optional<uint64_t> last_event_id = std::nullopt) {
    auto cursor = hub_.Open(Principal::Anonymous(), last_event_id, std::move(types));
    cursor->Start([this] { ++wakes_; });
    return cursor;
  }

  static std::string Join(const std::vector<PushPart>& parts) {
    std::string text;
    for (const PushPart& part : parts) text += *part;
    return text;
  }

  static size_t Count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  EventBus bus_;
  ManualClock clock_{TimePoint{}};
  EventHub hub_{bus_, clock_, 64};
  int published_ = 0;
  int wakes_ = 0;
};

// The memory of 1,000 streams behind on the same events must not grow with the
// number of streams: every stream is handed the hub's own frame, not a copy.
TEST_F(EventHubTest, StreamsShareEachFrameInsteadOfCopyingIt) {
  auto first = Open();
  auto second = Open();
  Publish(3);
  std::vector<PushPart> a, b;
  first->Pull(a);
  second->Pull(b);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].get(), b[i].get());
  EXPECT_EQ(Count(Join(a), "event: run.finished\n"), 3u);
  EXPECT_NE(Join(a).find("id: 1\n"), std::string::npos);
}

// A frame the ring drops while a stream still writes it stays valid until the
// stream lets go of it.
TEST_F(EventHubTest, AFrameOutlivesTheRingWhileAStreamHoldsIt) {
  auto cursor = Open();
  Publish(1);
  std::vector<PushPart> parts;
  cursor->Pull(parts);
  ASSERT_EQ(parts.size(), 1u);
  std::string text = *parts[0];
  Publish(200);  // well past the ring's 64
  EXPECT_EQ(*parts[0], text);
}

// One pull carries a bounded amount however far behind the stream is, so a slow
// client holds a bounded list; it is woken to come back for the rest, and gets
// every event in order.
TEST_F(EventHubTest, APullIsBoundedAndTheRestFollows) {
  EventBus bus;
  EventHub hub(bus, clock_, 4096);
  auto cursor = hub.Open(Principal::Anonymous(), std::nullopt, {});
  int wakes = 0;
  cursor->Start([&] { ++wakes; });
  for (int i = 0; i < 4000; ++i) {
    Event event;
    event.type = Event::Type::kRunFinished;
    event.run_id = std::string(200, 'x') + std::to_string(i);  // frames of ~450 bytes
    bus.Publish(std::move(event));
  }
  size_t total = 0, pulls = 0, largest = 0;
  std::string last_id;
  for (;;) {
    int wakes_before = wakes;
    std::vector<PushPart> parts;
    cursor->Pull(parts);
    if (parts.empty()) break;
    ++pulls;
    size_t bytes = 0;
    for (const PushPart& part : parts) bytes += part->size();
    largest = std::max(largest, bytes);
    total += parts.size();
    if (total < 4000) {
      EXPECT_GT(wakes, wakes_before) << "more is left: the stream must be woken";
    }
  }
  EXPECT_EQ(total, 4000u);
  EXPECT_GT(pulls, 1u);
  EXPECT_LE(largest, (256u << 10) + 1024);
}

TEST_F(EventHubTest, TypesFilterAndOverflowThenContinue) {
  auto finished_only = Open({"run.finished"});
  auto everything = Open();
  Publish(2, Event::Type::kRunCreated);
  Publish(1);
  std::vector<PushPart> parts;
  finished_only->Pull(parts);
  EXPECT_EQ(parts.size(), 1u);
  EXPECT_EQ(Count(Join(parts), "event: run.finished\n"), 1u);

  // `everything` has not pulled: 3 + 100 events against a ring of 64.
  Publish(100);
  parts.clear();
  everything->Pull(parts);
  ASSERT_FALSE(parts.empty());
  EXPECT_EQ(*parts[0], "event: overflow\ndata: {\"skipped\":39}\n\n");
  EXPECT_EQ(parts.size(), 65u);
}

TEST_F(EventHubTest, LastEventIdResumesWithinTheRing) {
  Publish(10);
  auto resumed = Open({}, uint64_t{7});
  std::vector<PushPart> parts;
  resumed->Pull(parts);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0]->rfind("id: 8\n", 0), 0u);

  auto too_old = Open({}, uint64_t{0});  // event 1 is still kept: resumes from it
  parts.clear();
  too_old->Pull(parts);
  EXPECT_EQ(parts.size(), 10u);
}

}  // namespace
}  // namespace taskmill::api
