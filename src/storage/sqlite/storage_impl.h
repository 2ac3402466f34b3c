// storage_impl.h — the SQLite backend's class, shared by the files that define its
// methods by subject (see each section). Internal to src/storage/sqlite.
#pragma once

#include <taskmill/storage.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "storage/sqlite/commit_bell.h"
#include "storage/sqlite/holder_locks.h"
#include "storage/sqlite/log_space.h"
#include "storage/sqlite/rows.h"
#include "storage/sqlite/sqlite_db.h"
#include "storage/sqlite/sqlite_storage.h"
#include "storage/sqlite/tallies.h"

namespace taskmill::sqlite {
namespace json = boost::json;

// One write operation's view of the writer's transaction.
struct Tx {
  Connection& db;
  TallyDeltas deltas;
  // What the earlier writes of the same transaction changed: run_tallies holds it
  // only after the commit.
  const TallyDeltas* earlier = nullptr;
  // Runs this write stored as follow-ups or released staged runs
  // (RunFinishResult::may_have_stored_runs).
  int64_t runs_stored = 0;
  // (run id, attempt) of the running attempts this write stopped (a cancel, a flow's
  // stop): once it commits, the runs they staged are deleted (SweepStaged).
  std::vector<std::pair<std::string, int64_t>> stopped;
  // (run id, attempt) of the finishes whose staged runs this write began to release:
  // once it commits, the writer releases the rest (ReleaseTheRest).
  std::vector<std::pair<std::string, int64_t>> releasing;
};

// Steps `stmt`, a bound `DELETE FROM runs ... RETURNING queue, task, status,
// account_id`, taking each deleted run off the tallies (the triggers take its files
// and checkpoint); answers how many runs went. One home for RunPrune and retention.
Result<int64_t> DeleteReturningRuns(Tx& tx, Statement& stmt);

// Where a stored run is and what it is: enough to move its tally.
struct RunKey {
  std::string queue;
  std::string task;
  RunStatus status;
  std::string account_id;
};

class SqliteStorage final : public Storage {
 private:
  struct PendingWrite {
    std::function<Status(Tx&)> fn;
    bool durable;
    std::promise<Status> done;
    bool detached = false;  // WriteDetached: no one waits; the writer deletes it
    bool claim = false;     // a claim (RunTake): run after the other writes of its commit
  };
  struct Unsynced {
    PendingWrite* write;
    Status result;
  };

 public:
  explicit SqliteStorage(SqliteOptions options) : options_(std::move(options)) {}

  // ---- setup: opening, pragmas, migrations, watches (sqlite_storage.cpp)
  Status Init();
  std::unique_ptr<CommitWatch> WatchCommits(std::function<void()> on_commit) override;
  StorageCapabilities Capabilities() const override;
  // The versions before are those found when this storage was opened (Init migrated).
  Result<SchemaMigration> Migrate() override;

