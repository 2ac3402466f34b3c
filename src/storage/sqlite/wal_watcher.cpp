#include "storage/sqlite/wal_watcher.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "storage/sqlite/sqlite_db.h"

namespace taskmill::sqlite {
namespace {

// How long an event is followed by checks of data_version before it is taken for a
// write that was not a commit. The writer's frames become visible within
// microseconds of their write (the fsync, with synchronous=full, comes after: the
// storage's syncer thread makes the commit durable, not visible).
constexpr auto kConfirmFor = std::chrono::milliseconds(100);
constexpr auto kFirstRecheck = std::chrono::microseconds(50);
// At most a millisecond between checks: a commit is seen within about 1 ms of its log
// write, and a write that was not a commit costs at most ~100 cheap reads.
constexpr auto kLongestRecheck = std::chrono::milliseconds(1);

Result<int64_t> DataVersion(Connection& conn) {
  auto stmt = conn.Prepare("PRAGMA data_version");
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  return *row ? (*stmt)->Int(0) : 0;
}

}  // namespace

Result<std::unique_ptr<WalWatcher>> WalWatcher::Start(const std::string& db_path,
                                                      std::function<void()> on_commit) {
  std::unique_ptr<WalWatcher> w(new WalWatcher());
  namespace fs = std::filesystem;
  const fs::path path = fs::absolute(db_path);
  w->db_path_ = db_path;
  w->wal_name_ = path.filename().string() + "-wal";
  w->on_commit_ = std::move(on_commit);
  w->inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->inotify_fd_ < 0) {
    return Status::Unavailable(std::string("inotify_init1: ") + std::strerror(errno));
  }
  // The directory rather than the log itself: SQLite deletes the log when the last
  // connection to the database closes and makes a new one at the next open, which a
  // watch on the file would miss.
  const std::string dir = path.parent_path().string();
  if (::inotify_add_watch(w->inotify_fd_, dir.c_str(), IN_MODIFY | IN_CREATE) < 0) {
    return Status::Unavailable("inotify_add_watch " + dir + ": " + std::strerror(errno));
  }
  auto conn = Connection::Open(db_path, /*read_only=*/true);
  if (!conn.ok()) return conn.status();
  w->conn_ = std::move(*conn);
  auto version = DataVersion(*w->conn_);
  if (!version.ok()) return version.status();
  w->seen_ = *version;
  w->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->stop_fd_ < 0) return Status::Unavailable(std::string("eventfd: ") + std::strerror(errno));
  w->thread_ = std::thread([raw = w.get()] { raw->Loop(); });
  return w;
}

WalWatcher::~WalWatcher() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
}

void WalWatcher::Loop() {
  Connection& conn = *conn_;
  int64_t& seen = seen_;
  using Clock = std::chrono::steady_clock;
  bool unconfirmed = false;  // the log was written since data_version last changed
  Clock::time_point confirm_until{};
  Clock::duration recheck = kFirstRecheck;
  alignas(inotify_event) char buf[8192];
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    timespec wait{};
    if (unconfirmed) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(recheck).count();
      wait.tv_sec = ns / 1'000'000'000;
      wait.tv_nsec = ns % 1'000'000'000;
    }
    const int ready = ::ppoll(fds, 2, unconfirmed ? &wait : nullptr, nullptr);
    if (ready < 0 && errno != EINTR) {
      spdlog::warn("storage: commit watch stopped: ppoll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents & POLLIN) {
      bool log_written = false;
      for (;;) {
        const ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t at = 0; at < n;) {
          const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
          if ((ev->mask & IN_Q_OVERFLOW) || (ev->len > 0 && wal_name_ == ev->name)) {
            log_written = true;
          }
          at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        }
      }
      if (log_written) {
        if (!unconfirmed) recheck = kFirstRecheck;
        unconfirmed = true;
        confirm_until = Clock::now() + kConfirmFor;
      }
    }
    if (!unconfirmed) continue;
    auto version = DataVersion(conn);
    if (version.ok() && *version != seen) {
      seen = *version;
      unconfirmed = false;
      on_commit_();
    } else if (Clock::now() >= confirm_until) {
      unconfirmed = false;  // a write that was not a commit
    } else {
      recheck = std::min<Clock::duration>(recheck * 2, kLongestRecheck);
    }
  }
}

}  // namespace taskmill::sqlite
