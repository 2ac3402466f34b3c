// forwarding_storage.h — a Storage that passes every call to another one. Tests derive
// from it to intercept a call (to hold a claim at a chosen moment, for instance) and
// leave the rest to a real backend.
#pragma once

#include <taskmill/storage.h>

#include <utility>

namespace taskmill {

class ForwardingStorage : public Storage {
 public:
  explicit ForwardingStorage(Storage& inner) : inner_(inner) {}

  StorageCapabilities Capabilities() const override { return inner_.Capabilities(); }
  Result<SchemaMigration> Migrate() override { return inner_.Migrate(); }
  std::unique_ptr<CommitWatch> WatchCommits(std::function<void()> on_commit) override {
    return inner_.WatchCommits(std::move(on_commit));
  }
  Result<std::vector<Run>> RunPut(RunPutParams params) override {
    return inner_.RunPut(std::move(params));
  }
  Result<Run> RunGet(const std::string& id, const std::string& queue) override {
    return inner_.RunGet(id, queue);
  }
  Result<RunPage> RunList(const RunFilter& filter) override { return inner_.RunList(filter); }
  Status RunRemove(const std::string& id, const std::string& queue) override {
    return inner_.RunRemove(id, queue);
  }
  Result<std::vector<ClaimedRun>> RunTake(const RunTakeParams& params) override {
    return inner_.RunTake(params);
  }
  Result<std::vector<bool>> RunHeartbeatBatch(const std::vector<RunHeartbeat>& beats) override {
    return inner_.RunHeartbeatBatch(beats);
  }
  Result<std::vector<RunFinishResult>> RunFinishBatch(
      const std::vector<RunFinish>& finishes) override {
    return inner_.RunFinishBatch(finishes);
  }
  // RunFinishThenTake is left to the default (RunFinishBatch, then RunTake, both through
  // this class): a test that intercepts either sees every call of the runner.
  Result<Run> RunCancel(const std::string& id, const std::string& queue, TimePoint now) override {
    return inner_.RunCancel(id, queue, now);
  }
  Result<Run> RunMakeDue(const std::string& id, const std::string& queue, TimePoint now) override {
    return inner_.RunMakeDue(id, queue, now);
  }
  Result<Run> RunRetry(const std::string& id, const std::string& queue, TimePoint now) override {
    return inner_.RunRetry(id, queue, now);
  }
  Result<Run> RunReopen(const std::string& id, const std::string& queue,
                        const std::vector<std::string>& retry, TimePoint now) override {
    return inner_.RunReopen(id, queue, retry, now);
  }
  Status RunStage(const std::string& parent_queue, const std::string& parent_id, int attempt,
                  const std::vector<Run>& runs) override {
    return inner_.RunStage(parent_queue, parent_id, attempt, runs);
  }
  Result<ChildOutcomePage> RunListChildOutcomes(const std::string& parent_id,
                                                const std::string& cursor, int limit) override {
    return inner_.RunListChildOutcomes(parent_id, cursor, limit);
  }
  Status RunStartBatch(const std::vector<RunStart>& starts) override {
    return inner_.RunStartBatch(starts);
  }
  Status RunHandBack(const std::vector<RunStart>& claims) override {
    return inner_.RunHandBack(claims);
  }
  Result<std::vector<Run>> RunReleaseUnstarted(TimePoint now, int limit) override {
    return inner_.RunReleaseUnstarted(now, limit);
  }
  Status HolderAttach(const std::string& holder) override { return inner_.HolderAttach(holder); }
  void HolderDetach(const std::string& holder) override { inner_.HolderDetach(holder); }
  Result<std::vector<Run>> RunListExpired(TimePoint now, int limit) override {
    return inner_.RunListExpired(now, limit);
  }
  Status RunProgress(const std::string& id, const std::string& queue, int attempt,
                     const Progress& progress) override {
    return inner_.RunProgress(id, queue, attempt, progress);
  }
  Result<StorageStats> RunStats(const std::optional<std::string>& account = std::nullopt) override {
    return inner_.RunStats(account);
  }
  Result<int64_t> RunPrune(int keep) override { return inner_.RunPrune(keep); }
  Result<HistoryPruned> RunPruneOlderThan(TimePoint before, TimePoint now) override {
    return inner_.RunPruneOlderThan(before, now);
  }
  Result<std::optional<Run>> RunLatestOfTask(
      const std::string& task, const std::optional<std::string>& account = std::nullopt) override {
    return inner_.RunLatestOfTask(task, account);
  }
  Result<PendingSplit> RunPendingSplit(const std::optional<std::string>& account, TimePoint now,
                                       int64_t limit) override {
    return inner_.RunPendingSplit(account, now, limit);
  }
  Result<int64_t> RunCountLive(const std::string& task) override {
    return inner_.RunCountLive(task);
  }
  Result<std::vector<Run>> RunPutScheduled(std::vector<Run> runs,
                                           const LeaderFence& fence) override {
    return inner_.RunPutScheduled(std::move(runs), fence);
  }
  Status QueueSetPaused(const std::string& queue, bool paused) override {
    return inner_.QueueSetPaused(queue, paused);
  }
  Status QueueSetConcurrency(const std::string& queue, int limit) override {
    return inner_.QueueSetConcurrency(queue, limit);
  }
  Result<std::vector<QueueStats>> QueueList(
      TimePoint now, const std::optional<std::string>& account = std::nullopt) override {
    return inner_.QueueList(now, account);
  }
  Status TaskUpsert(const TaskDef& task) override { return inner_.TaskUpsert(task); }
  Result<std::vector<TaskDef>> TaskList() override { return inner_.TaskList(); }
  Result<TaskDef> TaskGet(const std::string& name) override { return inner_.TaskGet(name); }
  Status TaskSetEnabled(const std::string& name, bool enabled) override {
    return inner_.TaskSetEnabled(name, enabled);
  }
  Status TaskRemove(const std::string& name) override { return inner_.TaskRemove(name); }
  Result<bool> LeaderAttemptElect(const std::string& name, const std::string& holder, TimePoint now,
                                  Duration ttl) override {
    return inner_.LeaderAttemptElect(name, holder, now, ttl);
  }
  Status RunnerBeat(const RunnerInfo& runner) override { return inner_.RunnerBeat(runner); }
  Result<std::vector<RunnerInfo>> RunnerList(TimePoint now, Duration forget_after) override {
    return inner_.RunnerList(now, forget_after);
  }
  Status LeaderResign(const std::string& name, const std::string& holder) override {
    return inner_.LeaderResign(name, holder);
  }
  Result<std::optional<LeaderLease>> LeaderGet(const std::string& name) override {
    return inner_.LeaderGet(name);
  }
  Result<std::optional<std::string>> StateGet(const std::string& key) override {
    return inner_.StateGet(key);
  }
  Status StatePut(const std::string& key, const std::string& value) override {
    return inner_.StatePut(key, value);
  }
  Status TokenCreate(const ApiToken& token) override { return inner_.TokenCreate(token); }
  Result<std::vector<ApiToken>> TokenList() override { return inner_.TokenList(); }
  Status TokenRemove(const std::string& name) override { return inner_.TokenRemove(name); }
  Status FileCreate(const FileCreateParams& params) override { return inner_.FileCreate(params); }
  Status FileAppend(const std::string& id, int64_t chunk, std::string_view bytes) override {
    return inner_.FileAppend(id, chunk, bytes);
  }
  Result<FileInfo> FileGet(const std::string& id) override { return inner_.FileGet(id); }
  Status FileReadChunkInto(const std::string& id, int64_t chunk, std::string* out) override {
    return inner_.FileReadChunkInto(id, chunk, out);
  }
  Status FileReadChunkTo(const std::string& id, int64_t chunk, char* buf, size_t cap,
                         size_t* size) override {
    return inner_.FileReadChunkTo(id, chunk, buf, cap, size);
  }
  Status FileRemove(const std::string& id) override { return inner_.FileRemove(id); }
  Result<int64_t> FilePruneStaged(TimePoint created_before) override {
    return inner_.FilePruneStaged(created_before);
  }
  Status RunCheckpointSave(const RunCheckpoint& checkpoint) override {
    return inner_.RunCheckpointSave(checkpoint);
  }
  Result<std::optional<StoredCheckpoint>> RunCheckpointGet(const std::string& id,
                                                           const std::string& queue) override {
    return inner_.RunCheckpointGet(id, queue);
  }

 protected:
  Storage& inner_;
};

}  // namespace taskmill