  // ---- the commit pipeline: writer, syncer, checkpoint threads, readers (commit_pipeline.cpp)
  ~SqliteStorage() override;
  static int AfterWalCommit(void* self, sqlite3* db, const char*, int log_pages);
  void NoteShortOfSpace();
  // Sets journal_size_limit to LogSpace::LogBound when that changed; between commits.
  void ApplyLogBound();
  void CheckpointLoop();
  Status Write(std::function<Status(Tx&)> fn, bool durable = true);
  // A claim's write: not durable, and run after the other writes that share its
  // commit, so that it sees the room their finishes free in a capped queue and the
  // runs they store (a flow's children and successors). The writes of one commit
  // come from threads none of which has been answered yet: any order of them is one
  // they could have had.
  Status WriteClaim(std::function<Status(Tx&)> fn);
  void WriteDetached(std::function<Status(Tx&)> fn);
  // A detached write that can wait: the writer takes it once no other write has come
  // for kQuietFor, or once `since` is kQuietAtMost ago (then as WriteDetached does).
  // For clean-up (SweepStaged): queued behind a burst of claims and finishes, it took
  // the writer's gaps between them, which the runners' next batch then waited for.
  void WriteWhenQuiet(std::function<Status(Tx&)> fn, std::chrono::steady_clock::time_point since);
  static constexpr std::chrono::milliseconds kQuietFor{2};
  static constexpr std::chrono::seconds kQuietAtMost{10};
  // Queues `w` for the writer thread and waits for its answer.
  Status Queue(PendingWrite& w);
  // Queues writes in this order without waiting (each answers through its `done`): the
  // writer takes them into one commit. kUnavailable when the storage is closing.
  Status QueueTogether(std::initializer_list<PendingWrite*> writes);
  void WriterLoop();
  void SyncLoop();
  Status SyncLog() const;
  // While one lives, the syncer flushes the log every kFlushEvery (under
  // synchronous=full): for writes that append much of it, such as the commits that
  // release a step's 100,000 staged children (80 MB of log). The next durable commit's
  // sync then flushes only what came since the last flush, not all of it at once.
  class LogFlushedMeanwhile {
   public:
    explicit LogFlushedMeanwhile(SqliteStorage& storage);
    ~LogFlushedMeanwhile();
    LogFlushedMeanwhile(const LogFlushedMeanwhile&) = delete;
    LogFlushedMeanwhile& operator=(const LogFlushedMeanwhile&) = delete;

   private:
    SqliteStorage& storage_;
  };
  static constexpr std::chrono::milliseconds kFlushEvery{5};
  Status OpenLogForSync();
  void CommitBatch(const std::vector<PendingWrite*>& batch, std::vector<Status>& results);
  Result<std::unique_ptr<Connection>> AcquireReader();
  void ReleaseReader(std::unique_ptr<Connection> c);
  // Runs `read` on a connection of the reader pool and hands the connection back;
  // answers what `read` answers (a Status or a Result), or why no reader was had.
  template <typename ReadFn>
  auto WithReader(ReadFn&& read) -> decltype(read(std::declval<Connection&>())) {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    auto answer = read(**reader);
    ReleaseReader(std::move(*reader));
    return answer;
  }

  // ---- runs: put, get, list, remove, operator changes, prune (runs.cpp)
  Result<std::vector<Run>> RunPut(RunPutParams params) override;
  Result<Run> RunGet(const std::string& id, const std::string& queue) override;
  Result<RunPage> RunList(const RunFilter& f) override;
  Status RunRemove(const std::string& id, const std::string& queue) override;
  Result<Run> RunCancel(const std::string& id, const std::string& queue, TimePoint now) override;
  Result<Run> RunMakeDue(const std::string& id, const std::string& queue, TimePoint now) override;
  Result<Run> RunRetry(const std::string& id, const std::string& queue, TimePoint now) override;
  Result<Run> RunReopen(const std::string& id, const std::string& queue,
                        const std::vector<std::string>& retry,
                        TimePoint now) override;  // reopen.cpp
  Result<Run> Transition(const std::string& id, const std::string& queue, TimePoint now,
                         RunStatus to, const std::function<Status(RunStatus)>& check,
                         const char* update_sql, bool end_attempt = false);
  Status RunProgress(const std::string& id, const std::string& queue, int attempt,
                     const Progress& p) override;
  Result<int64_t> RunPrune(int keep) override;
  // Retention by age, in batches (retention.cpp).
  Result<HistoryPruned> RunPruneOlderThan(TimePoint before, TimePoint now) override;
  Result<std::optional<Run>> RunLatestOfTask(const std::string& task,
                                             const std::optional<std::string>& account) override;
  Result<std::vector<Run>> RunPutScheduled(std::vector<Run> runs,
                                           const LeaderFence& fence) override;
  static Result<Run> GetOn(Connection& db, const std::string& id, const std::string& queue);
  static Status TakenId(const Run& run);
  static Result<RunKey> FindKey(Connection& db, const std::string& id, const std::string& queue);
  static Status DeleteRun(Tx& tx, const std::string& id, const RunKey& key);

