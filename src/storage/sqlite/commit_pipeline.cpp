#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "metrics/taskmill_metrics.h"
#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

SqliteStorage::~SqliteStorage() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(sync_mu_);
    sync_stopping_ = true;
  }
  sync_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  if (log_fd_ >= 0) ::close(log_fd_);
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_stopping_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  // Closing the writer's connection, the last one, checkpoints what is left.
}

// Called by SQLite on the writer thread after each commit, with the log's size.
int SqliteStorage::AfterWalCommit(void* self, sqlite3* db, const char*, int log_pages) {
  auto* storage = static_cast<SqliteStorage*>(self);
  storage->bell_.Ring();
  if (storage->log_space_->CheckpointNeeded(log_pages)) {
    storage->log_space_->CheckpointOnWriter(db, storage->options_.on_checkpoint);
  } else if (log_pages >= storage->options_.checkpoint_pages) {
    std::lock_guard lock(storage->checkpoint_mu_);
    storage->checkpoint_wanted_ = true;
    storage->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

// A write failed for lack of space: see log_space.h.
void SqliteStorage::NoteShortOfSpace() {
  log_space_->NoteFull();
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_wanted_ = true;
  }
  checkpoint_cv_.notify_one();
}

void SqliteStorage::ApplyLogBound() {
  const int64_t bound = log_space_->LogBound();
  if (bound == applied_log_bound_) return;
  const std::string pragma = "PRAGMA journal_size_limit=" + std::to_string(bound);
  if (writer_db_->ExecScript(pragma.c_str()).ok()) applied_log_bound_ = bound;
}

// PASSIVE checkpoints on a connection of their own: they copy what no reader still
// needs and never block the writer, which goes on appending to the log meanwhile;
// the writer starts the log over once a checkpoint has copied all of it.
void SqliteStorage::CheckpointLoop() {
  std::unique_ptr<Connection> db;
  std::unique_lock lock(checkpoint_mu_);
  for (;;) {
    checkpoint_cv_.wait(lock, [&] { return checkpoint_stopping_ || checkpoint_wanted_; });
    if (checkpoint_stopping_) return;
    checkpoint_wanted_ = false;
    lock.unlock();
    if (!db) {
      auto opened = Connection::Open(options_.path, false);
      // A query first: a connection learns the file is in WAL mode on its first read,
      // and until then a checkpoint request does nothing.
      if (opened.ok() && (*opened)->ExecScript("SELECT count(*) FROM sqlite_master").ok()) {
        db = std::move(*opened);
      } else if (!opened.ok()) {
        spdlog::warn("storage: opening the checkpoint connection: {}", opened.status().ToString());
      }
    }
    if (db) {
      int log_frames = 0, checkpointed = 0;
      int rc = sqlite3_wal_checkpoint_v2(db->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                         &checkpointed);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        spdlog::warn("storage: checkpoint failed: {}", sqlite3_errstr(rc));
      } else {
        if (rc == SQLITE_OK) log_space_->CheckpointDone(log_frames, checkpointed);
        if (options_.on_checkpoint) options_.on_checkpoint(log_frames, checkpointed);
      }
    }
    lock.lock();
  }
}

// Queues `fn` for the writer thread and waits for the commit that holds it.
// A write that need not survive power loss (a claim or a heartbeat: if it is lost,
// the run is simply claimed again, which at-least-once allows) passes
// durable = false: under synchronous=full it is answered when its transaction
// commits, without waiting for the log's fsync. Any later durable commit syncs it too.
Status SqliteStorage::Write(std::function<Status(Tx&)> fn, bool durable) {
  PendingWrite w{std::move(fn), durable, {}};
  return Queue(w);
}

Status SqliteStorage::WriteClaim(std::function<Status(Tx&)> fn) {
  PendingWrite w{std::move(fn), /*durable=*/false, {}};
  w.claim = true;
  return Queue(w);
}

Status SqliteStorage::Queue(PendingWrite& w) {
  auto done = w.done.get_future();
  TASKMILL_RETURN_IF_ERROR(QueueTogether({&w}));
  return done.get();
}

