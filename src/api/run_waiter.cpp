#include "api/run_waiter.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <vector>

namespace taskmill::api {
namespace net = boost::asio;

struct RunWaiter::State {
  State(net::any_io_executor strand, std::string run_id, std::string run_queue,
        std::chrono::steady_clock::time_point wait_deadline, Completion completion)
      : timer(strand),
        id(std::move(run_id)),
        queue(std::move(run_queue)),
        deadline(wait_deadline),
        done(std::move(completion)) {}

  net::steady_timer timer;  // also the strand every step of this wait runs on
  const std::string id;
  const std::string queue;
  const std::chrono::steady_clock::time_point deadline;
  Completion done;
  bool finished = false;  // touched on the strand only
};

RunWaiter::RunWaiter(Engine& engine, Duration recheck_interval)
    : engine_(engine), recheck_interval_(recheck_interval) {}

RunWaiter::~RunWaiter() { Stop(); }

void RunWaiter::Start() {
  // subscription_mu_ is never taken by OnEvent, so holding it while the bus takes
  // its own lock cannot invert the bus-lock → mu_ order of OnEvent.
  std::lock_guard lock(subscription_mu_);
  if (subscription_ != 0) return;
  subscription_ = engine_.events().Subscribe([this](const Event& event) { OnEvent(event); });
}

void RunWaiter::Stop() {
  {
    std::lock_guard lock(subscription_mu_);
    if (subscription_ != 0) engine_.events().Unsubscribe(subscription_);
    subscription_ = 0;
  }
  std::multimap<std::string, std::shared_ptr<State>> dropped;
  {
    std::lock_guard lock(mu_);
    dropped.swap(waits_);
    pending_.store(0, std::memory_order_relaxed);
  }
}

void RunWaiter::Close(const Status& error) {
  std::vector<std::shared_ptr<State>> open;
  {
    std::lock_guard lock(mu_);
    if (!closed_) closed_ = error;
    for (auto& entry : waits_) open.push_back(entry.second);
  }
  for (auto& state : open) {
    net::post(state->timer.get_executor(), [this, state, error] {
      if (!state->finished) Complete(state, error);
    });
  }
}

void RunWaiter::Wait(net::any_io_executor strand, std::string id, std::string queue, Duration wait,
                     Completion done) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait);
  auto state = std::make_shared<State>(std::move(strand), std::move(id), std::move(queue), deadline,
                                       std::move(done));
  std::optional<Status> closed;  // the server is shutting down
  {
    // Registered before the first read, so a finish between the read and the
    // registration cannot be missed.
    std::lock_guard lock(mu_);
    if (closed_) {
      closed = *closed_;
    } else {
      waits_.emplace(state->id, state);
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

void RunWaiter::Check(const std::shared_ptr<State>& state) {
  if (state->finished) return;
  Result<Run> run = engine_.storage().RunGet(state->id, state->queue);
  auto now = std::chrono::steady_clock::now();
  if (!run.ok() || IsFinal(run->status) || now >= state->deadline) {
    Complete(state, std::move(run));
    return;
  }
  auto recheck = std::chrono::duration_cast<std::chrono::steady_clock::duration>(recheck_interval_);
  state->timer.expires_at(std::min(state->deadline, now + recheck));
  state->timer.async_wait([this, state](boost::system::error_code ec) {
    // Aborted: re-armed by an event's Check, or cancelled by Complete.
    if (ec == net::error::operation_aborted) return;
    Check(state);
  });
}

void RunWaiter::Complete(const std::shared_ptr<State>& state, Result<Run> result) {
  state->finished = true;
  state->timer.cancel();
  {
    std::lock_guard lock(mu_);
    auto [begin, end] = waits_.equal_range(state->id);
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

void RunWaiter::OnEvent(const Event& event) {
  // Runs on the publisher's thread under the bus lock: only look up and post. Events
  // of runs nobody waits for (nearly all of them) cost one atomic load.
  if (pending_.load(std::memory_order_relaxed) == 0 || !IsFinal(event.status)) return;
  std::vector<std::shared_ptr<State>> woken;
  {
    std::lock_guard lock(mu_);
    auto [begin, end] = waits_.equal_range(event.run_id);
    for (auto it = begin; it != end; ++it) woken.push_back(it->second);
  }
  for (auto& state : woken) {
    net::post(state->timer.get_executor(), [this, state] { Check(state); });
  }
}

}  // namespace taskmill::api
