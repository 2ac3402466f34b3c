// taskmill/storage.h — the storage contract every backend implements.
//
// Storage holds runs (with their attempts), task definitions, queue state, the leader
// lease and files. It is the only component that touches the database; SQL lives only
// inside the backends (one folder each under src/storage/). Every backend passes the same
// conformance suite (taskmill/testing/storage_conformance.h, installed as the test library
// taskmill::storage_conformance). docs/storage.md explains the contract method by method;
// Engine::Open also takes a Storage the application built.
//
// Thread safety: every method may be called concurrently from any thread.
// Durability: a method that writes returns only after the commit that holds the write
// (a backend may share one commit among the writes that arrive meanwhile).
// Time: storage never reads a clock; callers pass `now`.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/model.h>
#include <taskmill/status.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace taskmill {

struct RunPutParams {
  std::vector<Run> runs;  // ids must be set; created_at and run_at too
  ConflictMode conflict = ConflictMode::kError;
  // Staged files (FileCreate) that the runs take over in the same commit: each
  // becomes owned by the run whose input_file or output_file names it, and is deleted
  // with that run. A file that is not staged, or that no run of the batch names,
  // fails the whole call with kFailedPrecondition and nothing is stored. This is how
  // a bulk run and its uploaded input appear together or not at all.
  std::vector<std::string> commit_files;
};

struct RunFilter {
  std::string id;  // empty: any (one id may be used in several queues)
  std::optional<RunStatus> status;
  std::string task;  // empty: any
  std::string function;
  std::string queue;
  std::string account_id;
  std::string parent_id;                    // empty: any
  std::string flow_id;                      // empty: any
  std::optional<TimePoint> created_after;   // created_at >= this
  std::optional<TimePoint> created_before;  // created_at < this
  // The derived states of pending runs (docs/api.md: scheduled, retrying, pending_due):
  // run_at against a time, and whether an attempt was already made.
  std::optional<TimePoint> run_at_after;      // run_at > this
  std::optional<TimePoint> run_at_not_after;  // run_at <= this
  std::optional<bool> attempted;              // attempt > 0 (true) or == 0 (false)
  // Search: runs whose args, data or error contain `text` (ASCII letters in any case),
  // among the `text_window` most recent runs only (by seq), so that a search reads a
  // bounded number of rows however many runs are stored. Empty: no search.
  std::string text;
  int64_t text_window = 50000;
  std::string cursor;  // opaque keyset cursor from a previous page; empty: first page
  int limit = 50;      // 1..1000
};

struct RunPage {
  std::vector<Run> runs;    // newest first; attempts included
  std::string next_cursor;  // empty when there is no further page
};

// What a claimed run is to its queue's cap (QueueSetConcurrency), as a backend that
// claims past caps tells it (RunTakeParams::caps): the cap counts the runs holding a
// slot of it.
enum class CapClaim : uint8_t {
  kNone,  // its queue has no cap (or the backend does not say)
  kSlot,  // it holds one of its queue's slots, started or claimed ahead
  // Claimed ahead past its queue's cap, holding no slot of it (a backend claims a
  // bounded number of these per queue; SQLite three times the cap): its runner
  // starts it only in the slot of a run of the same queue holding one that the
  // runner finished, writing its start (RunStartBatch) in the commit of that finish
  // or an earlier one, and hands back (RunHandBack) one it cannot start so. Then a
  // claim ahead of a flow's capped children waits in the runner for the next child
  // to end, instead of for the commit that frees its slot.
  kPastCap,
};

// One child of a run as a flow's next step reads it (Storage::RunListChildOutcomes):
// no more of the run than that needs.
struct ChildOutcome {
  std::string id;  // the child run's id
  RunStatus status = RunStatus::kPending;
  // The id its step gave it (ChildKeyOf: its args' child_id), by which the next
  // step knows its result.
  std::string child_key;
  boost::json::value result;  // null when it has none
};

struct ChildOutcomePage {
  std::vector<ChildOutcome> children;  // oldest stored first
  std::string next_cursor;             // empty when there is no further page
};

// The child_key of a flow's child run whose args are `args` and id `run_id`
// (ChildOutcome): the child_id in its args, a string as it is and any other JSON
// value serialized (the integer 7 is "7"); `run_id` when there is none (absent or
// null). A backend that reads child_id apart from the args applies the same rule.
std::string ChildKeyOf(const boost::json::value& args, std::string_view run_id);