Status SqliteStorage::QueueTogether(std::initializer_list<PendingWrite*> writes) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::Unavailable("storage is closing");
    queue_.insert(queue_.end(), writes.begin(), writes.end());
  }
  cv_.notify_one();
  return Status::Ok();
}

// Queues `fn` for the writer thread and returns at once: it lands in the writer's
// next commit, so in the same transaction as a write queued right after it, or in an
// earlier one. Not durable. For writes that only narrow what a crash costs
// (RunStartBatch): the caller need not wait a commit for them. A failure is logged.
void SqliteStorage::WriteDetached(std::function<Status(Tx&)> fn) {
  auto* w = new PendingWrite{std::move(fn), /*durable=*/false, {}, /*detached=*/true};
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      delete w;
      return;
    }
    queue_.push_back(w);
  }
  cv_.notify_one();
}

void SqliteStorage::WriteWhenQuiet(std::function<Status(Tx&)> fn,
                                   std::chrono::steady_clock::time_point since) {
  auto* w = new PendingWrite{std::move(fn), /*durable=*/false, {}, /*detached=*/true};
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      delete w;
      return;
    }
    quiet_queue_.emplace_back(w, since);
  }
  cv_.notify_one();
}

void SqliteStorage::ReleaseTheRest() {
  Connection& db = *writer_db_;
  LogFlushedMeanwhile flushed(*this);
  std::vector<std::pair<std::string, int64_t>> failed;
  for (const auto& [parent_id, attempt] : releasing_) {
    for (bool more = true; more;) {
      if (options_.before_release_part && !options_.before_release_part()) break;
      Status st = db.Exec("BEGIN IMMEDIATE");
      if (st.ok()) {
        TallyDeltas total;
        Tx tx{db, {}, &total};
        auto released = ReleaseMore(tx, parent_id, attempt);
        st = released.ok() ? ApplyTallies(db, tx.deltas) : released.status();
        if (st.ok()) st = db.Exec("COMMIT");
        if (st.ok()) more = *released;
        if (!st.ok()) (void)db.Exec("ROLLBACK");
      }
      if (!st.ok()) {
        if (st.code() == StatusCode::kInsufficientStorage) NoteShortOfSpace();
        spdlog::warn("storage: releasing the runs staged by {} failed: {}", parent_id,
                     st.ToString());
        failed.emplace_back(parent_id, attempt);
        break;
      }
    }
  }
  releasing_ = std::move(failed);
}

void SqliteStorage::WriterLoop() {
  std::vector<PendingWrite*> batch;
  std::vector<Status> results;
  std::vector<Unsynced> unsynced;
  const metrics::TaskmillMetrics& metrics = metrics::Taskmill();
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !quiet_queue_.empty(); });
      // Real time on purpose, as the runners' batching windows: when to clean up is a
      // throughput knob, not a rule of a run's life.
      if (queue_.empty() && !stopping_) {
        // Only writes that wait for quiet: the oldest is taken if nothing else comes.
        const bool quiet =
            !cv_.wait_for(lock, kQuietFor, [&] { return stopping_ || !queue_.empty(); });
        if (quiet && !quiet_queue_.empty()) {
          queue_.push_back(quiet_queue_.front().first);
          quiet_queue_.pop_front();
        }
      }
      // Those asked for long enough ago go with the next commit, quiet or not; when
      // stopping, none (the next open sweeps what they would have, sqlite_storage.cpp).
      const auto overdue = std::chrono::steady_clock::now() - kQuietAtMost;
      std::erase_if(quiet_queue_, [&](const auto& waiting) {
        if (stopping_) {
          delete waiting.first;
        } else if (waiting.second <= overdue) {
          queue_.push_back(waiting.first);
        } else {
          return false;
        }
        return true;
      });
      if (queue_.empty()) {
        if (stopping_) return;  // nothing left to write
        continue;
      }
      batch.assign(queue_.begin(), queue_.end());
      queue_.clear();
    }
    // Claims last (WriteClaim): a claim queued alongside a runner's finishes takes
    // the slots of a capped queue they free, in this commit rather than the next.
    std::stable_partition(batch.begin(), batch.end(),
                          [](const PendingWrite* w) { return !w->claim; });
    // A measurement, not a decision: storage still takes every instant it stores
    // from its callers.
    const auto started = std::chrono::steady_clock::now();
    ApplyLogBound();
    CommitBatch(batch, results);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    const size_t size = batch.size();
    for (size_t i = 0; i < size; ++i) {
      // A durable write that committed waits for the log's fsync; a write that was
      // rolled back stored nothing to sync.
      if (syncer_.joinable() && batch[i]->durable && results[i].ok()) {
        unsynced.push_back({batch[i], std::move(results[i])});
      } else if (batch[i]->detached) {
        if (!results[i].ok())
          spdlog::warn("sqlite: a detached write failed: {}", results[i].ToString());
        delete batch[i];
      } else {
        batch[i]->done.set_value(std::move(results[i]));
      }
    }
    if (!unsynced.empty()) {
      {
        std::lock_guard lock(sync_mu_);
        for (auto& u : unsynced) unsynced_.push_back(std::move(u));
      }
      sync_cv_.notify_one();
      unsynced.clear();
    }
    batch.clear();
    // Its writers answered, so that a runner runs the first part's runs meanwhile.
    if (!releasing_.empty()) ReleaseTheRest();
    // After the writers are released, so that observing never delays them.
    metrics.commit_batch_size->Observe(static_cast<double>(size));
    metrics.commit_duration->Observe(std::chrono::duration<double>(elapsed).count());
  }
}

