// Embedding taskmill in a C++ service: register functions, open an engine on an
// SQLite file, enqueue runs and wait for their results through futures.
//
//   cmake -S examples/embed -B build-embed -DCMAKE_PREFIX_PATH=<taskmill install prefix>
//   cmake --build build-embed && ./build-embed/embed_example
#include <taskmill/engine.h>

#include <boost/json.hpp>
#include <filesystem>
#include <iostream>

int main() {
  namespace json = boost::json;
  auto functions = std::make_shared<taskmill::FunctionRegistry>();

  // A function's result is whatever it passes to SetResult; throwing fails the attempt.
  (void)functions->Register("math.sum", [](taskmill::RunContext& ctx) {
    int64_t total = 0;
    for (const auto& v : ctx.args().as_array()) total += v.to_number<int64_t>();
    ctx.SetResult(total);
  });
  (void)functions->Register("text.shout", [](taskmill::RunContext& ctx) {
    std::string s(ctx.args().as_array().at(0).as_string());
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ctx.SetResult(json::value(s + "!"));
  });

  auto dir = std::filesystem::temp_directory_path() / "taskmill-embed-example";
  taskmill::EngineOptions options;
  options.storage.url = (dir / "embed.db").string();
  options.runner_options.capacity = 4;
  auto engine = taskmill::Engine::Open(options, functions);
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
  taskmill::EnqueueRequest shout;
  shout.function = "text.shout";
  shout.args = json::array{"hello"};
  auto runs = (*engine)->EnqueueBatch({sum, shout});  // one commit for both
  if (!runs.ok()) {
    std::cerr << runs.status().ToString() << "\n";
    return 1;
  }

  int exit_code = 0;
  for (const auto& run : *runs) {
    auto done = (*engine)->Finished(run.id).get();  // a std::future<Result<Run>>
    if (!done.ok() || done->status != taskmill::RunStatus::kCompleted) exit_code = 1;
    std::cout << run.function << " -> " << taskmill::ToString(done->status) << " "
              << json::serialize(done->result) << "\n";
  }
  (*engine)->Stop();
  std::filesystem::remove_all(dir);
  return exit_code;
}
