// taskmill/flow.h — flows: a DAG of steps, described apart from running it.
//
// A flow is a name, an entrance step and steps. A step names the function that runs
// it (with its retry limit and timeout), the steps that follow it (`next`) or that it
// waits for (`after`, fan-in), and optionally a child function: the step's function
// adds children (an id and a definition each), and taskmill runs the child function
// over every child, at most `max_concurrency` at once. docs/flows.md is the user's
// guide; the engine that runs flows durably lives in src/flows/.
//
// Describing a flow in C++ (graph building kept apart from execution, as Taskflow's
// tf::Taskflow is apart from tf::Executor; a step is a cheap handle):
//
//   FlowBuilder f("ingest");
//   auto fetch = f.Step("fetch", "web.fetch").Attempts(3).Timeout(std::chrono::seconds(5));
//   auto parse = f.Step("parse", "data.split").Children("data.sum_line", 10);
//   auto store = f.Step("store", "db.write");
//   fetch.Precede(parse);
//   parse.Precede(store);
//   Result<FlowDef> def = f.Build();  // validated: cycles, unknown and unreachable steps
//
// Plain values; thread-safe to copy. FlowRegistry is filled before the engine starts
// and read-only afterwards.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/function.h>
#include <taskmill/model.h>
#include <taskmill/status.h>

#include <boost/json/value.hpp>
#include <cstddef>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill {

// The name of `next:` that ends a branch (the seed's `:all_over`): no step follows.
inline constexpr std::string_view kFlowAllOver = "all_over";

struct FlowStep {
  std::string name;                 // [A-Za-z0-9_-]+, unique in its flow
  std::string function;             // func_name: runs the step once per attempt
  RetryPolicy retry;                // max_attempts (also of each child)
  std::optional<Duration> timeout;  // per attempt, of the step and of each child
  std::vector<std::string> next;    // steps that follow this one
  std::vector<std::string> after;   // steps this one waits for (fan-in)
  std::string child_function;       // child_func; empty: the step adds no children
  int max_concurrency = 0;          // children running at once; 0: no cap
  // A child that failed after its retries fails the step and the flow, and stops the
  // other children (true); or is counted and the flow goes on (false).
  bool exit_on_failed = true;

  friend bool operator==(const FlowStep&, const FlowStep&) = default;
};

// One broken rule of a flow definition.
struct FlowProblem {
  std::string step;  // the step concerned; empty for the flow as a whole
  std::string key;   // the key to fix (entrance, next, after, func_name, ...); may be empty
  std::string message;
};

struct FlowDef {
  std::string name;
  std::string entrance;
  std::vector<FlowStep> steps;    // in definition order
  std::string queue = "default";  // queue of the flow's runs
  // A function run on each lifecycle event of the flow (args: the event); empty: none.
  std::string callback;

  const FlowStep* Find(std::string_view step) const;
  // Steps that must be over before `step` starts: its `after` and every step whose
  // `next` names it, without repeats, in definition order.
  std::vector<std::string> Predecessors(std::string_view step) const;
  // Steps that list `step` as a predecessor, in definition order.
  std::vector<std::string> Successors(std::string_view step) const;
  // Every edge (from, to), in definition order of `from`.
  std::vector<std::pair<std::string, std::string>> Edges() const;

  // The rules: a flow name and step names; an entrance that is a step; a function for
  // every step; `next` and `after` naming steps; no cycle (named as a → b → a); every
  // step reachable from the entrance; max_attempts and max_concurrency in range.
  std::vector<FlowProblem> Problems() const;
  // kInvalidArgument "flow '<name>': <step>.<key>: <message>; ..." when a rule is broken.
  Status Validate() const;

  friend bool operator==(const FlowDef&, const FlowDef&) = default;
};

boost::json::object ToJson(const FlowDef& flow);
// Graphviz DOT of the flow: one node per step, one edge per dependency.
std::string ToDot(const FlowDef& flow);

class FlowBuilder {
 public:
  // A cheap handle on one step of the builder that made it (valid while it lives).
  class StepRef {
   public:
    // `other` runs after this step (this step's next).
    StepRef& Precede(StepRef other);
    // This step runs after `other` (fan-in when called more than once).
    StepRef& Succeed(StepRef other);
    StepRef& Attempts(int max_attempts);
    StepRef& Retry(RetryPolicy retry);
    StepRef& Timeout(Duration timeout);
    // The step's function adds children, run by `child_function`, at most
    // `max_concurrency` at once (0: no cap).
    StepRef& Children(std::string child_function, int max_concurrency = 0);
    StepRef& ExitOnFailed(bool exit);
    const std::string& name() const;

   private:
    friend class FlowBuilder;
    StepRef(FlowBuilder* builder, size_t index) : builder_(builder), index_(index) {}
    FlowStep& step() const;
    FlowBuilder* builder_;
    size_t index_;
  };

  explicit FlowBuilder(std::string name);
  // Adds a step; the first one added is the entrance unless Entrance says otherwise.
  StepRef Step(std::string name, std::string function);
  FlowBuilder& Entrance(StepRef step);
  FlowBuilder& Queue(std::string queue);
  FlowBuilder& Callback(std::string function);
  // The definition, validated (FlowDef::Validate).
  Result<FlowDef> Build() const;

 private:
  FlowDef def_;
};

