// Concurrency caps as a user sees them: a task defined with max_concurrency 1, many
// of its runs enqueued on an engine with many slots, and never two of them running at
// once, while runs of another task go on beside them. (Real SQLite file in a temp dir.)
#include <gtest/gtest.h>
#include <taskmill/engine.h>
#include <taskmill/testing/storage_conformance.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace taskmill {
namespace {
using namespace std::chrono_literals;

TEST(EngineCaps, ATaskWithMaxConcurrencyOneNeverRunsTwiceAtOnce) {
  conformance::TempDir dir;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  auto functions = std::make_shared<FunctionRegistry>();
  ASSERT_TRUE(functions
                  ->Register("demo.exclusive",
                             [&](RunContext&) {
                               const int now = running.fetch_add(1) + 1;
                               int seen = most.load();
                               while (now > seen && !most.compare_exchange_weak(seen, now)) {
                               }
                               // Long enough for other slots to try to take a run of it.
                               std::this_thread::sleep_for(20ms);
                               running.fetch_sub(1);
                             })
                  .ok());
  ASSERT_TRUE(functions->Register("demo.free", [](RunContext&) {}).ok());
  EngineOptions options;
  options.scheduler = false;
  options.storage.url = (dir.path() / "caps.db").string() + "?synchronous=normal";
  options.runner_options.capacity = 8;
  auto engine = Engine::Open(options, functions);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  TaskDef task;
  task.name = "one-at-a-time";
  task.function = "demo.exclusive";
  task.max_concurrency = 1;
  ASSERT_TRUE((*engine)->TaskPut(task).ok());
  ASSERT_TRUE((*engine)->Start().ok());

  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    EnqueueRequest capped;
    capped.task = task.name;
    auto run = (*engine)->Enqueue(capped);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    ids.push_back(run->id);
    EnqueueRequest free;
    free.function = "demo.free";
    auto other = (*engine)->Enqueue(free);
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    ids.push_back(other->id);
  }
  for (const std::string& id : ids) {
    auto done = (*engine)->WaitFinished(id, "", 30s);
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    EXPECT_EQ(done->status, RunStatus::kCompleted) << id;
  }
  EXPECT_EQ(most.load(), 1) << "runs of a task capped at 1 ran side by side";
}

}  // namespace
}  // namespace taskmill
