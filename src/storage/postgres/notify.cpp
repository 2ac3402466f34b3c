// notify.cpp — WatchCommits: LISTEN on a connection of its own (not one of the pool's:
// LISTEN is session state). Writers send one NOTIFY per commit that may give a runner
// work. When the connection drops, the watch calls on_commit every second (the caller
// then polls, so nothing is missed) while it reconnects with a growing backoff, and
// once more when it is back (notifications sent meanwhile are lost).
#include <poll.h>

#include <atomic>
#include <thread>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace {

class ListenWatch final : public CommitWatch {
 public:
  ListenWatch(std::string conninfo, std::function<void()> on_commit)
      : conninfo_(std::move(conninfo)), on_commit_(std::move(on_commit)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~ListenWatch() override {
    stop_ = true;
    thread_.join();
  }

 private:
  void Loop() {
    auto backoff = std::chrono::milliseconds(100);
    while (!stop_) {
      auto conn = Connection::Open(conninfo_);
      if (conn.ok() && (*conn)->ExecScript("LISTEN taskmill_commits").ok()) {
        backoff = std::chrono::milliseconds(100);
        on_commit_();  // commits made while no one listened
        Listen(**conn);
      }
      if (stop_) break;
      // Disconnected: poll for the caller until the connection is back.
      on_commit_();
      auto until = std::chrono::steady_clock::now() + backoff;
      while (!stop_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }

  // Waits for notifications until the connection fails or the watch stops.
  void Listen(Connection& c) {
    PGconn* raw = c.raw();
    while (!stop_) {
      pollfd fd{PQsocket(raw), POLLIN, 0};
      int ready = ::poll(&fd, 1, 200);  // wakes to see stop_
      if (ready < 0 && errno != EINTR) return;
      if (ready <= 0) continue;
      if (!PQconsumeInput(raw) || PQstatus(raw) != CONNECTION_OK) return;
      bool any = false;
      while (PGnotify* n = PQnotifies(raw)) {
        any = true;
        PQfreemem(n);
      }
      if (any) on_commit_();
    }
  }

  std::string conninfo_;
  std::function<void()> on_commit_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<CommitWatch> PgStorage::WatchCommits(std::function<void()> on_commit) {
  if (!options_.listen) return nullptr;  // listen=false: runners poll
  return std::make_unique<ListenWatch>(options_.conninfo, std::move(on_commit));
}

}  // namespace taskmill::postgres
