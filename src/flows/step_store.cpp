// A step's children staged, and its predecessors' children's results paged (step_store.h).
#include "flows/step_store.h"

#include <boost/json.hpp>
#include <future>
#include <stdexcept>

#include "flows/advance.h"
#include "flows/input.h"

namespace taskmill::flows {
namespace json = boost::json;
namespace {

int64_t StagedCount(const json::value& result) {
  const json::value& n = JsonField(result, "children_staged");
  return n.is_int64() ? n.as_int64() : n.is_uint64() ? static_cast<int64_t>(n.as_uint64()) : 0;
}

class StorageStepStore final : public flow::StepStore {
 public:
  StorageStepStore(Storage& storage, const FlowDef& flow, const FlowStep& step, const Clock& clock)
      : storage_(storage), flow_(flow), step_(step), clock_(clock) {}

  void Added(RunContext& ctx) override {
    // A step with no child function runs no children: they stay in its result.
    if (step_.child_function.empty()) return;
    json::object& result = ctx.outcome().result.as_object();
    json::array& children = result["children"].as_array();
    if (children.size() < kStageBatch) return;
    const TimePoint now = clock_.Now();
    std::vector<Run> runs;
    runs.reserve(children.size());
    for (const json::value& child : children) {
      const json::array* pair = child.if_array();
      if (pair == nullptr || pair->empty()) continue;
      const json::value definition = pair->size() > 1 ? (*pair)[1] : json::value(nullptr);
      runs.push_back(
          ChildRun(flow_, step_, ctx.run(), ctx.outcome().result, (*pair)[0], definition, now));
    }
    // The last batch is written while this one was built; one at a time, in order.
    if (Status st = Flush(); !st.ok()) throw std::runtime_error(st.message());
    const Run& step_run = ctx.run();
    staging_ = std::async(std::launch::async,
                          [this, queue = step_run.queue, id = step_run.id,
                           attempt = step_run.attempt, runs = std::move(runs)]() mutable {
                            Status staged = storage_.RunStage(queue, id, attempt, runs);
                            std::vector<Run>().swap(runs);  // freed here, not on the step's thread
                            return staged;
                          });
    const int64_t staged =
        StagedCount(ctx.outcome().result) + static_cast<int64_t>(children.size());
    children.clear();
    result["children_staged"] = staged;
  }

  Status Flush() override {
    if (!staging_.valid()) return Status::Ok();
    Status st = staging_.get();
    if (st.ok()) return st;
    return Status(st.code(), "cannot stage the step's children: " + st.ToString());
  }

  ~StorageStepStore() override {
    if (staging_.valid()) staging_.wait();
  }

  flow::ChildResultRange ChildResults(const RunContext& ctx, std::string_view step) override {
    Storage* storage = &storage_;
    std::string parent = StepRunId(ctx.run().flow_id, step);
    return flow::ChildResultRange([storage, parent = std::move(parent), cursor = std::string(),
                                   done = false](std::vector<flow::ChildResult>& page) mutable {
      page.clear();
      while (page.empty() && !done) {
        auto got = storage->RunListChildOutcomes(parent, cursor, static_cast<int>(kStageBatch));
        if (!got.ok()) {
          throw std::runtime_error("cannot read the children of " + parent + ": " +
                                   got.status().ToString());
        }
        for (ChildOutcome& kid : got->children) {
          if (kid.status != RunStatus::kCompleted) continue;
          page.push_back({std::move(kid.child_key), std::move(kid.result)});
        }
        cursor = std::move(got->next_cursor);
        done = cursor.empty();
      }
      return !page.empty();
    });
  }

 private:
  Storage& storage_;
  const FlowDef& flow_;
  const FlowStep& step_;
  const Clock& clock_;
  std::future<Status> staging_;
};

}  // namespace

StepInput PrepareStep(Storage& storage, const FlowRegistry& flows,
                      const FunctionRegistry& functions, const Clock& clock, const Run& run) {
  StepInput out;
  std::optional<Role> role = RoleOf(run);
  const FlowDef* flow = role && !role->root && !role->child ? flows.Find(role->flow) : nullptr;
  const FlowStep* step = flow ? flow->Find(role->step) : nullptr;
  const FunctionRegistry::Entry* entry = functions.Find(run.function);
  if (step != nullptr && entry != nullptr && entry->info.handler_kind == "cpp" &&
      storage.Capabilities().staged_runs) {
    out.store = std::make_unique<StorageStepStore>(storage, *flow, *step, clock);
  }
  out.run = WithStepInput(storage, run, /*children_in_args=*/out.store == nullptr);
  return out;
}

void SetStagedFate(const Run& run, RunFinish& f) {
  std::optional<Role> role = RoleOf(run);
  if (!role || role->root || role->child) return;
  const bool ok = f.status == RunStatus::kCompleted || f.status == RunStatus::kPartial;
  if (!ok) {
    f.staged = StagedRuns::kDrop;
  } else if (StagedCount(f.result) > 0) {
    f.staged = StagedRuns::kRelease;
  }
}

}  // namespace taskmill::flows
