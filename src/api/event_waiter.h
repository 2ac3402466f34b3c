// api/event_waiter.h — the long-poll shape shared by the run waiter (run_waiter.h)
// and the take waiter (take_waiter.h), without blocking an io thread.
//
// A wait is a small state object with an asio timer on the connection's strand:
//   1. it registers under its key (a run id, a queue), then tries; a ready result
//      (or an error) answers at once;
//   2. otherwise the timer is armed for min(deadline, now + recheck_interval);
//   3. one EventBus subscription for the whole server looks up waits by the key an
//      event concerns (Policy::Key) and posts a new try to each wait's strand;
//   4. a timer expiry tries again: ready, or past the deadline, answers with the last
//      result; otherwise the timer is re-armed.
// The periodic try covers changes that publish no event in this process (another
// node's); events make the common case immediate.
//
// Policy names what differs:
//   using Value = ...;                                 // what a try answers
//   static const std::string* Key(const Event&);       // key woken; nullptr: none
//   static bool Ready(const Result<Value>&);           // answers before the deadline
//
// Threading: Wait() is called on the connection's strand; tries and the completion run
// on that strand. The EventBus listener only takes `mu_` and posts, so it never blocks
// the publisher; nothing holds `mu_` while calling into the bus. Start/Stop tolerate
// being called twice; Close answers every pending wait (a server shutting down); Stop
// drops every pending wait (the io_context is stopping, so their connections close).
#pragma once

#include <taskmill/clock.h>
#include <taskmill/events.h>
#include <taskmill/status.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace taskmill::api {

template <typename Policy>
class EventWaiter {
 public:
  using Value = typename Policy::Value;
  // Reads or claims what the wait is for.
  using Try = std::function<Result<Value>()>;
  using Completion = std::function<void(Result<Value>)>;

  EventWaiter(EventBus& events, Duration recheck_interval)
      : events_(events), recheck_interval_(recheck_interval) {}
  ~EventWaiter() { Stop(); }
  EventWaiter(const EventWaiter&) = delete;
  EventWaiter& operator=(const EventWaiter&) = delete;

  void Start() {
    // subscription_mu_ is never taken by OnEvent, so holding it while the bus takes
    // its own lock cannot invert the bus-lock → mu_ order of OnEvent.
    std::lock_guard lock(subscription_mu_);
    if (subscription_ != 0) return;
    subscription_ = events_.Subscribe([this](const Event& event) { OnEvent(event); });
  }

  void Stop() {
    {
      std::lock_guard lock(subscription_mu_);
      if (subscription_ != 0) events_.Unsubscribe(subscription_);
      subscription_ = 0;
    }
    std::multimap<std::string, std::shared_ptr<State>> dropped;
    {
      std::lock_guard lock(mu_);
      dropped.swap(waits_);
      pending_.store(0, std::memory_order_relaxed);
    }
  }

  // The server is shutting down: every pending wait is answered `error` (on its
  // strand), and so is every later Wait() at once. Idempotent.
  void Close(const Status& error) {
    std::vector<std::shared_ptr<State>> open;
    {
      std::lock_guard lock(mu_);
      if (!closed_) closed_ = error;
      for (auto& entry : waits_) open.push_back(entry.second);
    }
    for (auto& state : open) {
      boost::asio::post(state->timer.get_executor(), [this, state, error] {
        if (!state->finished) Complete(state, error);
      });
    }
  }

  // Answers `done` on `strand` with the first ready (or failed) result of `attempt`,
  // or with the last result once `wait` has passed.
  void Wait(boost::asio::any_io_executor strand, std::string key, Duration wait, Try attempt,
            Completion done) {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait);
    auto state = std::make_shared<State>(std::move(strand), std::move(key), deadline,
                                         std::move(attempt), std::move(done));
    std::optional<Status> closed;  // the server is shutting down
    {
      // Registered before the first try, so a change between the try and the
      // registration cannot be missed.
      std::lock_guard lock(mu_);
      if (closed_) {
        closed = *closed_;
      } else {
        waits_.emplace(state->key, state);
        pending_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (closed) {
      state->finished = true;
      Completion done_now = std::move(state->done);
      done_now(std::move(*closed));
      return;
    }
    Check(state);
  }

  size_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  struct State {
    State(boost::asio::any_io_executor strand, std::string wait_key,
          std::chrono::steady_clock::time_point wait_deadline, Try try_once, Completion completion)
        : timer(strand),
          key(std::move(wait_key)),
          deadline(wait_deadline),
          attempt(std::move(try_once)),
          done(std::move(completion)) {}

    boost::asio::steady_timer timer;  // also the strand every step of this wait runs on
    const std::string key;
    const std::chrono::steady_clock::time_point deadline;
    Try attempt;
    Completion done;
    bool finished = false;  // touched on the strand only
  };

  void Check(const std::shared_ptr<State>& state) {
    if (state->finished) return;
    Result<Value> result = state->attempt();
    auto now = std::chrono::steady_clock::now();
    if (!result.ok() || Policy::Ready(result) || now >= state->deadline) {
      Complete(state, std::move(result));
      return;
    }
    auto recheck =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(recheck_interval_);
    state->timer.expires_at(std::min(state->deadline, now + recheck));
    state->timer.async_wait([this, state](boost::system::error_code ec) {
      // Aborted: re-armed by an event's Check, or cancelled by Complete.
      if (ec == boost::asio::error::operation_aborted) return;
      Check(state);
    });
  }

  void Complete(const std::shared_ptr<State>& state, Result<Value> result) {
    state->finished = true;
    state->timer.cancel();
    {
      std::lock_guard lock(mu_);
      auto [begin, end] = waits_.equal_range(state->key);
      for (auto it = begin; it != end; ++it) {
        if (it->second == state) {
          waits_.erase(it);
          pending_.fetch_sub(1, std::memory_order_relaxed);
          break;
        }
      }
    }
    Completion done = std::move(state->done);
    done(std::move(result));
  }

  void OnEvent(const Event& event) {
    // Runs on the publisher's thread under the bus lock: only look up and post. Events
    // nobody waits for (nearly all of them) cost one atomic load.
    if (pending_.load(std::memory_order_relaxed) == 0) return;
    const std::string* key = Policy::Key(event);
    if (!key) return;
    std::vector<std::shared_ptr<State>> woken;
    {
      std::lock_guard lock(mu_);
      auto [begin, end] = waits_.equal_range(*key);
      for (auto it = begin; it != end; ++it) woken.push_back(it->second);
    }
    for (auto& state : woken) {
      boost::asio::post(state->timer.get_executor(), [this, state] { Check(state); });
    }
  }

  EventBus& events_;
  const Duration recheck_interval_;
  std::atomic<size_t> pending_{0};  // waits registered; lets OnEvent skip the lock
  std::mutex mu_;
  std::multimap<std::string, std::shared_ptr<State>> waits_;  // by key; guarded by mu_
  std::optional<Status> closed_;                              // set by Close(); guarded by mu_
  std::mutex subscription_mu_;                                // serializes Start and Stop
  uint64_t subscription_ = 0;  // guarded by subscription_mu_; 0 when not subscribed
};

}  // namespace taskmill::api
