// Engine::Open on a storage the application built: the engine runs its runs there,
// the application reads the same storage through its own handle, and the storage
// outlives the engine. (Real SQLite file in a temp dir; the in-memory backend of
// examples/custom-storage/ has its own test.)
#include <gtest/gtest.h>
#include <taskmill/engine.h>
#include <taskmill/testing/storage_conformance.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>

namespace taskmill {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

TEST(EngineOnAGivenStorage, RunsItsRunsInThatStorageWhichOutlivesTheEngine) {
  conformance::TempDir dir;
  StorageOptions storage_options;
  storage_options.url = (dir.path() / "app.db").string();
  auto opened = OpenStorage(storage_options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::shared_ptr<Storage> storage = std::move(*opened);

  auto functions = std::make_shared<FunctionRegistry>();
  ASSERT_TRUE(functions->Register("demo.echo", [](RunContext& c) { c.SetResult(c.args()); }).ok());
  EngineOptions options;
  options.scheduler = false;
  options.storage.url = "unused://the storage given is used instead";
  auto engine = Engine::Open(options, storage, functions);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ(&(*engine)->storage(), storage.get());
  ASSERT_TRUE((*engine)->Start().ok());

  EnqueueRequest request;
  request.function = "demo.echo";
  request.args = json::array{"through", "my", "storage"};
  auto run = (*engine)->Enqueue(request);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  auto done = (*engine)->WaitFinished(run->id, "", 30s);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->status, RunStatus::kCompleted);

  engine->reset();  // stops and destroys the engine; the application's handle remains

  auto stored = storage->RunGet(run->id);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->status, RunStatus::kCompleted);
  EXPECT_EQ(json::serialize(stored->result), R"(["through","my","storage"])");
}

TEST(EngineOnAGivenStorage, ANullStorageIsRefusedWithAClearError) {
  auto engine = Engine::Open(EngineOptions{}, std::shared_ptr<Storage>(), nullptr);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("storage"), std::string::npos)
      << engine.status().ToString();
}

}  // namespace
}  // namespace taskmill