struct RunTakeParams {
  std::string runner;               // runner id recorded on the attempt
  std::vector<std::string> queues;  // empty: every queue
  int max = 1;                      // claim at most this many
  TimePoint now{};
  // How many of the runs claimed (the first ones, in claim order, of those not
  // claimed past a cap) start at once: a free slot takes them. The rest are claimed
  // ahead: they wait in the runner for a slot and are stored as not started until
  // RunStartBatch (or their finish) says otherwise. A claim that never started goes
  // back to pending with no attempt used (RunReleaseUnstarted, RunHandBack). Default:
  // every run claimed starts at once.
  int start = std::numeric_limits<int>::max();
  // Out, optional: when set and fewer than `max` runs were claimed (every due run of
  // these queues was), the backend may store here the earliest run_at of the pending
  // runs left in the unpaused queues (all later than `now`), or TimePoint::max() when
  // none is left, so that the caller sleeps until exactly then. A backend that cannot
  // tell cheaply leaves it unchanged.
  TimePoint* next_run_at = nullptr;
  // With `queues` named: also every queue whose name starts with one of these (the
  // queues of the capped children of a flow served, flows/caps.h), paused and capped
  // as a named queue is. Ignored when `queues` is empty (every queue is served).
  std::vector<std::string> queue_prefixes;
  // Out, optional: what each run of the answer is to its queue's cap (CapClaim), in
  // the answer's order. Set, it lets a backend claim runs past a capped queue's room
  // (see CapClaim::kPastCap); unset, none is. A backend that claims nothing past a cap
  // may leave it empty.
  std::vector<CapClaim>* caps = nullptr;
  // Out, optional: set, a backend may answer each run's args and data as the JSON
  // text it stored (a JSON string holding it), and then sets it true: the caller
  // parses them (ParseRunJsonText) before it reads them. The runner has each parsed
  // by the worker that runs it: parsed one after the other before any could start,
  // a claim's hundreds of short runs waited a third of the pause between two batches
  // of a flow's children.
  bool* json_as_text = nullptr;
};

// Parses a claimed run's args and data that a backend answered as text
// (RunTakeParams::json_as_text); text that is not JSON gives [] and {}.
void ParseRunJsonText(Run& run);

// A claimed-ahead run that a slot took (Storage::RunStartBatch).
struct RunStart {
  std::string queue;
  std::string id;
  int attempt = 0;  // fencing token of the claim
};

// A run claimed by a runner. `run.attempt` is the fencing token: heartbeats and
// finishes must present it.
using ClaimedRun = Run;

struct RunHeartbeat {
  std::string queue;
  std::string id;
  int attempt = 0;
  TimePoint lease_until{};
};

// A run stored in the same commit as an accepted finish (flows: a step's successors,
// its children), so that a crash can never fall between the two. It is stored only
// when its conditions hold at that point of the commit (the finish and the follow-ups
// before it applied); a (queue, id) already stored is left as it is, so that a step
// run again after a crash adds nothing twice. Which runs follow is the flow engine's
// decision (src/flows/); the commit only decides whether they are due yet, which makes
// fan-in safe when two parents finish at once.
struct RunFollowUp {
  Run run;  // ids, created_at and run_at set
  // Runs (found by id, in any queue) that must each be final, with every run whose parent_id is one
  // of them (its children, in any queue) final too. Empty: no condition.
  std::vector<std::string> after;
  // A run (by id, in any queue) that must not be final (a flow's root: a stopped or failed
  // flow starts nothing more). Empty: no condition.
  std::string while_live;
};

// What an accepted finish does with the runs staged under its run (Storage::RunStage).
enum class StagedRuns {
  kKeep,     // leaves them staged
  kRelease,  // stores them (pending, claimable), before the follow-ups
  kDrop,     // deletes them
};

// Ends a run that no runner holds (a flow's root) in the same commit as a finish.
struct RunSettle {
  std::string queue;
  std::string id;
  RunStatus status = RunStatus::kCompleted;  // a final status
  boost::json::value result = nullptr;
  std::string error;
  std::string error_kind;
  // Settle only when no run whose flow_id is `id` (the run itself apart) is pending or
  // running once the follow-ups are stored: the flow is over.
  bool when_idle = true;
  // First stop every pending or running run whose flow_id is `id` (the run itself
  // apart), as RunCancel does but with `error`: a failed flow stops what is left.
  bool stop_live = false;
  // Do nothing when the run is already final (stopped by an operator meanwhile).
  // Stored (a (queue, id) already stored is left as it is) when, and only when, the
  // settle ends its run: the flow's callback for flow.over, in the commit that ends it.
  std::vector<Run> then;
};

// The end of one attempt, as decided by the runner (or the sweeper).
struct RunFinish {
  std::string queue;
  std::string id;
  int attempt = 0;                           // fencing token: rejected unless still current
  RunStatus status = RunStatus::kCompleted;  // new run status; kPending means retry
  TimePoint finished_at{};                   // end of the attempt
  TimePoint run_at{};                        // when status is kPending: the retry instant
  boost::json::value result = nullptr;
  std::string error;
  std::string error_kind;
  std::string outcome;  // the attempt's outcome word
  std::string output;   // captured output of the attempt
  std::optional<Progress> progress;
  // The run as the claim of this attempt returned it, or null. A storage may take the
  // task, runner, start and earlier attempts from it instead of reading the stored
  // run: while the attempt is current (the fence), they are what is stored. It must
  // outlive the call.
  const Run* claimed = nullptr;
  // Applied in the same commit when, and only when, the finish is accepted: the
  // staged runs' fate, the follow-ups in order (each under its conditions), then the
  // settle.
  StagedRuns staged = StagedRuns::kKeep;
  std::vector<RunFollowUp> follow_ups;
  // Follow-ups that many finishes carry alike (each child of a flow's step carries
  // its step's successors), applied after follow_ups as they are, each stored with
  // created_at and run_at this finish's finished_at. Shared rather than copied: a copy
  // per child was half of what a child's finish cost its worker.
  std::shared_ptr<const std::vector<RunFollowUp>> shared_follow_ups;
  std::optional<RunSettle> settle;
};

