#include "process/process_groups.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace taskmill::process_groups {
namespace fs = std::filesystem;
namespace {

// Tracked group ids, 0 for a free slot. A fixed array of atomics rather than a
// container so that KillAll can read it from a signal handler. Far more slots than
// attempts a runner executes at once (its capacity) plus co-processes.
constexpr size_t kSlots = 16384;
std::array<std::atomic<pid_t>, kSlots> g_slots{};
std::atomic<bool> g_forced{false};

// How long a restarted server waits for the leftovers it killed to be gone.
constexpr auto kLeftoverDeadline = std::chrono::seconds(5);

struct Record {
  std::mutex mu;
  std::string dir;  // this server's record folder; empty while not recording
  int lock_fd = -1;
  bool warned = false;                           // a failed write was logged once
  std::unordered_map<pid_t, std::string> files;  // by group id: the record's file name
};

// Never destroyed: Track and Untrack may run during static destruction at exit.
Record& TheRecord() {
  static Record* record = new Record();
  return *record;
}

struct ProcStat {
  char state = '?';
  pid_t pgrp = 0;
  long long start = -1;
};

// Fields 3, 5 and 22 of /proc/PID/stat; false when there is no such process. The
// command name (field 2) may contain anything, so fields are counted after its ')'.
bool ReadStat(pid_t pid, ProcStat& out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  std::string_view text(buf, static_cast<size_t>(n));
  size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return false;
  text.remove_prefix(paren + 1);
  int field = 2;
  while (!text.empty()) {
    size_t begin = text.find_first_not_of(' ');
    if (begin == std::string_view::npos) break;
    text.remove_prefix(begin);
    size_t end = text.find(' ');
    std::string_view token = text.substr(0, end);
    ++field;
    if (field == 3) out.state = token.empty() ? '?' : token[0];
    if (field == 5) std::from_chars(token.data(), token.data() + token.size(), out.pgrp);
    if (field == 22) {
      std::from_chars(token.data(), token.data() + token.size(), out.start);
      return true;
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end);
  }
  return false;
}

// Whether a process other than a zombie has group `pgid` and started no earlier than
// the group's leader (`leader_start`): a member of the group the record names.
bool HasLiveMember(pid_t pgid, long long leader_start) {
  DIR* proc = ::opendir("/proc");
  if (!proc) return false;
  bool found = false;
  while (dirent* entry = ::readdir(proc)) {
    pid_t pid = 0;
    const char* name = entry->d_name;
    auto [end, ec] = std::from_chars(name, name + std::strlen(name), pid);
    if (ec != std::errc() || *end != '\0' || pid <= 0) continue;
    ProcStat stat;
    if (!ReadStat(pid, stat)) continue;
    if (stat.pgrp == pgid && stat.state != 'Z' && stat.start >= leader_start) {
      found = true;
      break;
    }
  }
  ::closedir(proc);
  return found;
}

// Kills the group a dead server recorded, unless its id now names another group.
// Returns whether a signal was sent.
bool KillLeftover(pid_t pgid, long long leader_start) {
  long long now_start = ProcessStartTime(pgid);
  if (now_start >= 0 && now_start != leader_start) return false;  // the id was reused
  if (now_start < 0 && !HasLiveMember(pgid, leader_start)) return false;
  return ::kill(-pgid, SIGKILL) == 0;
}

// "PGID.START" → the two numbers; false for any other name.
bool ParseRecordName(std::string_view name, pid_t& pgid, long long& start) {
  size_t dot = name.find('.');
  if (dot == std::string_view::npos) return false;
  auto [p_end, p_ec] = std::from_chars(name.data(), name.data() + dot, pgid);
  auto [s_end, s_ec] = std::from_chars(name.data() + dot + 1, name.data() + name.size(), start);
  return p_ec == std::errc() && s_ec == std::errc() && p_end == name.data() + dot &&
         s_end == name.data() + name.size() && pgid > 0;
}

// Kills the recorded groups of every server on `root` that no longer holds its lock,
// and removes their records. Returns the groups signalled.
std::vector<std::pair<pid_t, long long>> KillDeadServers(const fs::path& root) {
  std::vector<std::pair<pid_t, long long>> killed;
  std::error_code ec;
  std::vector<fs::path> locks;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".lock")) {
      locks.push_back(entry.path());
    } else if (name.starts_with("tmp-")) {
      // A server between creating its record and locking it (OpenRecord): its file is
      // unlocked for a moment, so a lock proves nothing here. It is removed only when
      // the process named in it is gone; a live one renames it to its .lock at once.
      pid_t pid = 0;
      long long start = 0;
      if (!ParseRecordName(name.substr(4), pid, start) || ProcessStartTime(pid) != start) {
        fs::remove(entry.path(), ec);
      }
    }
  }
  for (const auto& lock_path : locks) {
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {  // that server is running
      ::close(fd);
      continue;
    }
    std::string name = lock_path.filename().string();
    if (name.ends_with(".lock")) {
      fs::path folder = root / name.substr(0, name.size() - 5);
      for (const auto& record : fs::directory_iterator(folder, ec)) {
        pid_t pgid = 0;
        long long start = 0;
        if (ParseRecordName(record.path().filename().string(), pgid, start) &&
            KillLeftover(pgid, start)) {
          spdlog::warn("taskmill: killed process group {} left running by a server that ended",
                       pgid);
          killed.emplace_back(pgid, start);
        }
        fs::remove(record.path(), ec);
      }
      fs::remove(folder, ec);
    }
    ::unlink(lock_path.c_str());
    ::close(fd);
  }
  return killed;
}

