#include <taskmill/function.h>
#include <taskmill/run_enums.h>

#include <boost/json.hpp>

namespace taskmill {
namespace json = boost::json;

json::object ToJson(const FunctionInfo& info) {
  auto strings = [](const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
  };
  json::object o;
  o["name"] = info.name;
  o["category"] = info.category();
  o["action"] = info.action();
  o["description"] = info.description;
  o["doc"] = info.doc;
  o["input"] = info.input;
  o["mandatory"] = strings(info.mandatory);
  o["optional"] = strings(info.optional);
  o["output_header"] = strings(info.output_header);
  o["handler"] = info.handler_kind;
  o["queue"] = info.queue.empty() ? std::string("default") : info.queue;
  return o;
}

Status ValidateFunctionName(std::string_view name) {
  auto valid_part = [](std::string_view part) {
    if (part.empty()) return false;
    for (char c : part) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      if (!ok) return false;
    }
    return true;
  };
  auto dot = name.find('.');
  if (dot == std::string_view::npos || !valid_part(name.substr(0, dot)) ||
      !valid_part(name.substr(dot + 1))) {
    return Status::InvalidArgument("function name '" + std::string(name) +
                                   "' must be category.action, each part of [a-z0-9_-]");
  }
  return Status::Ok();
}

void CancellationToken::Cancel(std::string reason) {
  {
    std::lock_guard lock(mu_);
    if (cancelled_.load()) return;
    reason_ = std::move(reason);
    cancelled_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

std::string CancellationToken::Reason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

bool CancellationToken::WaitFor(Duration d) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, d, [this] { return cancelled_.load(); });
}

void RunContext::SetProgress(const Progress& p) {
  std::lock_guard lock(progress_mu_);
  pending_progress_ = p;
  outcome_.progress = p;
}

std::optional<Progress> RunContext::TakeProgressUpdate() {
  std::lock_guard lock(progress_mu_);
  auto p = pending_progress_;
  pending_progress_.reset();
  return p;
}

void RunContext::Log(std::string_view line) {
  outcome_.output.append(line);
  outcome_.output.push_back('\n');
}

namespace {
class CallableHandler final : public Handler {
 public:
  explicit CallableHandler(Callable fn) : fn_(std::move(fn)) {}
  HandlerOutcome Execute(RunContext& ctx) override {
    fn_(ctx);  // exceptions are caught by the runner and recorded as a failed attempt
    return std::move(ctx.outcome());
  }

 private:
  Callable fn_;
};
// The local stand-in of a remote function: a local runner reaches it only when it
// serves the remote workers' queue, which is a configuration mistake worth naming.
class RemoteHandler final : public Handler {
 public:
  explicit RemoteHandler(std::string queue) : queue_(std::move(queue)) {}
  HandlerOutcome Execute(RunContext& ctx) override {
    HandlerOutcome outcome;
    outcome.status = RunStatus::kFailed;
    outcome.error_kind = ToString(ErrorKind::kInternal);
    outcome.error = "function '" + ctx.run().function +
                    "' is executed by remote runners (docs/remote-runners.md), but the local "
                    "runner claimed this run from queue '" +
                    ctx.run().queue + "'; serve queue '" + queue_ +
                    "' with remote runners only (task_runner.queues lists the local queues)";
    return outcome;
  }

 private:
  std::string queue_;
};
}  // namespace

std::shared_ptr<Handler> MakeCallableHandler(Callable fn) {
  return std::make_shared<CallableHandler>(std::move(fn));
}

Status FunctionRegistry::Register(FunctionInfo info, std::shared_ptr<Handler> handler) {
  TASKMILL_RETURN_IF_ERROR(ValidateFunctionName(info.name));
  if (entries_.count(info.name)) {
    return Status::Conflict("function '" + info.name + "' is already registered");
  }
  std::string name = info.name;
  entries_.emplace(std::move(name), Entry{std::move(info), std::move(handler)});
  return Status::Ok();
}

Status FunctionRegistry::Register(std::string name, Callable fn, FunctionInfo info) {
  info.name = std::move(name);
  return Register(std::move(info), MakeCallableHandler(std::move(fn)));
}

Status RegisterRemoteFunction(FunctionRegistry& registry, FunctionInfo info) {
  if (!IsValidQueueName(info.queue)) {
    return Status::InvalidArgument("remote function '" + info.name + "': queue '" + info.queue +
                                   "' must be 1-100 characters of [A-Za-z0-9_.:-]");
  }
  info.handler_kind = "remote";
  auto handler = std::make_shared<RemoteHandler>(info.queue);
  return registry.Register(std::move(info), std::move(handler));
}

const FunctionRegistry::Entry* FunctionRegistry::Find(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<FunctionInfo> FunctionRegistry::List() const {
  std::vector<FunctionInfo> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(entry.info);
  return out;
}

}  // namespace taskmill