// Calls fn(up, shared) for each follow-up of `f` in the order they apply: its own
// (shared false), then the shared ones (true: stored at f.finished_at).
template <typename Fn>
void ForEachFollowUp(const RunFinish& f, Fn&& fn) {
  for (const RunFollowUp& up : f.follow_ups) fn(up, false);
  if (f.shared_follow_ups) {
    for (const RunFollowUp& up : *f.shared_follow_ups) fn(up, true);
  }
}

// The follow-ups of `f` as they are stored: its own, then copies of the shared ones
// at f.finished_at. For a backend to which a copy per finish costs little.
std::vector<RunFollowUp> FollowUpsAsStored(const RunFinish& f);

inline bool HasFollowUps(const RunFinish& f) {
  return !f.follow_ups.empty() || (f.shared_follow_ups && !f.shared_follow_ups->empty());
}

struct RunFinishResult {
  bool accepted = false;  // false: the attempt was no longer current (stale fence)
  bool settled = false;   // the finish's settle ended its run (RunSettle)
  // False when the backend knows that the commit stored no run on this finish's behalf
  // (its follow-ups held back by their conditions, no staged run released), so that a
  // runner does not claim again for nothing (FinishMayHaveStoredRuns). A backend that
  // does not tell leaves it true: that costs at most a claim that finds nothing.
  bool may_have_stored_runs = true;
  // For an accepted finish of a run with a parent (a flow's child): whether that
  // parent and every one of its children were final at this commit, where the backend
  // tells (SQLite does, for a finish that carries its claimed run). Told by the one
  // commit that ends the last child, so its flow event is told once, also when runners
  // of several processes end children at the same moment. Unset: the caller reads it
  // after the commit (flows::StepsAllOver).
  std::optional<bool> parent_over;
};

// Whether the commit of a finish may have stored runs that are due now (its follow-ups,
// its released staged runs): the runner that wrote it then claims again at once.
inline bool FinishMayHaveStoredRuns(const RunFinish& finish, const RunFinishResult& result) {
  return result.may_have_stored_runs &&
         (HasFollowUps(finish) || finish.staged == StagedRuns::kRelease);
}

struct StorageStats {
  std::map<RunStatus, int64_t> by_status;  // every status present, zeros included
  // Runs by task ("" for runs of no task) and status; only non-zero counts.
  std::map<std::string, std::map<RunStatus, int64_t>> by_task;
  int64_t total = 0;
};

// What Storage::RunPruneOlderThan removed.
struct HistoryPruned {
  int64_t runs = 0;  // finished runs removed, those of the periods below included
  // The periods removed whole, by the name the backend gives them (PostgreSQL: the
  // dropped partitions of runs_history), each with the runs it held.
  std::vector<std::pair<std::string, int64_t>> dropped;
  bool more = false;  // the call stopped at its bound; call again for the rest
};

// Pending runs split by when they run (RunPendingSplit): due now, scheduled (not due,
// never attempted) and waiting for a retry (not due, attempted before).
struct PendingSplit {
  int64_t due = 0;
  int64_t scheduled = 0;
  int64_t retrying = 0;
  int64_t counted = 0;  // pending runs read; fewer than there are when the limit bound
};

struct QueueStats {
  std::string queue;
  int64_t pending = 0;  // due or not
  int64_t running = 0;
  std::optional<TimePoint> oldest_pending_run_at;
  bool paused = false;
  int max_concurrency = 0;  // QueueSetConcurrency; 0: no cap
};

// A periodical launch key, so two schedulers never fire the same instant twice.
struct ScheduledLaunch {
  std::string task;
  TimePoint scheduled_at{};
};

// ---- API tokens ------------------------------------------------------------------
//
// Bearer tokens of the HTTP API. Only a hash of the secret is stored: the secret is
// shown once, when the token is made (api/auth.h).
struct ApiToken {
  std::string name;        // unique; how operators list and revoke it
  std::string account_id;  // the account it acts for; may be empty for an admin token
  bool admin = false;      // may act for any account and steer tasks, queues, tokens
  std::string hash;        // lower-case hex SHA-256 of the secret; unique
  TimePoint created_at{};

  friend bool operator==(const ApiToken&, const ApiToken&) = default;
};

// A leader lease as stored (Storage::LeaderGet).
struct LeaderLease {
  std::string holder;
  TimePoint until{};
  // The holder's tenure: 1 for the lease's first holder, one more each time the lease
  // changes holder (a take-over, or a take after a resignation); a renewal keeps it.
  // Writes that only a leader may make carry it (LeaderFence), so that a leader that
  // lost the lease without knowing it (a stalled process, a partition) stores nothing.
  int64_t term = 0;

  friend bool operator==(const LeaderLease&, const LeaderLease&) = default;
};

// The proof of leadership a leader's writes carry (Storage::RunPutScheduled): the
// lease's name and the term its holder read when it last took or renewed it.
struct LeaderFence {
  std::string lease;
  int64_t term = 0;
};