void RecordAdd(pid_t pgid) {
  Record& record = TheRecord();
  std::lock_guard lock(record.mu);
  if (record.dir.empty()) return;
  long long start = ProcessStartTime(pgid);
  if (start < 0) return;  // already gone (and reaped only by its owner, later)
  std::string name = std::to_string(pgid) + "." + std::to_string(start);
  std::string path = record.dir + "/" + name;
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (!record.warned) {
      spdlog::warn("taskmill: cannot record process group in {}: {}", record.dir,
                   std::strerror(errno));
      record.warned = true;
    }
    return;
  }
  ::close(fd);
  record.files[pgid] = std::move(name);
}

void RecordRemove(pid_t pgid) {
  Record& record = TheRecord();
  std::lock_guard lock(record.mu);
  auto it = record.files.find(pgid);
  if (it == record.files.end()) return;
  if (!record.dir.empty()) ::unlink((record.dir + "/" + it->second).c_str());
  record.files.erase(it);
}

// The original handlers of the fatal signals, restored before the signal is raised
// again so that the process ends as it would have (a core dump, a sanitizer report).
constexpr std::array<int, 5> kFatalSignals = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
struct sigaction g_previous[kFatalSignals.size()];

void OnFatalSignal(int sig) {
  KillAll();
  for (size_t i = 0; i < kFatalSignals.size(); ++i) {
    if (kFatalSignals[i] == sig) ::sigaction(sig, &g_previous[i], nullptr);
  }
  // Blocked until this handler returns; a fault also recurs when the instruction is
  // executed again.
  ::raise(sig);
}

}  // namespace

long long ProcessStartTime(pid_t pid) {
  ProcStat stat;
  return ReadStat(pid, stat) ? stat.start : -1;
}

void Track(pid_t pgid) {
  if (pgid <= 0) return;
  bool stored = false;
  for (auto& slot : g_slots) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pgid)) {
      stored = true;
      break;
    }
  }
  if (!stored) spdlog::warn("taskmill: too many process groups to track; {} is not", pgid);
  // After the slot is stored: either ShutdownNow's scan sees the slot or this sees the
  // flag.
  if (g_forced.load()) ::kill(-pgid, SIGKILL);
  RecordAdd(pgid);
}

void Untrack(pid_t pgid) {
  if (pgid <= 0) return;
  for (auto& slot : g_slots) {
    pid_t expected = pgid;
    if (slot.compare_exchange_strong(expected, 0)) break;
  }
  RecordRemove(pgid);
}

void KillAll() {
  for (auto& slot : g_slots) {
    pid_t pgid = slot.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
}

void ShutdownNow() {
  g_forced.store(true);
  KillAll();
}

bool KilledForShutdown() { return g_forced.load(); }

Status OpenRecord(const std::string& data_dir) {
  fs::path root = fs::path(data_dir) / "command-groups";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) {
    return Status::Unavailable("cannot create " + root.string() + ": " + ec.message());
  }

  auto killed = KillDeadServers(root);
  // SIGKILL is not instant: the next attempt of these runs must not start beside them.
  auto deadline = std::chrono::steady_clock::now() + kLeftoverDeadline;
  for (const auto& [pgid, start] : killed) {
    while (HasLiveMember(pgid, start) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Locked under a temporary name, then renamed: a server cleaning up at the same
  // moment never sees this record unlocked.
  std::string self =
      std::to_string(::getpid()) + "." + std::to_string(ProcessStartTime(::getpid()));
  fs::path temporary = root / ("tmp-" + self);
  int fd = ::open(temporary.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    return Status::Unavailable("cannot lock " + temporary.string() + ": " + std::strerror(err));
  }
  fs::path lock_path = root / (self + ".lock");
  fs::path folder = root / self;
  if (::rename(temporary.c_str(), lock_path.c_str()) != 0 ||
      (::mkdir(folder.c_str(), 0755) != 0 && errno != EEXIST)) {
    int err = errno;
    ::unlink(temporary.c_str());
    ::close(fd);
    return Status::Unavailable("cannot record process groups in " + root.string() + ": " +
                               std::strerror(err));
  }

  Record& record = TheRecord();
  {
    std::lock_guard lock(record.mu);
    record.dir = folder.string();
    record.lock_fd = fd;
  }
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit(KillAll); });
  return Status::Ok();
}

void CloseRecord() {
  Record& record = TheRecord();
  std::lock_guard lock(record.mu);
  if (record.dir.empty()) return;
  for (const auto& [pgid, name] : record.files) ::unlink((record.dir + "/" + name).c_str());
  record.files.clear();
  ::rmdir(record.dir.c_str());
  ::unlink((record.dir + ".lock").c_str());
  ::close(record.lock_fd);
  record.lock_fd = -1;
  record.dir.clear();
}

void InstallFatalSignalHandlers() {
  for (size_t i = 0; i < kFatalSignals.size(); ++i) {
    struct sigaction action {};
    action.sa_handler = OnFatalSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_ONSTACK;
    ::sigaction(kFatalSignals[i], &action, &g_previous[i]);
  }
}

}  // namespace taskmill::process_groups
