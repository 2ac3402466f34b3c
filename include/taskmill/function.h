// taskmill/function.h — functions: the code a run executes, and what it sees.
//
// A function is registered under `category.action` with metadata (FunctionInfo) and a
// Handler. Handlers are C++ callables (this header), external commands
// (src/runner/command_handler.h), co-processes (taskmill/bulk.h) and remote functions
// (RegisterRemoteFunction below: executed by workers that call the HTTP API).
// FunctionRegistry is filled before the engine starts and read-only afterwards, so
// lookups need no lock. A RunContext belongs to one attempt and is used by the
// handler's thread only, except CancellationToken, which is thread-safe.
#pragma once

#include <taskmill/model.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace taskmill {

namespace flow {
class StepStore;  // src/flows/step_store.h
}  // namespace flow

// Discovery metadata (Kazoo's help object).
struct FunctionInfo {
  std::string name;                    // category.action
  std::string description;             // one line
  std::string doc;                     // longer text
  std::string input = "json";          // "none", "csv" or "json"
  std::vector<std::string> mandatory;  // CSV columns
  std::vector<std::string> optional;
  std::vector<std::string> output_header;  // extra output columns
  std::string handler_kind = "cpp";        // cpp | command | coprocess | bulk | remote
  // Queue of the function's anonymous runs when the request names none. Default:
  // empty, meaning "default". Remote functions set it to the queue their workers take.
  std::string queue;

  std::string category() const { return name.substr(0, name.find('.')); }
  std::string action() const {
    auto dot = name.find('.');
    return dot == std::string::npos ? std::string() : name.substr(dot + 1);
  }
};
boost::json::object ToJson(const FunctionInfo& info);
// A valid name is `category.action`, each part [a-z0-9_-]+ (lower case).
Status ValidateFunctionName(std::string_view name);

// Set once by whoever stops an attempt (cancel, timeout, lease lost, shutdown).
class CancellationToken {
 public:
  void Cancel(std::string reason);
  bool IsCancelled() const { return cancelled_.load(std::memory_order_acquire); }
  std::string Reason() const;
  // Sleeps up to `d` of real time; returns early (true) when cancelled.
  bool WaitFor(Duration d) const;

 private:
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string reason_;  // guarded by mu_
};

// What an attempt produced. Handlers fill it; the runner turns it into a finish.
struct HandlerOutcome {
  RunStatus status = RunStatus::kCompleted;  // completed, partial or failed
  boost::json::value result = nullptr;
  std::string error;
  std::string error_kind;  // "user" when empty and status is failed
  std::string output;      // captured output (commands), capped
  std::optional<Progress> progress;
};

class RunContext {
 public:
  RunContext(const Run& run, std::shared_ptr<CancellationToken> token)
      : run_(run), token_(std::move(token)) {}

  const Run& run() const { return run_; }
  const boost::json::value& args() const { return run_.args; }
  const boost::json::value& data() const { return run_.data; }
  const std::string& account_id() const { return run_.account_id; }
  const std::string& auth_account_id() const { return run_.auth_account_id; }
  int attempt() const { return run_.attempt; }

  bool cancelled() const { return token_->IsCancelled(); }
  const CancellationToken& cancellation() const { return *token_; }
  // Sleeps `d` unless cancelled first; returns false when cancelled.
  bool SleepFor(Duration d) const { return !token_->WaitFor(d); }

  // The run's result (any JSON). Default: null.
  void SetResult(boost::json::value v) { outcome_.result = std::move(v); }
  // Row counters, stored by the runner.
  void SetProgress(const Progress& p);
  std::optional<Progress> TakeProgressUpdate();
  // Appends a line to the attempt's captured output.
  void Log(std::string_view line);

  HandlerOutcome& outcome() { return outcome_; }

  // Set by a local runner for a step of a flow, on a storage that stages runs: where
  // flow::AddChild stages the step's children and flow::ChildResults pages its
  // predecessors' (taskmill/flow.h). Null otherwise: both work on the result and args.
  flow::StepStore* flow_store() const { return flow_store_; }
  void set_flow_store(flow::StepStore* store) { flow_store_ = store; }

 private:
  const Run& run_;
  flow::StepStore* flow_store_ = nullptr;
  std::shared_ptr<CancellationToken> token_;
  HandlerOutcome outcome_;
  std::mutex progress_mu_;
  std::optional<Progress> pending_progress_;  // guarded by progress_mu_
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Runs one attempt. May throw: the runner records the exception's message as a
  // failed attempt. Must return soon after ctx.cancelled() becomes true.
  virtual HandlerOutcome Execute(RunContext& ctx) = 0;
};

// A C++ callable. Return normally for success (result via ctx.SetResult), throw for
// failure.
using Callable = std::function<void(RunContext&)>;
std::shared_ptr<Handler> MakeCallableHandler(Callable fn);

class FunctionRegistry;

// Declares a function that workers in other processes execute: they claim its runs
// over HTTP (`POST /api/v1/runners/{runner}/take?queue=...`, docs/remote-runners.md).
// `info.queue` is required: the function's runs go there by default, and no local
// runner should serve that queue (RunnerOptions::queues). Should a local runner claim
// such a run anyway, the attempt fails with an error saying so. Sets
// info.handler_kind to "remote". kInvalidArgument for a bad name or queue, kConflict
// for a duplicate.
Status RegisterRemoteFunction(FunctionRegistry& registry, FunctionInfo info);

class FunctionRegistry {
 public:
  struct Entry {
    FunctionInfo info;
    std::shared_ptr<Handler> handler;
  };

  // Fails with kInvalidArgument for a bad name and kConflict for a duplicate.
  Status Register(FunctionInfo info, std::shared_ptr<Handler> handler);
  Status Register(std::string name, Callable fn, FunctionInfo info = {});
  // nullptr when unknown.
  const Entry* Find(std::string_view name) const;
  std::vector<FunctionInfo> List() const;  // sorted by name

 private:
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace taskmill