// A runner of the cluster as it last reported itself (Storage::RunnerBeat): a
// runner role of a `taskmill serve`, or a remote runner as the API node it talks to
// saw it. Beats come every few seconds, not with every run, so `running` is a recent
// figure, not an exact one.
struct RunnerInfo {
  std::string id;                   // unique among live runners; e.g. host:pid:suffix
  std::string kind = "local";       // "local" (a runner role) or "remote" (over HTTP)
  std::string host;                 // where it runs; for a remote one, the API node's
  int64_t pid = 0;                  // its process id; 0 when unknown (remote)
  std::vector<std::string> queues;  // the queues it serves; empty: every queue
  int capacity = 0;                 // slots
  int running = 0;                  // runs it holds
  TimePoint last_seen{};            // the beat's time

  friend bool operator==(const RunnerInfo&, const RunnerInfo&) = default;
};

// ---- files: CSV inputs and outputs of bulk runs ---------------------------------
//
// A file is a sequence of chunks (byte strings, at most a few hundred KiB each, in
// order), so that no one ever holds a whole file in memory. A file is either staged
// (being uploaded, owned by no run) or owned by a run; owned files are deleted with
// their run (RunRemove, RunPrune, RunPut with kOverwrite). Staged files that were
// never committed (an upload that died) are removed by FilePruneStaged.

struct FileCreateParams {
  std::string id;                         // unique; e.g. a UUIDv7
  std::string name;                       // the client's file name, for downloads
  std::string content_type = "text/csv";  // Default: text/csv
  TimePoint now{};                        // created_at
};

struct FileInfo {
  std::string id;
  std::string name;
  std::string content_type;
  int64_t size = 0;    // bytes in all chunks
  int64_t chunks = 0;  // number of chunks; they are numbered 0..chunks-1
  std::string run_id;  // owner; empty while staged
  std::string run_queue;
  // Opaque to storage: what the writer wants readers to know (bulk outputs keep
  // their column layout here). Default: an empty object.
  boost::json::value meta = boost::json::object();
  TimePoint created_at{};
};

// The progress of a bulk run, saved every `progress_every` rows by the attempt that
// runs it, so that after a crash the next attempt resumes instead of starting over.
// Saving is fenced like a finish (the attempt must still be current) and is atomic:
// counters, the appended output chunks and the opaque state land in one commit.
struct RunCheckpoint {
  std::string queue;
  std::string id;
  int attempt = 0;    // fencing token; the run must be running (or stopped by an
                      // operator during this very attempt, so that the output written
                      // up to the stop is kept)
  Progress progress;  // stored on the run, like RunProgress
  std::string state;  // opaque (the bulk layer stores JSON): input position, ...
  // The run's output file. Created (owned by the run) on first use; set as the run's
  // output_file. Empty: no output file change.
  std::string output_file;
  std::string output_name;                        // the file's name when it is created
  int64_t output_first_chunk = 0;                 // number of the first chunk below: must equal the
                                                  // file's chunk count (kFailedPrecondition if not)
  std::vector<std::string> output_chunks;         // appended in order
  std::optional<boost::json::value> output_meta;  // replaces the file's meta when set
  // Files of this run to delete in the same commit (an output being replaced).
  std::vector<std::string> remove_files;
  TimePoint now{};
};

struct StoredCheckpoint {
  int attempt = 0;  // the attempt that saved it
  std::string state;
  TimePoint saved_at{};
};

// A watch on commits (Storage::WatchCommits). Destroying it stops the calls, after
// waiting for one in progress to return.
class CommitWatch {
 public:
  virtual ~CommitWatch() = default;
};

// The schema versions a Storage::Migrate found and left.
struct SchemaMigration {
  int before = 0;
  int after = 0;
  std::vector<int> applied;  // the versions applied by this call, in order
};

// What a backend can do beyond what every backend must (Storage::Capabilities).
struct StorageCapabilities {
  // WatchCommits reports the commits of other processes (a watch on the database
  // file, LISTEN/NOTIFY, ...): runners rely on it to learn of runs they did not
  // create. False: WatchCommits returns nullptr, and runners poll for such runs.
  bool commit_notifications = false;
  // HolderAttach can tell when a holder's process has ended.
  bool holder_liveness = false;
  // RunStage and RunListChildOutcomes work (a flow's step then stages its children in
  // batches instead of carrying them all in its result). False: they answer
  // kFailedPrecondition, and flows carry children in results and args.
  bool staged_runs = false;
};

class Storage {
 public:
  virtual ~Storage() = default;

  virtual StorageCapabilities Capabilities() const { return {}; }

  // Brings the stored schema up to the one this build uses; applying it again
  // changes nothing. Opening a storage does it too, so `before` is the version found
  // when this Storage was opened and `applied` counts what opening applied. Backends
  // without a schema answer zeros. kFailedPrecondition for a store newer than this build.
  virtual Result<SchemaMigration> Migrate() { return SchemaMigration{}; }

  // --- commits of other processes -----------------------------------------
  // A capability: calls `on_commit` soon after a commit made through another Storage
  // on the same database (another process, typically) becomes visible, so that a
  // runner learns of runs it did not create without polling. It may also be called
  // for this Storage's own commits, and once for several commits; it is called on a
  // thread of the backend and must return quickly. nullptr when the backend cannot
  // tell (the caller then polls). How each backend watches: docs/storage.md, "Commits
  // of other processes". Capabilities().commit_notifications says whether it can.
  virtual std::unique_ptr<CommitWatch> WatchCommits(std::function<void()> on_commit) {
    (void)on_commit;
    return nullptr;
  }

