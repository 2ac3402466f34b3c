// FlowBuilder: describing a flow in C++, and the helpers a step's function uses to read
// the flow's state and to return additions and children (the shapes are docs/flows.md's).
#include <taskmill/flow.h>

#include <boost/json.hpp>

#include "flows/step_store.h"

namespace taskmill {

FlowStep& FlowBuilder::StepRef::step() const { return builder_->def_.steps[index_]; }
const std::string& FlowBuilder::StepRef::name() const { return step().name; }

FlowBuilder::StepRef& FlowBuilder::StepRef::Precede(StepRef other) {
  step().next.push_back(other.name());
  return *this;
}
FlowBuilder::StepRef& FlowBuilder::StepRef::Succeed(StepRef other) {
  step().after.push_back(other.name());
  return *this;
}
FlowBuilder::StepRef& FlowBuilder::StepRef::Attempts(int max_attempts) {
  step().retry.max_attempts = max_attempts;
  return *this;
}
FlowBuilder::StepRef& FlowBuilder::StepRef::Retry(RetryPolicy retry) {
  step().retry = retry;
  return *this;
}
FlowBuilder::StepRef& FlowBuilder::StepRef::Timeout(Duration timeout) {
  step().timeout = timeout;
  return *this;
}
FlowBuilder::StepRef& FlowBuilder::StepRef::Children(std::string child_function,
                                                     int max_concurrency) {
  step().child_function = std::move(child_function);
  step().max_concurrency = max_concurrency;
  return *this;
}
FlowBuilder::StepRef& FlowBuilder::StepRef::ExitOnFailed(bool exit) {
  step().exit_on_failed = exit;
  return *this;
}

FlowBuilder::FlowBuilder(std::string name) { def_.name = std::move(name); }

FlowBuilder::StepRef FlowBuilder::Step(std::string name, std::string function) {
  if (def_.steps.empty() && def_.entrance.empty()) def_.entrance = name;
  FlowStep step;
  step.name = std::move(name);
  step.function = std::move(function);
  def_.steps.push_back(std::move(step));
  return StepRef(this, def_.steps.size() - 1);
}

FlowBuilder& FlowBuilder::Entrance(StepRef step) {
  def_.entrance = step.name();
  return *this;
}
FlowBuilder& FlowBuilder::Queue(std::string queue) {
  def_.queue = std::move(queue);
  return *this;
}
FlowBuilder& FlowBuilder::Callback(std::string function) {
  def_.callback = std::move(function);
  return *this;
}

Result<FlowDef> FlowBuilder::Build() const {
  TASKMILL_RETURN_IF_ERROR(def_.Validate());
  return def_;
}

namespace flow {
namespace {

const boost::json::object& EmptyObject() {
  static const boost::json::object empty;
  return empty;
}
const boost::json::value& Null() {
  static const boost::json::value null;
  return null;
}
const boost::json::value* Field(const RunContext& ctx, std::string_view key) {
  const auto* args = ctx.args().if_object();
  return args == nullptr ? nullptr : args->if_contains(key);
}
boost::json::object& ResultObject(RunContext& ctx) {
  boost::json::value& result = ctx.outcome().result;
  if (!result.is_object()) result = boost::json::object();
  return result.as_object();
}

}  // namespace

const boost::json::value& Args(const RunContext& ctx) {
  const boost::json::value* v = Field(ctx, "args");
  return v == nullptr ? Null() : *v;
}
const boost::json::object& State(const RunContext& ctx) {
  const boost::json::value* v = Field(ctx, "state");
  return v != nullptr && v->is_object() ? v->as_object() : EmptyObject();
}
ChildResultRange::iterator::iterator(Pager pager) : state_(std::make_shared<State>()) {
  state_->pager = std::move(pager);
  state_->done = !state_->pager(state_->page);
}

ChildResultRange::iterator& ChildResultRange::iterator::operator++() {
  if (++state_->at < state_->page.size()) return *this;
  state_->at = 0;
  state_->done = !state_->pager(state_->page) || state_->page.empty();
  return *this;
}

ChildResultRange ChildResults(const RunContext& ctx, std::string_view step) {
  if (StepStore* store = ctx.flow_store()) return store->ChildResults(ctx, step);
  // The results in the step's args (a step run without a store): one page.
  const boost::json::value* v = Field(ctx, "children");
  const boost::json::value* of =
      v != nullptr && v->is_object() ? v->as_object().if_contains(step) : nullptr;
  const boost::json::object* results = of != nullptr ? of->if_object() : nullptr;
  return ChildResultRange([results, read = false](std::vector<ChildResult>& page) mutable {
    page.clear();
    if (read || results == nullptr) return false;
    read = true;
    for (const auto& [id, result] : *results) page.push_back({std::string(id), result});
    return !page.empty();
  });
}
void SetState(RunContext& ctx, std::string key, boost::json::value value) {
  boost::json::object& result = ResultObject(ctx);
  if (!result["state"].is_object()) result["state"] = boost::json::object();
  result["state"].as_object()[key] = std::move(value);
}
void AddChild(RunContext& ctx, std::string child_id, boost::json::value definition) {
  boost::json::object& result = ResultObject(ctx);
  if (!result["children"].is_array()) result["children"] = boost::json::array();
  result["children"].as_array().push_back(
      boost::json::array{boost::json::value(child_id), std::move(definition)});
  if (StepStore* store = ctx.flow_store()) store->Added(ctx);
}
std::string ChildId(const RunContext& ctx) {
  const boost::json::value* v = Field(ctx, "child_id");
  if (v == nullptr) return "";
  return v->is_string() ? std::string(v->as_string()) : boost::json::serialize(*v);
}
const boost::json::value& ChildDefinition(const RunContext& ctx) {
  const boost::json::value* v = Field(ctx, "definition");
  return v == nullptr ? Null() : *v;
}

}  // namespace flow
}  // namespace taskmill