  // ---- claims: take, heartbeat, finish, start, expiry (claims.cpp)
  Result<std::vector<ClaimedRun>> RunTake(const RunTakeParams& p) override;
  Result<std::vector<RunFinishResult>> RunFinishThenTake(
      const std::vector<RunFinish>& finishes, const RunTakeParams& take,
      const std::function<void(Result<std::vector<ClaimedRun>>)>& on_taken) override;
  // The writes of RunTake and RunFinishBatch, answering into `out` (which, like the
  // arguments, must outlive the write).
  std::function<Status(Tx&)> TakeWrite(const RunTakeParams& p, std::vector<ClaimedRun>& out);
  std::function<Status(Tx&)> FinishWrite(const std::vector<RunFinish>& finishes,
                                         std::vector<RunFinishResult>& out);
  static Status TakeFromQueues(Tx& tx, const RunTakeParams& p, std::vector<ClaimedRun>& out);
  static Status EarliestPendingRunAt(Tx& tx, const RunTakeParams& p, TimePoint* out);
  static Status ClaimQueues(Tx& tx, const RunTakeParams& p, std::vector<std::string>& queues);
  static void MergeClaimOrder(std::vector<Run>& runs, std::vector<int64_t>& seqs, size_t max);

  // ---- concurrency caps of claims (caps.cpp)
  Status QueueSetConcurrency(const std::string& queue, int limit) override;
  // The capped tasks, each with how many more of its runs may run now.
  static Status TaskRooms(Tx& tx, std::vector<std::pair<std::string, int64_t>>& rooms);
  // Runs running now of one queue (by_queue) or one task, by the tallies and the
  // changes of the earlier writes of this transaction.
  static Result<int64_t> RunningNow(Tx& tx, bool by_queue, const std::string& name);
  Result<std::vector<bool>> RunHeartbeatBatch(const std::vector<RunHeartbeat>& beats) override;
  Result<std::vector<RunFinishResult>> RunFinishBatch(
      const std::vector<RunFinish>& finishes) override;
  Result<std::vector<Run>> RunListExpired(TimePoint now, int limit) override;
  Result<std::vector<Run>> RunReleaseUnstarted(TimePoint now, int limit) override;
  Status RunStartBatch(const std::vector<RunStart>& starts) override;
  Status RunHandBack(const std::vector<RunStart>& claims) override;
  Result<std::string> DeadRunners(Connection& db);

  // ---- staged runs: a flow step's children before its finish (staged_runs.cpp)
  Status RunStage(const std::string& parent_queue, const std::string& parent_id, int attempt,
                  const std::vector<Run>& runs) override;
  Result<ChildOutcomePage> RunListChildOutcomes(const std::string& parent_id,
                                                const std::string& cursor, int limit) override;
  // Releases (into runs, tallied) the runs the finished attempt staged, as f.staged
  // says, and queues the deletion of its staged rows (SweepStaged).
  Status ApplyStaged(Tx& tx, const RunFinish& f);
  // Staged runs released per commit. A step's 100,000 children released in its
  // finish's one commit wrote 80 MB of log at once: that commit's sync, then the
  // checkpoint of it, held up the commits after it for 200-300 ms, the first finishes
  // of those children among them (docs/BENCHMARKS.md).
  static constexpr int64_t kReleasedPerCommit = 4096;
  // Releases the runs that `parent_id`'s attempt staged after seq `after`, up to
  // kReleasedPerCommit of them; answers whether some are left.
  Result<bool> ReleaseStaged(Tx& tx, const std::string& parent_id, int64_t attempt, int64_t after);
  // The next part of a release under way (staged_releases); false once it is done,
  // when its row goes and its staged rows are swept (or when none was under way).
  Result<bool> ReleaseMore(Tx& tx, const std::string& parent_id, int64_t attempt);
  // Every release under way of flow `flow_id` (every one: empty), to its end: before
  // a flow's stop stops their runs, and at the open after a crash.
  Status ReleaseAllOf(Tx& tx, const std::string& flow_id);
  // On the writer thread, after the commit that began them (Tx::releasing): the rest
  // of each release, a commit per part, before the writer takes any other write; the
  // log is flushed meanwhile (LogFlushedMeanwhile). A part that fails is left under
  // way (its row stays): the next commit's turn tries again, and the next open ends it.
  void ReleaseTheRest();
  std::vector<std::pair<std::string, int64_t>> releasing_;  // the writer thread's
  // Deletes the rows staged under `parent_id` by its attempts up to `up_to_attempt`,
  // in writes of a thousand rows each that wait for a quiet writer (WriteWhenQuiet),
  // the first asked for at `since`.
  void SweepStaged(const std::string& parent_id, int64_t up_to_attempt,
                   std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now());

