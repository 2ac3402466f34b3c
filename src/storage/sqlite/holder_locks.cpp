#include "storage/sqlite/holder_locks.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace taskmill::sqlite {

HolderLocks::~HolderLocks() {
  std::lock_guard lock(mu_);
  // Closing releases the lock; the files stay, as after a crash, unless detached.
  for (auto& [holder, fd] : held_) ::close(fd);
}

std::filesystem::path HolderLocks::PathOf(const std::string& holder) const {
  // Readable for operators, unique by the hash: ids may hold any character.
  std::string name;
  for (char c : holder) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
    name += plain ? c : '_';
    if (name.size() >= 64) break;
  }
  uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : holder) hash = (hash ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return dir_ / (name + "-" + hex + ".lock");
}

Status HolderLocks::Attach(const std::string& holder) {
  std::lock_guard lock(mu_);
  if (held_.count(holder)) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  const std::string path = PathOf(holder).string();
  // A checker may remove a dead holder's file between our open and our lock (Prune):
  // the lock is then on a file no one finds, so look again until they match.
  for (int tries = 0; tries < 8; ++tries) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Status::Internal("cannot create the lock file " + path + ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Status::FailedPrecondition("holder '" + holder +
                                        "' is held by another live process (" + path + ")");
    }
    struct stat by_fd {
    }, by_path{};
    if (::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 &&
        by_fd.st_ino == by_path.st_ino && by_fd.st_dev == by_path.st_dev) {
      held_[holder] = fd;
      return Status::Ok();
    }
    ::close(fd);
  }
  return Status::Internal("cannot lock " + path + ": it keeps being removed");
}

void HolderLocks::Detach(const std::string& holder) {
  std::lock_guard lock(mu_);
  auto it = held_.find(holder);
  if (it == held_.end()) return;
  // Removed while still locked, so that no checker takes a file that is going away
  // for a dead holder's.
  ::unlink(PathOf(holder).c_str());
  ::close(it->second);
  held_.erase(it);
}

bool HolderLocks::IsDead(const std::string& holder) const {
  if (holder.empty()) return false;
  int fd = ::open(PathOf(holder).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // no file: unknown
  // flock conflicts between open files even within one process, so a holder of this
  // very process is seen alive too.
  bool dead = ::flock(fd, LOCK_SH | LOCK_NB) == 0;
  ::close(fd);  // releases the probe's lock
  return dead;
}

void HolderLocks::PruneOlderThan(std::chrono::seconds age) const {
  std::error_code ec;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".lock") continue;
    auto written = entry.last_write_time(ec);
    if (ec || now - written < age) continue;
    int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    // Removed under the lock: a holder attaching meanwhile sees its file gone and
    // makes a new one (Attach).
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) ::unlink(entry.path().c_str());
    ::close(fd);
  }
}

}  // namespace taskmill::sqlite
