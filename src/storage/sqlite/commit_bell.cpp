#include "storage/sqlite/commit_bell.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "storage/sqlite/sqlite_db.h"

namespace taskmill::sqlite {
namespace {

// How long a ring is followed by checks of data_version before it is taken for one
// whose commit is already seen (two rings read apart, one read of data_version seeing
// both commits). A commit is visible before its ring (SQLite calls the commit hook
// after the commit; the fsync, with synchronous=full, comes later and makes it durable,
// not visible), so the checks are a safeguard, and short.
constexpr auto kConfirmFor = std::chrono::milliseconds(10);
constexpr auto kFirstRecheck = std::chrono::microseconds(50);
// At most a millisecond between checks: a ring of a commit already seen costs at
// most ~15 cheap reads.
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

std::string CommitBellPath(const std::string& db_path) { return db_path + ".commits"; }

Result<CommitBell> CommitBell::Open(const std::string& db_path) {
  const std::string path = CommitBellPath(db_path);
  CommitBell bell;
  // Whoever may write the database may ring: the bell takes the database's mode.
  struct stat db {};
  const mode_t mode = ::stat(db_path.c_str(), &db) == 0 ? (db.st_mode & 0666) : 0644;
  bell.fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, mode);
  if (bell.fd_ < 0) {
    return Status::Unavailable("open " + path + ": " + std::strerror(errno));
  }
  return bell;
}

CommitBell::~CommitBell() {
  if (fd_ >= 0) ::close(fd_);
}

void CommitBell::Ring() const {
  if (fd_ >= 0) (void)!::pwrite(fd_, "\n", 1, 0);
}

Result<std::unique_ptr<CommitWatcher>> CommitWatcher::Start(const std::string& db_path,
                                                            std::function<void()> on_commit) {
  std::unique_ptr<CommitWatcher> w(new CommitWatcher());
  w->on_commit_ = std::move(on_commit);
  w->inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->inotify_fd_ < 0) {
    return Status::Unavailable(std::string("inotify_init1: ") + std::strerror(errno));
  }
  // The file itself: no write to the database or its log is an event.
  const std::string bell = CommitBellPath(db_path);
  if (::inotify_add_watch(w->inotify_fd_, bell.c_str(), IN_MODIFY) < 0) {
    return Status::Unavailable("inotify_add_watch " + bell + ": " + std::strerror(errno));
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

CommitWatcher::~CommitWatcher() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
}

void CommitWatcher::Loop() {
  Connection& conn = *conn_;
  int64_t& seen = seen_;
  using Clock = std::chrono::steady_clock;
  bool unconfirmed = false;  // the bell rang since data_version last changed
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
      bool rang = false;
      for (;;) {  // every event is a ring (or an overflow of them)
        const ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
        if (n <= 0) break;
        rang = true;
      }
      if (rang) {
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
      unconfirmed = false;  // a ring of a commit already seen
    } else {
      recheck = std::min<Clock::duration>(recheck * 2, kLongestRecheck);
    }
  }
}

}  // namespace taskmill::sqlite
