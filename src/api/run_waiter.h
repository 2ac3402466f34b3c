// api/run_waiter.h — long-polls (`GET /api/v1/runs/{id}?wait=SECONDS`) without
// blocking an io thread.
//
// A wait is a small state object with an asio timer on the connection's strand:
//   1. it registers under the run id, then reads the run; a final run answers at once;
//   2. otherwise the timer is armed for min(deadline, now + recheck_interval);
//   3. one EventBus subscription for the whole server looks up waits by run id when
//      an event with a final status arrives and posts a re-read to each wait's strand;
//   4. a timer expiry re-reads the run: final, or past the deadline, answers with the
//      run as it is; otherwise the timer is re-armed.
// The periodic re-read covers changes that publish no event in this process (a
// runner on another node); events make the common case immediate. The same shape
// will serve SSE and the remote runners' `take?wait=` (issue 5).
//
// Threading: Wait() is called on the connection's strand; the completion runs on that
// strand. The EventBus listener only takes `mu_` and posts, so it never blocks the
// publisher; nothing holds `mu_` while calling into the bus. Start/Stop tolerate
// being called twice; Close answers every pending wait (a server shutting down);
// Stop drops every pending wait (the io_context is stopping, so
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

namespace taskmill::api {

class RunWaiter {
 public:
  using Completion = std::function<void(Result<Run>)>;

  RunWaiter(Engine& engine, Duration recheck_interval);
  ~RunWaiter();

  void Start();
  void Stop();
  // The server is shutting down: every pending wait is answered `error` (on its
  // strand), and so is every later Wait() at once. Idempotent.
  void Close(const Status& error);

  // Answers `done` on `strand` once the run is final or `wait` has passed (then
  // with the run as it is), or with the error of reading it (e.g. kNotFound).
  void Wait(boost::asio::any_io_executor strand, std::string id, std::string queue, Duration wait,
            Completion done);

  size_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  struct State;
  void Check(const std::shared_ptr<State>& state);
  void Complete(const std::shared_ptr<State>& state, Result<Run> result);
  void OnEvent(const Event& event);

  Engine& engine_;
  const Duration recheck_interval_;
  std::atomic<size_t> pending_{0};  // waits registered; lets OnEvent skip the lock
  std::mutex mu_;
  std::multimap<std::string, std::shared_ptr<State>> waits_;  // by run id; guarded by mu_
  std::optional<Status> closed_;  // set by Close(); guarded by mu_
  std::mutex subscription_mu_;                                // serializes Start and Stop
  uint64_t subscription_ = 0;  // guarded by subscription_mu_; 0 when not subscribed
};

}  // namespace taskmill::api
