// step_store.h — where a flow's step puts its children and reads its predecessors'
// children's results when it runs as a C++ function on a local runner: storage, a
// batch or a page at a time, so that a step of a million children holds neither all
// of them nor all of their results in memory (taskmill/flow.h, "inside a step's
// function"; docs/flows.md, "How a flow runs").
//
//   - flow::AddChild appends a child to the step's result, as always; once kStageBatch
//     of them are there, the store turns them into child runs and stages them
//     (Storage::RunStage, fenced by the step's attempt), and the result keeps only
//     their count ("children_staged"). What is left in the result at the end is stored
//     by the finish as before (flows/advance.h). A batch is written on a thread of
//     its own while the function adds the next: the step waits only for the storage,
//     not for the storage and then its own building in turn.
//   - The finish of the step releases the staged children, from its own commit on,
//     when the step completed, and drops them otherwise (SetStagedFate).
//   - flow::ChildResults pages the predecessor's children in the order stored
//     (Storage::RunListChildOutcomes) instead of reading them from the step's args.
//
// Other steps (commands, remote workers, a storage without staging) carry their
// children in their result and read the results in their args.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/flow.h>
#include <taskmill/function.h>
#include <taskmill/storage.h>

#include <memory>
#include <string_view>

namespace taskmill::flow {

// A step's view of storage while it runs (RunContext::flow_store). Used by the
// handler's thread only.
class StepStore {
 public:
  virtual ~StepStore() = default;
  // flow::AddChild appended a child to the result's "children". Throws when the
  // children staged before could not be.
  virtual void Added(RunContext& ctx) = 0;
  // Waits until what Added staged is stored: called once the step's function has
  // returned, before its finish (which releases them) is decided.
  virtual Status Flush() = 0;
  // The completed children of step `step` of the flow, paged from storage.
  virtual ChildResultRange ChildResults(const RunContext& ctx, std::string_view step) = 0;
};

}  // namespace taskmill::flow

namespace taskmill::flows {

// Children staged per commit, and child results read per page.
inline constexpr size_t kStageBatch = 1000;

// What a local runner executes a run with.
struct StepInput {
  Run run;                                 // the run with its input (flows/input.h)
  std::unique_ptr<flow::StepStore> store;  // a store for a C++ step; null otherwise
};

// The input of `run` (WithStepInput) and, for a step of a flow whose function is a
// C++ one (handler_kind "cpp") on a storage that stages runs, its store; such a
// step's args then carry no "children": it pages them. Other runs as they are.
StepInput PrepareStep(Storage& storage, const FlowRegistry& flows,
                      const FunctionRegistry& functions, const Clock& clock, const Run& run);

// Sets f.staged, the fate of the children staged by the attempt of the step `run`
// that `f` ends: released when the step completed and staged some (its result's
// "children_staged"), dropped when the attempt failed (a retry stages them again).
void SetStagedFate(const Run& run, RunFinish& f);

}  // namespace taskmill::flows
