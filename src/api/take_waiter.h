// api/take_waiter.h — the long-poll of remote runners' takes
// (`POST /api/v1/runners/{runner}/take?queue=Q&wait=SECONDS`) without blocking an io
// thread. The same shape as RunWaiter (run_waiter.h):
//   1. a take registers under its queue, then tries to claim; runs claimed (or an
//      error) answer at once;
//   2. otherwise the timer is armed for min(deadline, now + recheck_interval);
//   3. one EventBus subscription for the whole server looks up takes by queue when a
//      run.created event arrives (a new run, a retry, a swept lease) and posts a new
//      try to each take's strand;
//   4. a timer expiry tries again: runs claimed, or past the deadline, answers (with
//      no runs); otherwise the timer is re-armed.
// The periodic try covers what publishes no event in this process: runs created on
// another node, a retry's delay running out, a queue resumed elsewhere.
//
// What "try" means is the caller's: the route claims with Storage::RunTake, exactly as
// the local runner does. A try runs on the take's strand (a storage write of one group
// commit, which handlers may do).
//
// Threading: Wait() is called on the connection's strand; tries and the completion run
// on that strand. The EventBus listener only takes `mu_` and posts. Start/Stop tolerate
// being called twice; Close answers every pending take (a server shutting down);
// Stop drops every pending take (the io_context is stopping, so
// their connections close).
#pragma once

#include <taskmill/engine.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace taskmill::api {

class TakeWaiter {
 public:
  // Claims what is ready; an empty vector when nothing is.
  using Try = std::function<Result<std::vector<Run>>()>;
  using Completion = std::function<void(Result<std::vector<Run>>)>;

  TakeWaiter(EventBus& events, Duration recheck_interval);
  ~TakeWaiter();

  void Start();
  void Stop();
  // The server is shutting down: every pending wait is answered `error` (on its
  // strand), and so is every later Wait() at once. Idempotent.
  void Close(const Status& error);

  // Answers `done` on `strand` with the first non-empty (or failed) result of `attempt`,
  // or with no runs once `wait` has passed.
  void Wait(boost::asio::any_io_executor strand, std::string queue, Duration wait, Try attempt,
            Completion done);

  size_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  struct State;
  void Check(const std::shared_ptr<State>& state);
  void Complete(const std::shared_ptr<State>& state, Result<std::vector<Run>> result);
  void OnEvent(const Event& event);

  EventBus& events_;
  const Duration recheck_interval_;
  std::atomic<size_t> pending_{0};  // takes registered; lets OnEvent skip the lock
  std::mutex mu_;
  std::multimap<std::string, std::shared_ptr<State>> waits_;  // by queue; guarded by mu_
  std::optional<Status> closed_;  // set by Close(); guarded by mu_
  std::mutex subscription_mu_;                                // serializes Start and Stop
  uint64_t subscription_ = 0;  // guarded by subscription_mu_; 0 when not subscribed
};

}  // namespace taskmill::api
