#include "api/take_waiter.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <vector>

namespace taskmill::api {
namespace net = boost::asio;

struct TakeWaiter::State {
  State(net::any_io_executor strand, std::string take_queue,
        std::chrono::steady_clock::time_point wait_deadline, Try try_claim, Completion completion)
      : timer(strand),
        queue(std::move(take_queue)),
        deadline(wait_deadline),
        attempt(std::move(try_claim)),
        done(std::move(completion)) {}

  net::steady_timer timer;  // also the strand every step of this take runs on
  const std::string queue;
  const std::chrono::steady_clock::time_point deadline;
  Try attempt;
  Completion done;
  bool finished = false;  // touched on the strand only
};

TakeWaiter::TakeWaiter(EventBus& events, Duration recheck_interval)
    : events_(events), recheck_interval_(recheck_interval) {}

TakeWaiter::~TakeWaiter() { Stop(); }

void TakeWaiter::Start() {
  // As in RunWaiter: subscription_mu_ is never taken by OnEvent, so the bus lock and
  // mu_ are always taken in the same order.
  std::lock_guard lock(subscription_mu_);
  if (subscription_ != 0) return;
  subscription_ = events_.Subscribe([this](const Event& event) { OnEvent(event); });
}

void TakeWaiter::Stop() {
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

void TakeWaiter::Close(const Status& error) {
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

void TakeWaiter::Wait(net::any_io_executor strand, std::string queue, Duration wait, Try attempt,
                      Completion done) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait);
  auto state = std::make_shared<State>(std::move(strand), std::move(queue), deadline,
                                       std::move(attempt), std::move(done));
  std::optional<Status> closed;  // the server is shutting down
  {
    // Registered before the first try, so a run created between the try and the
    // registration cannot be missed.
    std::lock_guard lock(mu_);
    if (closed_) {
      closed = *closed_;
    } else {
      waits_.emplace(state->queue, state);
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

void TakeWaiter::Check(const std::shared_ptr<State>& state) {
  if (state->finished) return;
  Result<std::vector<Run>> runs = state->attempt();
  auto now = std::chrono::steady_clock::now();
  if (!runs.ok() || !runs->empty() || now >= state->deadline) {
    Complete(state, std::move(runs));
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

void TakeWaiter::Complete(const std::shared_ptr<State>& state, Result<std::vector<Run>> result) {
  state->finished = true;
  state->timer.cancel();
  {
    std::lock_guard lock(mu_);
    auto [begin, end] = waits_.equal_range(state->queue);
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

void TakeWaiter::OnEvent(const Event& event) {
  // On the publisher's thread under the bus lock: only look up and post. A run becomes
  // claimable when it is created or put back to pending (both publish run.created).
  if (pending_.load(std::memory_order_relaxed) == 0 || event.type != Event::Type::kRunCreated) {
    return;
  }
  std::vector<std::shared_ptr<State>> woken;
  {
    std::lock_guard lock(mu_);
    auto [begin, end] = waits_.equal_range(event.queue);
    for (auto it = begin; it != end; ++it) woken.push_back(it->second);
  }
  for (auto& state : woken) {
    net::post(state->timer.get_executor(), [this, state] { Check(state); });
  }
}

}  // namespace taskmill::api