// Under synchronous=full, a commit is durable once the write-ahead log holding it is
// synced. The writer commits with synchronous=NORMAL (no fsync) and hands the callers
// of durable writes to this thread, which syncs the log once for every commit made
// meanwhile and only then answers them. The writer builds the next transaction while
// the disk flushes the last: with the fsync inside the commit, as SQLite's FULL does
// it, the one writer thread waited for every flush (docs/storage.md, "Durability").
void SqliteStorage::SyncLoop() {
  std::vector<Unsynced> batch;
  std::unique_lock lock(sync_mu_);
  for (;;) {
    sync_cv_.wait(lock,
                  [&] { return sync_stopping_ || !unsynced_.empty() || flushed_meanwhile_ > 0; });
    if (unsynced_.empty()) {
      if (sync_stopping_) return;  // stopping, and every commit answered
      // A long write under way (LogFlushedMeanwhile): what it appended so far. A
      // failure is its commit's sync's to report.
      lock.unlock();
      (void)SyncLog();
      lock.lock();
      sync_cv_.wait_for(lock, kFlushEvery, [&] {
        return sync_stopping_ || !unsynced_.empty() || flushed_meanwhile_ == 0;
      });
      continue;
    }
    batch.swap(unsynced_);
    lock.unlock();
    const Status synced = SyncLog();
    if (options_.on_log_synced) options_.on_log_synced();
    for (auto& u : batch)
      u.write->done.set_value(synced.ok() ? std::move(u.result) : Status(synced));
    batch.clear();
    lock.lock();
  }
}

SqliteStorage::LogFlushedMeanwhile::LogFlushedMeanwhile(SqliteStorage& storage)
    : storage_(storage) {
  if (!storage_.syncer_.joinable()) return;
  {
    std::lock_guard lock(storage_.sync_mu_);
    ++storage_.flushed_meanwhile_;
  }
  storage_.sync_cv_.notify_one();
}

SqliteStorage::LogFlushedMeanwhile::~LogFlushedMeanwhile() {
  if (!storage_.syncer_.joinable()) return;
  std::lock_guard lock(storage_.sync_mu_);
  --storage_.flushed_meanwhile_;
}