  // --- runs ---------------------------------------------------------------
  // Stores runs in one commit. Returns the runs as stored, in input order (for
  // kIgnore, a duplicate answers the run already stored). With kError, a duplicate
  // (queue, id) fails the whole call with kConflict and nothing is stored.
  // Accounts: (queue, id) is unique across accounts, and a put never reads or changes
  // a stored run of another account (account_id differs): whatever the mode, such a
  // duplicate fails the whole call with kConflict, worded as for kError, so the
  // answer tells only that the id is taken (docs/concepts.md, "Accounts").
  virtual Result<std::vector<Run>> RunPut(RunPutParams params) = 0;
  // Finds a run by id; when `queue` is empty, in any queue. kNotFound when absent.
  virtual Result<Run> RunGet(const std::string& id, const std::string& queue = "") = 0;
  // Runs that match every set field of `filter` (empty strings and nullopt match
  // anything), newest stored first, with their attempts; at most filter.limit
  // (clamped to 1..1000) per page. next_cursor continues after the page: following
  // cursors visits every matching run once even while runs are stored meanwhile (new
  // ones are newer than the first page). A cursor that no listing returned is
  // kInvalidArgument.
  virtual Result<RunPage> RunList(const RunFilter& filter) = 0;
  // Deletes a finished or pending run, with the files it owns and its checkpoint.
  // kFailedPrecondition while running; kNotFound when absent.
  virtual Status RunRemove(const std::string& id, const std::string& queue = "") = 0;
  // Claims up to params.max due pending runs (run_at <= now) from unpaused queues,
  // highest priority first, then earliest run_at, then the earliest stored; sets them
  // running with runner = params.runner, started_at = now, a lease until now plus
  // each run's time_to_resolve, and increments `attempt` (the new fencing token).
  // Calls from concurrent runners never claim one run twice. Concurrency caps hold
  // across every runner sharing the storage: no run is claimed while its queue
  // (QueueSetConcurrency) or its task (TaskDef::max_concurrency of the stored task)
  // has as many runs running as its cap (claimed-ahead runs count, but for those
  // claimed past it: CapClaim::kPastCap), and a run held back so does not hold back
  // the runs after it. Answers the runs as
  // stored after the claim, in claim order. Need not wait for durability: a claim
  // lost to a crash only lets the run be claimed again.
  virtual Result<std::vector<ClaimedRun>> RunTake(const RunTakeParams& params) = 0;
  // Extends leases to each beat's lease_until. Returns, per heartbeat, whether the
  // attempt is still current (the run is running with that attempt number); false
  // tells the runner to stop it (cancelled, swept, or overwritten). Need not wait for
  // durability.
  virtual Result<std::vector<bool>> RunHeartbeatBatch(const std::vector<RunHeartbeat>& beats) = 0;
  // Ends attempts in one commit; a finish whose attempt is not current is rejected
  // (accepted = false) and changes nothing. An accepted finish appends the attempt to
  // the run's attempts (number, runner, started_at, finished_at, outcome — the status
  // word when empty —, error, output), sets status, result, error and error_kind,
  // keeps progress unless given, ends the lease and clears the runner. kPending is a
  // retry: finished_at stays unset and run_at becomes the finish's run_at; a final
  // status sets finished_at and keeps run_at. An accepted finish also stores its
  // follow_ups and applies its settle (RunFollowUp, RunSettle) in the same commit.
  // Answers per finish, in order.
  virtual Result<std::vector<RunFinishResult>> RunFinishBatch(
      const std::vector<RunFinish>& finishes) = 0;
  // RunFinishBatch(finishes), then RunTake(take), in one commit where the backend can
  // (SQLite does): the claim then takes what the finishes freed (room under a queue's
  // cap) and stored (a flow's next step, released children) with no commit of its own.
  // `on_taken` gets the claim's answer on the calling thread as soon as it is known
  // (before this call waits for the finishes to be durable), so that what it claimed
  // can start meanwhile; it is called exactly once, also when the finishes fail.
  // Answers the finishes as RunFinishBatch does. The default calls both in turn.
  virtual Result<std::vector<RunFinishResult>> RunFinishThenTake(
      const std::vector<RunFinish>& finishes, const RunTakeParams& take,
      const std::function<void(Result<std::vector<ClaimedRun>>)>& on_taken) {
    auto finished = RunFinishBatch(finishes);
    on_taken(RunTake(take));
    return finished;
  }
  // Stops a pending or running run (status stopped, finished_at now, error "stopped
  // by an operator", error_kind "stopped"); a running attempt is recorded as an
  // attempt with outcome "stopped", and its fence no longer holds. Answers the run as
  // stored. kFailedPrecondition if final; kNotFound when absent.
  virtual Result<Run> RunCancel(const std::string& id, const std::string& queue, TimePoint now) = 0;
  // Makes a pending run due now (its run_at becomes `now` if later): a scheduled run,
  // or one waiting for its retry, is claimed next. kFailedPrecondition unless pending.
  virtual Result<Run> RunMakeDue(const std::string& id, const std::string& queue,
                                 TimePoint now) = 0;
  // Puts a final run back to pending, due at `now`, with one more attempt allowed
  // (max_attempts at least attempt + 1); clears finished_at, result, error and
  // error_kind, and keeps its attempts. Answers the run as stored.
  // kFailedPrecondition while pending or running; kNotFound when absent.
  virtual Result<Run> RunRetry(const std::string& id, const std::string& queue, TimePoint now) = 0;
  // Reopens a final run that no runner holds (a failed flow's root) and retries runs
  // with it, in one commit: the run `id` of `queue` goes back to running (finished_at,
  // result, error and error_kind cleared; its attempts, started_at and attempt kept;
  // no lease, no runner), and each run of `retry` (by id, in any queue) is put back
  // as RunRetry puts one. All or nothing: kNotFound when one of them is absent,
  // kFailedPrecondition when one is not final, and then nothing changes. Answers the
  // reopened run as stored.
  virtual Result<Run> RunReopen(const std::string& id, const std::string& queue,
                                const std::vector<std::string>& retry, TimePoint now) = 0;
  // Records that claimed-ahead runs started (RunTakeParams::start): from then on they
  // are charged an attempt if lost. A start whose claim is no longer current, or
  // that is already recorded, changes nothing. Not made durable before it returns, and
  // a backend may return before it is written at all, as long as it lands no later
  // than the caller's next write (the runner's next finish batch): a crash or a power
  // loss may undo it, and the run is then handed back uncharged.
  virtual Status RunStartBatch(const std::vector<RunStart>& starts) = 0;
  // Hands back claims ahead that never started (runs claimed past their queue's cap
  // that their runner could not start: CapClaim::kPastCap) as RunReleaseUnstarted
  // hands back one: pending again, no attempt used. A claim no longer current, or
  // started, is left as it is. Need not wait for durability (a claim lost to a crash
  // is released by the sweep). A backend that claims nothing past a cap has nothing
  // to hand back.
  virtual Status RunHandBack(const std::vector<RunStart>& claims) {
    if (claims.empty()) return Status::Ok();
    return Status::FailedPrecondition("this storage claims nothing past a cap");
  }
  // --- staged runs (a flow's step adding its children while it runs) ---------
  // Stores `runs` staged under the run `parent_id` of `parent_queue`, in one commit,
  // while its attempt `attempt` is current (running): each run's parent_id must be
  // `parent_id`. A staged run is no run yet: no claim takes it, no listing, count or
  // condition sees it, and a (queue, id) already staged or stored is skipped, so that
  // a step run again adds nothing twice. The parent's accepted finish releases them
  // (stored as given, in the order staged, those whose (queue, id) is free) or drops
  // them (RunFinish::staged); stopping the parent (RunCancel, a settle's stop_live)
  // drops them. What an attempt staged is deleted once it is over: by that finish or
  // stop, else (an attempt lost to a crash) at the latest when the storage is next
  // opened; a later attempt never releases it. kFailedPrecondition when the attempt is
  // no longer current (and nothing is staged); kInvalidArgument for a run of another
  // parent.
  virtual Status RunStage(const std::string& parent_queue, const std::string& parent_id,
                          int attempt, const std::vector<Run>& runs) {
    (void)parent_queue, (void)parent_id, (void)attempt, (void)runs;
    return Status::FailedPrecondition("this storage does not stage runs");
  }
  // The outcomes of the stored runs whose parent_id is `parent_id`, oldest stored
  // first (RunList orders newest first), at most `limit` (clamped to 1..1000) after
  // `cursor` (a next_cursor of this method; empty: from the first). A flow's next
  // step pages its predecessors' children's results with it, so a backend reads only
  // what an outcome holds: no other column, and of the args only their child_id. A
  // cursor that it never returned is kInvalidArgument.
  virtual Result<ChildOutcomePage> RunListChildOutcomes(const std::string& parent_id,
                                                        const std::string& cursor, int limit) {
    (void)parent_id, (void)cursor, (void)limit;
    return Status::FailedPrecondition("this storage does not list children in order");
  }
  // Started running runs whose lease ended before `now`, or whose runner is known to
  // have ended (HolderAttach): the sweeper decides their fate with a fenced finish.
  virtual Result<std::vector<Run>> RunListExpired(TimePoint now, int limit) = 0;
  // Hands back to pending, in one commit, at most `limit` claimed runs that never
  // started, whose lease ended before `now` or whose runner is known to have ended.
  // No attempt is used: the attempt number (the fencing token) still grows with every
  // claim, so max_attempts grows with it by one, and no attempt is recorded; run_at
  // is kept, so a run keeps its place in its queue. Safe from any node: each change
  // is conditional on the claim still being the current one. Returns the runs as
  // stored after the change.
  virtual Result<std::vector<Run>> RunReleaseUnstarted(TimePoint now, int limit) = 0;
  // Stores progress counters of a running attempt (fenced like a finish:
  // kFailedPrecondition when the attempt is no longer current).
  virtual Status RunProgress(const std::string& id, const std::string& queue, int attempt,
                             const Progress& progress) = 0;
  // Counts of runs by status and task: of every account (nullopt), or of the runs
  // whose account_id is `account` (as cheap: backends keep tallies per account).
  virtual Result<StorageStats> RunStats(
      const std::optional<std::string>& account = std::nullopt) = 0;
  // Splits at most `limit` pending runs (of one account when `account` is set; ""
  // means runs of no account) by their run_at against `now` and their attempt.
  virtual Result<PendingSplit> RunPendingSplit(const std::optional<std::string>& account,
                                               TimePoint now, int64_t limit) = 0;
  // Keeps at most `keep` finished runs per task (newest by finished_at); runs of no
  // task (anonymous) are not touched. Removes at most 10,000 per call; returns the
  // number removed.
  virtual Result<int64_t> RunPrune(int keep) = 0;
  // Retention by age (docs/storage.md, "Retention"): removes the finished runs that
  // finished before `before` (finished_at; created_at for a run stored final without
  // one), with their keys, launch keys, files and checkpoints, as RunRemove would.
  // Pending and running runs are never removed, however old, and RunStats stays exact.
  // A backend that keeps history in periods removes whole periods, and only those
  // that end at or before `before` (PostgreSQL: calendar months, UTC), so a run older
  // than `before` may stay until its period is over. Every write is short (a batch of
  // rows, or a period detached and dropped), so claims and finishes go on meanwhile;
  // a call removes a bounded amount and sets `more` when some is left. `now` is the
  // caller's clock: a backend may prepare for the runs that finish from now on
  // (PostgreSQL makes the partitions of the coming months). kInvalidArgument when
  // `before` is after `now`.
  virtual Result<HistoryPruned> RunPruneOlderThan(TimePoint before, TimePoint now) = 0;
  // The latest run of a task, if any; of one account only when `account` is set.
  virtual Result<std::optional<Run>> RunLatestOfTask(
      const std::string& task, const std::optional<std::string>& account = std::nullopt) = 0;
  // Number of runs of a task in pending or running status (the scheduler's overlap
  // rule).
  virtual Result<int64_t> RunCountLive(const std::string& task) = 0;

