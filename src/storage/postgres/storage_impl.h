// storage_impl.h — the PostgreSQL backend's class, shared by the files that define its
// methods by subject (see each section). Internal to src/storage/postgres.
#pragma once

#include <taskmill/storage.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "storage/postgres/pg_conn.h"
#include "storage/postgres/postgres_storage.h"
#include "storage/postgres/rows.h"

namespace taskmill::postgres {

// The UPDATE of a claim, given a CTE ordered(seq, ord) of the runs to claim in claim
// order: $1 runner, $2 now, $3 how many start (claims.cpp).
extern const std::string kClaimUpdate;
// The runs an UPDATE ... RETURNING <kRunColumns> claimed, in claim order.
std::vector<ClaimedRun> InClaimOrder(const Rows& rows);
// The claim's filter of runs.queue (" AND ..."), its arrays added to `params`: the
// queues named, or with prefixes (RunTakeParams::queue_prefixes) also the queues
// whose names start with one; empty when every queue is served.
std::string ClaimQueueFilter(const RunTakeParams& p, Params& params);

// A finish's follow-ups and settle (follow_ups.cpp). LockFlows, in the finish's
// transaction before it locks any run, serializes the finishes of one flow;
// ApplyFollowUps, after an accepted finish, stores its follow-ups and applies its
// settle (`stored`: a pending run was stored, so runners have work).
bool HasFollowUpsOrSettle(const RunFinish& f);
Status LockFlows(Connection& c, const std::vector<RunFinish>& finishes);
Status ApplyFollowUps(Connection& c, const RunFinish& f, bool* settled, bool* stored);
// After an accepted finish, before its follow-ups: releases the runs its attempt
// staged (RunFinish::staged) and deletes the parent's staged rows (staged_runs.cpp).
Status ApplyStaged(Connection& c, const RunFinish& f, bool* stored);
// Deletes every row staged under these parents, whose attempts a cancel or a flow's
// stop has just ended (staged_runs.cpp).
Status DeleteStaged(Connection& c, const std::vector<std::string>& parent_ids);

// What one step of the hot table's rotation did (generations.cpp): `moved` live rows
// from the oldest generation into the current one; `rotated`: the oldest was truncated
// (or was empty) and is now the current one, `current`.
struct HotRotation {
  bool rotated = false;
  int current = 0;
  int64_t moved = 0;
};

// Set first in the transactions of the batch lookups by key (finishes, heartbeats,
// starts): a generation of the hot table just truncated is a few pages, which the
// planner would rather scan whole for each run than seek; it must seek, because by
// the time the plan runs that table may hold many more (postgres_storage_pgtest.cpp).
inline constexpr const char* kSeekByKey = "SET LOCAL enable_seqscan = off";

// The channel of commit notifications (notify.cpp).
inline constexpr const char* kNotifySql = "SELECT pg_notify('taskmill_commits', '')";
// The same notification as a statement to send just before COMMIT (Pool::Transaction).
inline constexpr const char* kNotifyBeforeCommit = "NOTIFY taskmill_commits; ";

class PgStorage final : public Storage {
 public:
  explicit PgStorage(PostgresOptions options)
      : options_(std::move(options)),
        pool_(PoolOptions{options_.conninfo, options_.pool_size, options_.statement_timeout_ms}) {}

  // ---- setup and migrations (postgres_storage.cpp, migrate.cpp)
  Status Init();
  StorageCapabilities Capabilities() const override;
  Result<SchemaMigration> Migrate() override;
  Result<SchemaMigration> ApplyMigrations();
  // ---- commit notifications (notify.cpp)
  std::unique_ptr<CommitWatch> WatchCommits(std::function<void()> on_commit) override;

  // ---- staged runs: a flow step's children before its finish (staged_runs.cpp)
  Status RunStage(const std::string& parent_queue, const std::string& parent_id, int attempt,
                  const std::vector<Run>& runs) override;
  Result<ChildOutcomePage> RunListChildOutcomes(const std::string& parent_id,
                                                const std::string& cursor, int limit) override;
  // Deletes the rows staged by attempts that are over (their parent no longer running
  // that attempt), a batch per transaction: at open, for attempts lost to a crash.
  Status SweepStaged();

  // ---- runs (runs.cpp)
  Result<std::vector<Run>> RunPut(RunPutParams params) override;
  Result<Run> RunGet(const std::string& id, const std::string& queue) override;
  Result<RunPage> RunList(const RunFilter& f) override;
  Status RunRemove(const std::string& id, const std::string& queue) override;
  Result<std::vector<Run>> RunPutScheduled(std::vector<Run> runs,
                                           const LeaderFence& fence) override;
  Result<std::optional<Run>> RunLatestOfTask(const std::string& task,
                                             const std::optional<std::string>& account) override;
  Result<int64_t> RunPrune(int keep) override;
  // Retention by age: whole monthly partitions dropped (retention.cpp).
  Result<HistoryPruned> RunPruneOlderThan(TimePoint before, TimePoint now) override;
  // ---- operator changes of one run (transitions.cpp)
  Result<Run> RunCancel(const std::string& id, const std::string& queue, TimePoint now) override;
  Result<Run> RunMakeDue(const std::string& id, const std::string& queue, TimePoint now) override;
  Result<Run> RunRetry(const std::string& id, const std::string& queue, TimePoint now) override;
  Result<Run> RunReopen(const std::string& id, const std::string& queue,
                        const std::vector<std::string>& retry,
                        TimePoint now) override;  // reopen.cpp
  Status RunProgress(const std::string& id, const std::string& queue, int attempt,
                     const Progress& p) override;