Status SqliteStorage::SyncLog() const {
  int rc;
  do {
    rc = ::fdatasync(log_fd_);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return Status::Ok();
  const int error = errno;
  spdlog::error("storage: fsync of the write-ahead log failed: {}", std::strerror(error));
  return Status::Internal(std::string("storage: the write was committed but the fsync of the "
                                      "write-ahead log failed (") +
                          std::strerror(error) + "): it may not survive a power loss");
}

// Opens the write-ahead log for SyncLoop on a descriptor of its own: fdatasync
// flushes a file whichever descriptor wrote to it. The log exists once the writer's
// connection has read the database in WAL mode (Migrate did), and it stays (never
// replaced, at most truncated) while that connection is open.
Status SqliteStorage::OpenLogForSync() {
  const std::string log = options_.path + "-wal";
  log_fd_ = ::open(log.c_str(), O_RDONLY | O_CLOEXEC);
  if (log_fd_ < 0) {
    // Not in WAL mode (a file system without shared memory): commits sync themselves.
    spdlog::warn("storage: cannot open {} ({}); commits will fsync in place", log,
                 std::strerror(errno));
    return writer_db_->ExecScript("PRAGMA synchronous=FULL");
  }
  // The log's directory entry: SQLite syncs it with the log's first fsync, which with
  // synchronous=NORMAL may come only at the first checkpoint.
  std::filesystem::path dir = std::filesystem::path(options_.path).parent_path();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
    const int error = errno;
    if (dir_fd >= 0) ::close(dir_fd);
    return Status::Internal("storage: cannot sync the data directory " + dir.string() + ": " +
                            std::strerror(error));
  }
  ::close(dir_fd);
  return Status::Ok();
}

// Runs every operation of the batch in one transaction. Each operation sits in its
// own savepoint, so a failing one is rolled back alone and the others commit.
void SqliteStorage::CommitBatch(const std::vector<PendingWrite*>& batch,
                                std::vector<Status>& results) {
  results.assign(batch.size(), Status::Ok());
  Connection& db = *writer_db_;
  Status begin = db.Exec("BEGIN IMMEDIATE");
  if (!begin.ok()) {
    if (begin.code() == StatusCode::kInsufficientStorage) NoteShortOfSpace();
    results.assign(batch.size(), begin);
    return;
  }
  TallyDeltas total;
  std::vector<std::pair<std::string, int64_t>> stopped;
  std::vector<std::pair<std::string, int64_t>> began;  // releases (Tx::releasing)
  for (size_t i = 0; i < batch.size(); ++i) {
    Tx tx{db, {}, &total};
    (void)db.Exec("SAVEPOINT op");
    Status st;
    try {
      st = batch[i]->fn(tx);
    } catch (const std::exception& e) {
      st = Status::Internal(std::string("storage write failed: ") + e.what());
    }
    if (st.ok()) {
      total.Merge(tx.deltas);
      for (auto& attempt : tx.stopped) stopped.push_back(std::move(attempt));
      for (auto& release : tx.releasing) began.push_back(std::move(release));
      (void)db.Exec("RELEASE op");
    } else {
      (void)db.Exec("ROLLBACK TO op");
      (void)db.Exec("RELEASE op");
    }
    results[i] = std::move(st);
  }
  Status counted = ApplyTallies(db, total);
  Status commit = counted.ok() ? db.Exec("COMMIT") : counted;
  if (!commit.ok()) {
    (void)db.Exec("ROLLBACK");
    for (auto& r : results) {
      if (r.ok()) r = commit;
    }
  } else {
    // Queued before anyone hears of the stop, so ahead of any later write of this
    // process; bounded by the attempt, so a next attempt's rows are never swept.
    for (const auto& [id, attempt] : stopped) SweepStaged(id, attempt);
    for (auto& release : began) releasing_.push_back(std::move(release));
  }
  for (const auto& r : results) {
    if (r.code() == StatusCode::kInsufficientStorage) {
      NoteShortOfSpace();
      break;
    }
  }
}

// ---- readers --------------------------------------------------------------------
Result<std::unique_ptr<Connection>> SqliteStorage::AcquireReader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!readers_.empty()) {
      auto c = std::move(readers_.back());
      readers_.pop_back();
      return c;
    }
  }
  return Connection::Open(options_.path, true);
}

void SqliteStorage::ReleaseReader(std::unique_ptr<Connection> c) {
  std::lock_guard lock(readers_mu_);
  if (readers_.size() < 16) readers_.push_back(std::move(c));
}

}  // namespace taskmill::sqlite