  // --- periodical launches -------------------------------------------------
  // Stores, in one commit, each run of `runs` whose (task, scheduled_at) was never
  // launched before (runs without scheduled_at: whose (queue, id) is free), skipping
  // the others; returns the runs stored, in order. (task, scheduled_at) is a unique
  // key of the store, so two schedulers cannot both store an instant. The write is
  // fenced: in the same transaction, the lease `fence.lease` must be held at term
  // `fence.term`, or nothing is stored and the answer is kFailedPrecondition (a
  // stale leader's writes are refused).
  virtual Result<std::vector<Run>> RunPutScheduled(std::vector<Run> runs,
                                                   const LeaderFence& fence) = 0;

  // --- queues ---------------------------------------------------------------
  // Pauses or resumes a queue, known or not: RunTake claims nothing from a paused
  // queue until it is resumed. Runs already claimed are not affected.
  virtual Status QueueSetPaused(const std::string& queue, bool paused) = 0;
  // Caps the runs of `queue`, known or not, running at once across every runner
  // sharing the storage (RunTake); 0 lifts the cap, and a queue then neither paused
  // nor capped keeps nothing stored of it (a flow caps, then uncaps, a queue per run of
  // a step with a max_concurrency: they must not pile up). Runs already claimed are not
  // affected. kInvalidArgument when negative.
  virtual Status QueueSetConcurrency(const std::string& queue, int limit) = 0;
  // Every queue with pending or running runs, or paused (or capped). With `account`, the counts and
  // the oldest pending run are of that account's runs, and only the queues where it
  // has pending or running runs are listed (another account's queue names stay its
  // own; a paused queue is listed to an account only while it has runs there).
  virtual Result<std::vector<QueueStats>> QueueList(
      TimePoint now, const std::optional<std::string>& account = std::nullopt) = 0;