  // ---- what an accepted finish brings into its commit (follow_ups.cpp)
  // Whether run `id` and all its children are final, a release under way counting as
  // live (RunFinishResult::parent_over).
  static Result<bool> ParentOver(Connection& db, const std::string& id);
  // Sets RunFinishResult::parent_over of the accepted finishes of children.
  static Status TellParentsOver(Tx& tx, const std::vector<RunFinish>& finishes,
                                std::vector<RunFinishResult>& out);
  // What the finishes of one batch carry alike: each child of a step carries its
  // step's successors and its flow's settle when idle, which are applied once, at the
  // last finish of the batch that carries them, when one of their carriers was
  // accepted. Conditions read there see every earlier finish of the batch: a step
  // over (or a flow idle) at an earlier carrier is still over at the last.
  // A follow-up to apply, with the instant it is stored at when a finish shares it
  // (RunFinish::shared_follow_ups), else as it is.
  struct FollowUpAt {
    const RunFollowUp* up = nullptr;
    std::optional<TimePoint> at;
  };
  struct SharedFollowUps {
    explicit SharedFollowUps(const std::vector<RunFinish>& finishes);
    // Key -> the last finish carrying it; and, for an accepted carrier that was not
    // the last, what it carried (follow-ups with their instant), until the last carrier
    // applies it.
    std::unordered_map<std::string, size_t> last;
    std::unordered_map<std::string, FollowUpAt> follow_ups;
    std::unordered_map<std::string, std::pair<const RunSettle*, size_t>> settles;
  };
  // Applies what finish `i` of `finishes`, accepted or not, brings into the commit.
  Status ApplyFinishFollowUps(Tx& tx, const std::vector<RunFinish>& finishes, size_t i,
                              bool accepted, SharedFollowUps& shared,
                              std::vector<RunFinishResult>& out);
  Status ApplyFollowUps(Tx& tx, const std::vector<FollowUpAt>& ups, const RunSettle* settle,
                        TimePoint finished_at, bool* settled);
  Status StopFlowRuns(Tx& tx, const std::string& flow_id, const std::string& error, TimePoint now);

  // ---- status tallies (tallies.cpp)
  static Status ApplyTallies(Connection& db, const TallyDeltas& d);
  Result<StorageStats> RunStats(const std::optional<std::string>& account) override;
  Result<int64_t> RunCountLive(const std::string& task) override;
  Result<PendingSplit> RunPendingSplit(const std::optional<std::string>& account, TimePoint now,
                                       int64_t limit) override;
  static Status ReadLiveTallies(Connection& db, const std::string* account,
                                std::map<std::string, QueueStats>& by_name);
  static Result<int64_t> PendingTally(Connection& db, const std::string& queue);
  static Status QueuesWithPendingRuns(Tx& tx, std::vector<std::string>& queues);