// Flows by name. Fill before the engine starts; read-only afterwards.
class FlowRegistry {
 public:
  // kInvalidArgument when the flow breaks a rule; kConflict for a duplicate name.
  Status Register(FlowDef flow);
  const FlowDef* Find(std::string_view name) const;
  std::vector<const FlowDef*> List() const;  // by name
  bool empty() const { return flows_.empty(); }

 private:
  std::map<std::string, FlowDef, std::less<>> flows_;
};

// ---- inside a step's function ------------------------------------------------------
//
// A step's run sees, in its args: {"args": the flow's args, "state": the flow's state
// (every addition of the steps over before it)}, and, when it is not a C++ function
// run by a local runner (a command, a remote worker), "children": the results of the
// children of the steps it follows ({step: {child_id: result}}). A child's run sees
// {"child_id": ..., "definition": ..., "state": ...}. What a step returns (its result)
// is {"state": additions, "children": [[child_id, definition], ...]}; these helpers
// build it. A C++ step run by a local runner holds neither all its children nor all
// its predecessors' children's results in memory: AddChild stages the children to
// storage in batches as it goes (the step's finish releases them, a failed attempt
// drops them), and ChildResults pages the results from storage.
namespace flow {
const boost::json::value& Args(const RunContext& ctx);
const boost::json::object& State(const RunContext& ctx);

// One child's result (ChildResults).
struct ChildResult {
  std::string id;             // the child's id, as its step added it
  boost::json::value result;  // what the child returned
};

// The completed children's results of one step, in the order the step added them: an
// input range read page by page (`for (const auto& [id, result] : ...)`). A read
// from storage that fails throws std::runtime_error, which fails the attempt.
class ChildResultRange {
 public:
  // Replaces `page` with the next results; false when none is left.
  using Pager = std::function<bool(std::vector<ChildResult>& page)>;

  class iterator {
   public:
    using value_type = ChildResult;
    using difference_type = std::ptrdiff_t;
    using reference = const ChildResult&;
    using pointer = const ChildResult*;
    using iterator_category = std::input_iterator_tag;

    iterator() = default;
    reference operator*() const { return state_->page[state_->at]; }
    pointer operator->() const { return &state_->page[state_->at]; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    // Iterators compare by whether they are at the end (an input range).
    bool operator==(const iterator& other) const { return done() == other.done(); }

   private:
    friend class ChildResultRange;
    struct State {
      Pager pager;
      std::vector<ChildResult> page;
      size_t at = 0;
      bool done = false;
    };
    explicit iterator(Pager pager);
    bool done() const { return state_ == nullptr || state_->done; }
    std::shared_ptr<State> state_;
  };

  explicit ChildResultRange(Pager pager) : pager_(std::move(pager)) {}
  // Starts reading; call once.
  iterator begin() const { return iterator(pager_); }
  iterator end() const { return iterator(); }

 private:
  Pager pager_;
};

// The results of the completed children of step `step` (a step this one follows).
ChildResultRange ChildResults(const RunContext& ctx, std::string_view step);
// Adds `key: value` to the flow's state, seen by the steps after this one and by the
// step's children (those staged before it, a thousand at a time, do not see it).
void SetState(RunContext& ctx, std::string key, boost::json::value value);
// Adds a child; ids are the function's own (unique in the step; [A-Za-z0-9_.-]).
// Staging a batch to storage may throw std::runtime_error (storage unavailable, the
// attempt stopped), which fails the attempt.
void AddChild(RunContext& ctx, std::string child_id, boost::json::value definition);
// In a child's function: its id and definition.
std::string ChildId(const RunContext& ctx);
const boost::json::value& ChildDefinition(const RunContext& ctx);
}  // namespace flow

}  // namespace taskmill

namespace taskmill {

class Engine;

// What starts a flow (StartFlow; POST /api/v1/flows/{name}/runs).
struct FlowStartRequest {
  std::string flow;                                 // the flow's name
  boost::json::value args = boost::json::object();  // the flow's args, seen by every step
  std::string id;                                   // the root run's id. Default: a new UUIDv7
  std::string account_id;                           // the owner of every run of the flow
  std::string auth_account_id;
};

// Starts a flow of engine.options().flows: stores, in one commit, its root run (status
// running, flow_id its own id, held by no runner: it ends when the flow does) and the
// run of its entrance step. Answers the root. kNotFound for an unknown flow.
Result<Run> StartFlow(Engine& engine, const FlowStartRequest& request);

// The function that starts a flow from a run's args {"flow": NAME, "args": {...}}: a
// periodical task of this function launches a flow at each instant. Registered under
// the name kStartFlowFunction by RegisterFlowFunctions.
inline constexpr std::string_view kStartFlowFunction = "flow.start";
// Registers flow.start, bound to the engine `engine` will point at once opened.
Status RegisterFlowFunctions(FunctionRegistry& registry, std::shared_ptr<Engine*> engine);

}  // namespace taskmill

namespace taskmill {
class EventBus;
struct Event;
// Calls `callback` for every lifecycle event of flows (Event::Type::kFlow: start, over,
// step_start, step_over, step_all_over, step_failed, step_timeout, step_exit), on the
// publisher's thread, after the commit: the seed's callbacks in C++. Answers the
// subscription id (EventBus::Unsubscribe).
uint64_t OnFlowEvent(EventBus& bus, std::function<void(const Event&)> callback);
}  // namespace taskmill