  // --- task definitions -----------------------------------------------------
  // Stores a task definition under its name, replacing one of the same name; every
  // field is kept as given (TaskGet answers it equal).
  virtual Status TaskUpsert(const TaskDef& task) = 0;
  // Every stored task, by name.
  virtual Result<std::vector<TaskDef>> TaskList() = 0;
  // kNotFound when no task has that name.
  virtual Result<TaskDef> TaskGet(const std::string& name) = 0;
  // Changes only the task's `enabled` flag. kNotFound for an unknown task.
  virtual Status TaskSetEnabled(const std::string& name, bool enabled) = 0;
  // Deletes the definition; its runs stay. kNotFound for an unknown task.
  virtual Status TaskRemove(const std::string& name) = 0;

  // --- liveness of holders ---------------------------------------------------------
  // Ties `holder` (a runner or scheduler id) to the life of the calling process, for
  // backends that can tell when a process has ended (Capabilities().holder_liveness):
  // a backend whose processes share one machine may hold an OS lock until HolderDetach
  // or the process's end, a free lock proving the holder dead, so that its runs and
  // leases are handled at once instead of when their leases run out. Backends that
  // cannot tell (nodes on many machines) do nothing, and leases alone decide.
  // Ids must be unique among live processes. An id that cannot be tied (another live
  // process holds it) is logged, and its leases decide as they would without.
  virtual Status HolderAttach(const std::string& holder) {
    (void)holder;
    return Status::Ok();
  }
  // Unties `holder` (its runs and leases are already handed back or resigned).
  virtual void HolderDetach(const std::string& holder) { (void)holder; }