  // ---- claims, heartbeats, starts, expiry (claims.cpp, caps.cpp)
  Result<std::vector<ClaimedRun>> RunTake(const RunTakeParams& p) override;
  Status QueueSetConcurrency(const std::string& queue, int limit) override;
  // The claim when concurrency caps are set (caps.cpp).
  static Status TakeCapped(Connection& c, const RunTakeParams& p, std::vector<ClaimedRun>& out);
  Result<std::vector<bool>> RunHeartbeatBatch(const std::vector<RunHeartbeat>& beats) override;
  Status RunStartBatch(const std::vector<RunStart>& starts) override;
  Result<std::vector<Run>> RunListExpired(TimePoint now, int limit) override;
  Result<std::vector<Run>> RunReleaseUnstarted(TimePoint now, int limit) override;
  // ---- generations of the hot table (generations.cpp)
  // One rotation step if one is due (`force`: whether due or not); nothing when another
  // node is rotating. MaybeRotateHotTable: a step (and AnalyzeGenerations) at most
  // every second per process, from the claims.
  Result<HotRotation> RotateHotTable(bool force);
  void MaybeRotateHotTable();
  // ANALYZE of the generations that filled since their statistics were taken.
  Status AnalyzeGenerations();
  // ---- finishes (finishes.cpp)
  Result<std::vector<RunFinishResult>> RunFinishBatch(
      const std::vector<RunFinish>& finishes) override;

  // ---- tallies and overviews (tallies.cpp)
  Result<StorageStats> RunStats(const std::optional<std::string>& account) override;
  Result<int64_t> RunCountLive(const std::string& task) override;
  Result<PendingSplit> RunPendingSplit(const std::optional<std::string>& account, TimePoint now,
                                       int64_t limit) override;
  Result<std::vector<QueueStats>> QueueList(TimePoint now,
                                            const std::optional<std::string>& account) override;

  // ---- catalog: queues, tasks, leader, state, tokens (catalog.cpp)
  Status QueueSetPaused(const std::string& queue, bool paused) override;
  Status TaskUpsert(const TaskDef& task) override;
  Result<std::vector<TaskDef>> TaskList() override;
  Result<TaskDef> TaskGet(const std::string& name) override;
  Status TaskSetEnabled(const std::string& name, bool enabled) override;
  Status TaskRemove(const std::string& name) override;
  Result<bool> LeaderAttemptElect(const std::string& name, const std::string& holder, TimePoint now,
                                  Duration ttl) override;
  Status LeaderResign(const std::string& name, const std::string& holder) override;
  Result<std::optional<LeaderLease>> LeaderGet(const std::string& name) override;
  // ---- runners of the cluster (runners.cpp)
  Status RunnerBeat(const RunnerInfo& runner) override;
  Result<std::vector<RunnerInfo>> RunnerList(TimePoint now, Duration forget_after) override;
  Result<std::optional<std::string>> StateGet(const std::string& key) override;
  Status StatePut(const std::string& key, const std::string& value) override;
  Status TokenCreate(const ApiToken& token) override;
  Result<std::vector<ApiToken>> TokenList() override;
  Status TokenRemove(const std::string& name) override;

  // ---- files and bulk checkpoints (files.cpp)
  Status FileCreate(const FileCreateParams& p) override;
  Status FileAppend(const std::string& id, int64_t chunk, std::string_view bytes) override;
  Result<FileInfo> FileGet(const std::string& id) override;
  Status FileReadChunkInto(const std::string& id, int64_t chunk, std::string* out) override;
  Status FileRemove(const std::string& id) override;
  Result<int64_t> FilePruneStaged(TimePoint created_before) override;
  Status RunCheckpointSave(const RunCheckpoint& c) override;
  Result<std::optional<StoredCheckpoint>> RunCheckpointGet(const std::string& id,
                                                           const std::string& queue) override;

  // ---- helpers on a connection inside a transaction
  // The run by id (and queue when not empty), from the hot table or history.
  static Result<Run> GetOn(Connection& c, const std::string& id, const std::string& queue,
                           bool for_update = false, bool* in_history = nullptr);
  // Deletes a run wherever it is, with its key, launch key, files and checkpoint.
  static Status DeleteRun(Connection& c, const Run& run, bool in_history);
  static Result<FileInfo> FileOn(Connection& c, const std::string& id);
  static Status AppendChunks(Connection& c, const std::string& id, int64_t have, int64_t first,
                             const std::vector<std::string_view>& chunks,
                             const std::optional<boost::json::value>& meta);
  // Makes the history partitions for these instants (before the transaction that
  // moves runs there: a partition is made in a transaction of its own).
  Status EnsureMonths(const std::vector<int64_t>& part_ats);

  Pool& pool() { return pool_; }

 private:
  PostgresOptions options_;
  Pool pool_;
  SchemaMigration opened_migration_;
  std::mutex months_mu_;
  std::set<int64_t> months_;  // first instants of the partitions known to exist; guarded
  std::atomic<int64_t> next_rotation_check_{0};  // steady_clock ticks
};

// The batch statements of finishes (finishes.cpp), heartbeats and starts (claims.cpp),
// named so that the tests can read their plans.
const std::string& FinishSql();
const std::string& HeartbeatSql();
const std::string& StartSql();

}  // namespace taskmill::postgres
