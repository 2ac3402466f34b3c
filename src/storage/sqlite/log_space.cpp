#include "storage/sqlite/log_space.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>

namespace taskmill::sqlite {

LogSpace::LogSpace(std::string database_path, int64_t page_size, int64_t short_bound,
                   int64_t working_bytes)
    : path_(std::move(database_path)),
      page_size_(page_size),
      short_bound_(short_bound),
      working_bound_(std::max(short_bound, working_bytes)) {
  NoteRoom(Room());
}

int64_t LogSpace::Room() const {
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  struct statvfs disk {};
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &disk) != 0) return -1;
  return static_cast<int64_t>(disk.f_bavail) * static_cast<int64_t>(disk.f_frsize);
}

void LogSpace::NoteRoom(int64_t room) {
  roomy_.store(room >= 8 * working_bound_, std::memory_order_relaxed);
}

void LogSpace::NoteFull() {
  roomy_.store(false, std::memory_order_relaxed);
  if (!short_of_space_.exchange(true)) {
    spdlog::warn("storage: the disk of {} is full; writes fail until space is freed", path_);
  }
}

bool LogSpace::OutgrowsDisk(int log_pages) {
  constexpr int64_t kCheckEveryBytes = int64_t{1} << 20;
  const int64_t log_bytes = int64_t{log_pages} * page_size_;
  const int64_t step = log_bytes / kCheckEveryBytes;
  if (step == checked_step_) return false;  // statvfs once per MiB, not once per commit
  checked_step_ = step;                     // also when the log was started over
  if (step == 0) return false;
  const int64_t room = Room();
  if (room < 0) return false;
  NoteRoom(room);
  // A checkpoint needs room for what it copies into the database (at most the log),
  // and the writes go on meanwhile: twice the log.
  return room < 2 * log_bytes;
}

void LogSpace::CheckpointOnWriter(sqlite3* db, const std::function<void(int, int)>& on_checkpoint) {
  int log_frames = 0, checkpointed = 0;
  int rc =
      sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &checkpointed);
  if (rc == SQLITE_OK && checkpointed == log_frames) {
    CheckpointDone(log_frames, checkpointed);
  } else {
    // No room to copy yet, or a reader still needs part of the log: again after the
    // next commit.
    short_of_space_ = true;
  }
  if (on_checkpoint && (rc == SQLITE_OK || rc == SQLITE_BUSY))
    on_checkpoint(log_frames, checkpointed);
}

void LogSpace::CheckpointDone(int log_frames, int checkpointed) {
  if (checkpointed == log_frames && short_of_space_.exchange(false)) {
    spdlog::info("storage: the write-ahead log of {} is checkpointed; it starts over", path_);
  }
}

}  // namespace taskmill::sqlite