  // --- leadership -----------------------------------------------------------
  // Takes or renews the lease `name` for `holder` until now + ttl. The lease can be
  // taken when it expired, or when its holder is known to have ended (HolderAttach).
  // Returns true when `holder` is the leader after the call.
  virtual Result<bool> LeaderAttemptElect(const std::string& name, const std::string& holder,
                                          TimePoint now, Duration ttl) = 0;
  // Gives the lease `name` up if `holder` holds it (expired or not), so that another
  // holder can take it at once; otherwise changes nothing.
  virtual Status LeaderResign(const std::string& name, const std::string& holder) = 0;
  // Who holds the lease `name`, until when and at which term, as stored; nullopt when
  // no one ever took it or its holder resigned (a resignation ends the term: the next
  // holder, even the same one, takes the next term). An expired lease is returned as it is: the
  // caller compares `until` with its clock.
  virtual Result<std::optional<LeaderLease>> LeaderGet(const std::string& name) = 0;

  // --- runners of the cluster ---------------------------------------------------
  // Stores `runner` under its id, replacing its previous beat. Beats silent for more
  // than an hour before runner.last_seen are deleted on the way, so that the
  // runners of past processes do not pile up.
  virtual Status RunnerBeat(const RunnerInfo& runner) = 0;
  // The runners whose last beat is no older than `forget_after` before `now`, by id.
  virtual Result<std::vector<RunnerInfo>> RunnerList(TimePoint now, Duration forget_after) = 0;

  // --- key/value state (scheduler bookkeeping: last fire times, cursors) -----
  // The value stored under `key`, or nullopt when none was.
  virtual Result<std::optional<std::string>> StateGet(const std::string& key) = 0;
  // Stores `value` (any bytes, empty included) under `key`, replacing the old one.
  virtual Status StatePut(const std::string& key, const std::string& value) = 0;

  // --- API tokens -----------------------------------------------------------
  // Stores a token. kConflict when its name or hash exists.
  virtual Status TokenCreate(const ApiToken& token) = 0;
  // Every token, by name.
  virtual Result<std::vector<ApiToken>> TokenList() = 0;
  // Deletes a token. kNotFound when no token has that name.
  virtual Status TokenRemove(const std::string& name) = 0;

  // --- files ----------------------------------------------------------------
  // Creates an empty staged file. kConflict when the id exists.
  virtual Status FileCreate(const FileCreateParams& params) = 0;
  // Appends chunk number `chunk` to a staged file; it must be the next one (equal to
  // the file's chunk count), so a retried append cannot duplicate data.
  // kNotFound for an unknown file; kFailedPrecondition when the file is owned by a
  // run or `chunk` is not the next number.
  virtual Status FileAppend(const std::string& id, int64_t chunk, std::string_view bytes) = 0;
  // The file's name, size, chunk count, owner and meta. kNotFound when absent.
  virtual Result<FileInfo> FileGet(const std::string& id) = 0;
  // Replaces *out with the bytes of chunk `chunk` (reusing its capacity: readers of
  // big files keep one buffer). kNotFound when the file or the chunk is absent.
  virtual Status FileReadChunkInto(const std::string& id, int64_t chunk, std::string* out) = 0;
  // Reads chunk `chunk` straight into `buf` when it fits: sets *size to the chunk's
  // size, and copies its bytes into buf only when *size <= cap (readers that parse in
  // their own buffer save a copy of every byte). kNotFound as FileReadChunkInto. The
  // default reads through FileReadChunkInto.
  virtual Status FileReadChunkTo(const std::string& id, int64_t chunk, char* buf, size_t cap,
                                 size_t* size) {
    std::string bytes;
    TASKMILL_RETURN_IF_ERROR(FileReadChunkInto(id, chunk, &bytes));
    *size = bytes.size();
    if (bytes.size() <= cap && !bytes.empty()) std::memcpy(buf, bytes.data(), bytes.size());
    return Status::Ok();
  }
  // The same, as a new string.
  Result<std::string> FileReadChunk(const std::string& id, int64_t chunk) {
    std::string out;
    TASKMILL_RETURN_IF_ERROR(FileReadChunkInto(id, chunk, &out));
    return out;
  }
  // Deletes a file and its chunks, staged or owned. kNotFound when absent.
  virtual Status FileRemove(const std::string& id) = 0;
  // Deletes staged files created before `created_before`; returns how many.
  virtual Result<int64_t> FilePruneStaged(TimePoint created_before) = 0;

  // --- bulk checkpoints ------------------------------------------------------
  // Saves a checkpoint (see RunCheckpoint) in one commit. kFailedPrecondition when
  // the attempt is no longer current or the output chunks do not follow on.
  virtual Status RunCheckpointSave(const RunCheckpoint& checkpoint) = 0;
  // The last checkpoint saved for a run (by any attempt), or nullopt. Deleted with
  // the run.
  virtual Result<std::optional<StoredCheckpoint>> RunCheckpointGet(const std::string& id,
                                                                   const std::string& queue) = 0;
};

// Which backend to open and how. Unknown URL schemes are kInvalidArgument.
struct StorageOptions {
  // A URL whose scheme names the backend; a backend's own options travel in it as
  // query parameters (docs/storage.md lists the schemes and their parameters). A bare
  // path opens the embedded backend on that file.
  std::string url;
};

Result<std::unique_ptr<Storage>> OpenStorage(const StorageOptions& options);

}  // namespace taskmill