  // ---- catalog: holders, queues, tasks, leader, state, tokens (catalog.cpp)
  Status HolderAttach(const std::string& holder) override;
  void HolderDetach(const std::string& holder) override;
  Status QueueSetPaused(const std::string& queue, bool paused) override;
  Result<std::vector<QueueStats>> QueueList(TimePoint now,
                                            const std::optional<std::string>& account) override;
  Result<std::vector<QueueStats>> AccountQueueList(const std::string& account);
  Status TaskUpsert(const TaskDef& task) override;
  Result<std::vector<TaskDef>> TaskList() override;
  Result<TaskDef> TaskGet(const std::string& name) override;
  Status TaskSetEnabled(const std::string& name, bool enabled) override;
  Status TaskRemove(const std::string& name) override;
  static Result<TaskDef> ParseTask(std::string_view text);
  static Result<TaskDef> GetTask(Connection& db, const std::string& name);
  static Status PutTask(Connection& db, const TaskDef& task);
  Result<bool> LeaderAttemptElect(const std::string& name, const std::string& holder, TimePoint now,
                                  Duration ttl) override;
  Status LeaderResign(const std::string& name, const std::string& holder) override;
  Status RunnerBeat(const RunnerInfo& runner) override;
  Result<std::vector<RunnerInfo>> RunnerList(TimePoint now, Duration forget_after) override;
  Result<std::optional<LeaderLease>> LeaderGet(const std::string& name) override;
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
  Status FileReadChunkTo(const std::string& id, int64_t chunk, char* buf, size_t cap,
                         size_t* size) override;
  Status FileRemove(const std::string& id) override;
  Result<int64_t> FilePruneStaged(TimePoint created_before) override;
  Status RunCheckpointSave(const RunCheckpoint& c) override;
  Result<std::optional<StoredCheckpoint>> RunCheckpointGet(const std::string& id,
                                                           const std::string& queue) override;
  static Result<FileInfo> FileOn(Connection& db, const std::string& id);
  template <typename Place>
  Status ReadChunk(const std::string& id, int64_t chunk, Place place);
  template <typename Place>
  static Status ReadBlob(Connection& db, int64_t rowid, Place& place);
  static Status AppendChunks(Connection& db, const std::string& id, int64_t have, int64_t first,
                             const std::vector<std::string_view>& chunks,
                             const std::optional<json::value>& meta);
  static Status CommitFiles(Connection& db, const std::vector<Run>& requested,
                            const std::vector<Run>& stored, const std::vector<bool>& inserted,
                            const std::vector<std::string>& files);

 private:
  template <typename BindFn>
  Result<std::vector<Run>> Query(const std::string& sql, BindFn bind) {
    std::vector<Run> out;
    Status st = WithReader([&](Connection& db) -> Status {
      auto stmt = db.Prepare(sql);
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      bind(**stmt);
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        out.push_back(ReadRun(**stmt));
      }
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return out;
  }

  SqliteOptions options_;
  HolderLocks holders_{options_.path + ".holders"};  // beside the database
  SchemaMigration opened_migration_;                 // what Init's migration found and did
  std::unique_ptr<Connection> writer_db_;            // used by the writer thread only (after Init)
  std::unique_ptr<LogSpace> log_space_;              // set by Init
  int64_t applied_log_bound_ = -1;                   // journal_size_limit; writer thread only
  std::thread writer_;

  // Durable writes committed and waiting for the log's fsync (synchronous=full).
  std::thread syncer_;
  CommitBell bell_;  // rung after each commit of the writer (commit_bell.h)
  int log_fd_ = -1;  // the write-ahead log, for SyncLoop; -1 when commits sync themselves
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::vector<Unsynced> unsynced_;  // guarded by sync_mu_
  bool sync_stopping_ = false;      // guarded by sync_mu_
  int flushed_meanwhile_ = 0;       // LogFlushedMeanwhile alive; guarded by sync_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PendingWrite*> queue_;  // guarded by mu_
  // WriteWhenQuiet's writes, each with the instant it counts from; guarded by mu_.
  std::deque<std::pair<PendingWrite*, std::chrono::steady_clock::time_point>> quiet_queue_;
  bool stopping_ = false;  // guarded by mu_

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Connection>> readers_;  // guarded by readers_mu_

  std::thread checkpointer_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;  // guarded by checkpoint_mu_
  bool checkpoint_stopping_ = false;
};

}  // namespace taskmill::sqlite
