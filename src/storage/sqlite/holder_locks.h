// holder_locks.h — liveness of runners and schedulers that share one SQLite file.
//
// Every process that uses the database runs on the machine that holds it, so an OS
// lock proves whether a process is alive: a holder (a runner or scheduler id) takes an
// exclusive flock on a file of its own in a directory beside the database, and keeps
// it for as long as it lives; the kernel drops the lock when the process ends, however
// it ends (kill -9 included). Another process that finds the file and takes its lock
// at once knows the holder is dead. A holder with no file (a remote runner over HTTP,
// or one that could not take its lock) is unknown: its leases decide.
//
// Lock files are opened close-on-exec, so that a command a runner starts never holds
// its runner's lock. Thread-safe.
#pragma once

#include <taskmill/status.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

namespace taskmill::sqlite {

class HolderLocks {
 public:
  // Lock files live in `dir` (created on first use).
  explicit HolderLocks(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~HolderLocks();
  HolderLocks(const HolderLocks&) = delete;
  HolderLocks& operator=(const HolderLocks&) = delete;

  // Takes the lock of `holder` for this process until Detach or the process's end.
  // kFailedPrecondition when another live process holds it. Attaching twice is Ok.
  Status Attach(const std::string& holder);
  // Releases the lock and removes its file.
  void Detach(const std::string& holder);
  // True only when `holder` had a lock file and no process holds its lock any more.
  bool IsDead(const std::string& holder) const;
  // Removes the files of dead holders whose file is older than `age` (a crashed
  // holder's runs and leases are long resolved by then).
  void PruneOlderThan(std::chrono::seconds age) const;

 private:
  std::filesystem::path PathOf(const std::string& holder) const;

  const std::filesystem::path dir_;
  std::mutex mu_;
  std::map<std::string, int> held_;  // holder → locked fd; guarded by mu_
};

}  // namespace taskmill::sqlite
