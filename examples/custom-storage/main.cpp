// An engine on a storage the application built: the example in-memory backend (NOT
// FOR PRODUCTION: everything is lost when the process ends; see memory_storage.h).
#include <taskmill/engine.h>

#include <boost/json.hpp>
#include <iostream>

#include "memory_storage.h"

int main() {
  namespace json = boost::json;
  auto functions = std::make_shared<taskmill::FunctionRegistry>();
  (void)functions->Register("math.sum", [](taskmill::RunContext& ctx) {
    int64_t total = 0;
    for (const auto& v : ctx.args().as_array()) total += v.to_number<int64_t>();
    ctx.SetResult(total);
  });

  std::shared_ptr<taskmill::Storage> storage =
      taskmill::example::OpenMemoryStorage(taskmill::example::NewMemoryDatabase());
  taskmill::EngineOptions options;  // options.storage is not read: the storage is given
  auto engine = taskmill::Engine::Open(options, storage, functions);
  if (!engine.ok()) {
    std::cerr << engine.status().ToString() << "\n";
    return 1;
  }
  if (auto s = (*engine)->Start(); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }

  taskmill::EnqueueRequest sum;
  sum.function = "math.sum";
  sum.args = json::array{1, 2, 3, 4};
  auto run = (*engine)->Enqueue(sum);
  if (!run.ok()) {
    std::cerr << run.status().ToString() << "\n";
    return 1;
  }
  auto done = (*engine)->Finished(run->id).get();
  if (!done.ok()) {
    std::cerr << done.status().ToString() << "\n";
    return 1;
  }
  std::cout << run->function << " -> " << taskmill::ToString(done->status) << " "
            << json::serialize(done->result) << "\n";
  return done->status == taskmill::RunStatus::kCompleted ? 0 : 1;
}
