// The TaskFlow seed's example as a taskmill flow: step flow1 splits "1,2,3\n4,5,6\n7,8,9"
// into one child per line, each child sums its line, and step flow2 collects the sums.
// Durable: every step and child is a stored run in the SQLite file given (default: a
// file in the working directory). Prints the sums and exits 0 when the flow completed.
//
//   taskmill_flows_example [DATABASE]
#include <taskmill/engine.h>
#include <taskmill/flow.h>

#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <sstream>
#include <string>

namespace json = boost::json;
using namespace taskmill;

int main(int argc, char** argv) {
  const std::string database = argc > 1 ? argv[1] : "flows-example.db";
  auto functions = std::make_shared<FunctionRegistry>();
  // flow1/1: the step adds its children {line number, line}.
  (void)functions->Register("flow1.split", [](RunContext& ctx) {
    std::stringstream text("1,2,3\n4,5,6\n7,8,9");
    std::string line;
    for (int k = 0; std::getline(text, line); ++k) flow::AddChild(ctx, std::to_string(k), json::value(line));
  });
  // flow1/2: one child sums its line.
  (void)functions->Register("flow1.sum_line", [](RunContext& ctx) {
    std::stringstream line(std::string(flow::ChildDefinition(ctx).as_string()));
    std::string cell;
    int64_t sum = 0;
    while (std::getline(line, cell, ',')) sum += std::stoll(cell);
    ctx.SetResult(sum);
  });
  // flow2/1: the next step collects the sums into the flow's state.
  (void)functions->Register("flow2.collect", [](RunContext& ctx) {
    json::object sums;
    for (const auto& [id, sum] : flow::ChildResults(ctx, "flow1")) sums[id] = sum;
    flow::SetState(ctx, "sums", sums);
  });

  FlowBuilder f("example");
  auto flow1 = f.Step("flow1", "flow1.split")
                   .Children("flow1.sum_line", /*max_concurrency=*/10)
                   .Attempts(4)  // task_retry_limit: 3
                   .Timeout(std::chrono::seconds(5));
  auto flow2 = f.Step("flow2", "flow2.collect").Attempts(4).Timeout(std::chrono::seconds(5));
  flow1.Precede(flow2);
  auto flows = std::make_shared<FlowRegistry>();
  if (Status s = flows->Register(*f.Build()); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }

  EngineOptions options;
  options.storage.url = database;
  options.flows = flows;
  auto engine = Engine::Open(options, functions);
  if (!engine.ok() || !(*engine)->Start().ok()) {
    std::cerr << "cannot open " << database << "\n";
    return 1;
  }
  auto root = StartFlow(**engine, {.flow = "example"});
  if (!root.ok()) {
    std::cerr << root.status().ToString() << "\n";
    return 1;
  }
  auto done = (*engine)->WaitFinished(root->id, root->queue, std::chrono::seconds(30));
  if (!done.ok() || done->status != RunStatus::kCompleted) {
    std::cerr << "the flow did not complete: " << (done.ok() ? done->error : "") << "\n";
    return 1;
  }
  auto collect = (*engine)->storage().RunGet(root->id + ":flow2");
  if (!collect.ok()) return 1;
  const json::value& sums = collect->result.at("state").at("sums");
  std::cout << "all_over: " << json::serialize(sums) << "\n";
  return sums == json::value(json::object{{"0", 6}, {"1", 15}, {"2", 24}}) ? 0 : 1;
}
