// Conformance tests of files (bulk CSV inputs and outputs) and bulk checkpoints: the
// part of the Storage contract that bulk runs rely on. Written against the Storage
// interface alone, so every backend that instantiates StorageConformance runs them.
#include <gmock/gmock.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kFilesSubject = 0;

namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

FileCreateParams Staged(std::string id, std::string name = "numbers.csv") {
  FileCreateParams params;
  params.id = std::move(id);
  params.name = std::move(name);
  params.now = At(1);
  return params;
}

// The whole content of a file, chunk by chunk.
std::vector<std::string> Chunks(Storage& storage, const std::string& id) {
  FileInfo info = Unwrap(storage.FileGet(id));
  std::vector<std::string> out;
  for (int64_t i = 0; i < info.chunks; ++i) out.push_back(Unwrap(storage.FileReadChunk(id, i)));
  return out;
}

// ---- staged files --------------------------------------------------------------------

TEST_P(StorageConformance, FileCreateAppendAndReadChunksInOrder) {
  std::string binary("a\0b\xff", 4);
  std::string big(256 * 1024, 'x');
  Unwrap(storage().FileCreate(Staged("f1", "in put.csv")));
  Unwrap(storage().FileAppend("f1", 0, "e164,state\n"));
  Unwrap(storage().FileAppend("f1", 1, binary));
  Unwrap(storage().FileAppend("f1", 2, ""));
  Unwrap(storage().FileAppend("f1", 3, big));

  FileInfo info = Unwrap(storage().FileGet("f1"));
  EXPECT_EQ(info.id, "f1");
  EXPECT_EQ(info.name, "in put.csv");
  EXPECT_EQ(info.content_type, "text/csv");
  EXPECT_EQ(info.chunks, 4);
  EXPECT_EQ(info.size, static_cast<int64_t>(11 + 4 + big.size()));
  EXPECT_EQ(info.run_id, "");
  EXPECT_EQ(json::serialize(info.meta), "{}");
  EXPECT_EQ(FormatTime(info.created_at), FormatTime(At(1)));
  EXPECT_THAT(Chunks(storage(), "f1"), ElementsAre("e164,state\n", binary, "", big));

  auto missing = storage().FileReadChunk("f1", 4);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  EXPECT_EQ(storage().FileGet("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().FileReadChunk("nope", 0).status().code(), StatusCode::kNotFound);
}

TEST_P(StorageConformance, FileReadChunkToReadsIntoTheCallersBufferWhenTheChunkFits) {
  Unwrap(storage().FileCreate(Staged("f1")));
  Unwrap(storage().FileAppend("f1", 0, "e164,state\n"));
  Unwrap(storage().FileAppend("f1", 1, ""));

  std::string buffer(16, '.');
  size_t size = 99;
  Unwrap(storage().FileReadChunkTo("f1", 0, buffer.data(), buffer.size(), &size));
  EXPECT_EQ(size, 11u);
  EXPECT_EQ(buffer, "e164,state\n.....");
  // Too small: the size is told, nothing is copied.
  buffer.assign(16, '.');
  Unwrap(storage().FileReadChunkTo("f1", 0, buffer.data(), 10, &size));
  EXPECT_EQ(size, 11u);
  EXPECT_EQ(buffer, std::string(16, '.'));
  Unwrap(storage().FileReadChunkTo("f1", 1, buffer.data(), buffer.size(), &size));
  EXPECT_EQ(size, 0u);

  Status missing = storage().FileReadChunkTo("f1", 2, buffer.data(), buffer.size(), &size);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.ToString();
  missing = storage().FileReadChunkTo("nope", 0, buffer.data(), buffer.size(), &size);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.ToString();
}

TEST_P(StorageConformance, FileCreateRejectsADuplicateId) {
  Unwrap(storage().FileCreate(Staged("dup")));
  Status again = storage().FileCreate(Staged("dup"));
  EXPECT_EQ(again.code(), StatusCode::kConflict) << again.ToString();
  EXPECT_THAT(again.message(), HasSubstr("dup"));
}

TEST_P(StorageConformance, FileAppendAcceptsOnlyTheNextChunk) {
  Unwrap(storage().FileCreate(Staged("seq")));
  Unwrap(storage().FileAppend("seq", 0, "one"));
  // A retried append of chunk 0 must not store it twice, and no gap is allowed.
  Status repeated = storage().FileAppend("seq", 0, "one");
  EXPECT_EQ(repeated.code(), StatusCode::kFailedPrecondition) << repeated.ToString();
  Status gap = storage().FileAppend("seq", 5, "six");
  EXPECT_EQ(gap.code(), StatusCode::kFailedPrecondition) << gap.ToString();
  EXPECT_THAT(Chunks(storage(), "seq"), ElementsAre("one"));
  EXPECT_EQ(Unwrap(storage().FileGet("seq")).size, 3);
  EXPECT_EQ(storage().FileAppend("unknown", 0, "x").code(), StatusCode::kNotFound);
}

TEST_P(StorageConformance, FileRemoveDeletesTheFileAndItsChunks) {
  Unwrap(storage().FileCreate(Staged("gone")));
  Unwrap(storage().FileAppend("gone", 0, "abc"));
  Unwrap(storage().FileRemove("gone"));
  EXPECT_EQ(storage().FileGet("gone").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().FileReadChunk("gone", 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().FileRemove("gone").code(), StatusCode::kNotFound);
  // The id is free again, and a new file under it starts empty.
  Unwrap(storage().FileCreate(Staged("gone")));
  EXPECT_EQ(Unwrap(storage().FileGet("gone")).chunks, 0);
}

TEST_P(StorageConformance, FilePruneStagedRemovesOnlyOldStagedFiles) {
  FileCreateParams old_upload = Staged("old-upload");
  old_upload.now = At(-3600);
  Unwrap(storage().FileCreate(old_upload));
  Unwrap(storage().FileAppend("old-upload", 0, "e164\n"));
  FileCreateParams recent = Staged("recent-upload");
  recent.now = At(0);
  Unwrap(storage().FileCreate(recent));
  // An old file owned by a run is not an abandoned upload.
  FileCreateParams owned = Staged("owned-input");
  owned.now = At(-3600);
  Unwrap(storage().FileCreate(owned));
  Run run = NewRun("owner");
  run.input_file = "owned-input";
  RunPutParams params;
  params.runs = {run};
  params.commit_files = {"owned-input"};
  Unwrap(storage().RunPut(std::move(params)));

  EXPECT_EQ(Unwrap(storage().FilePruneStaged(At(-60))), 1);
  EXPECT_EQ(storage().FileGet("old-upload").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().FileReadChunk("old-upload", 0).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(storage().FileGet("recent-upload").ok());
  EXPECT_TRUE(storage().FileGet("owned-input").ok());
  EXPECT_EQ(Unwrap(storage().FilePruneStaged(At(-60))), 0);
}

// ---- committing an upload with its run -------------------------------------------------

TEST_P(StorageConformance, RunPutCommitFilesHandsTheUploadToTheRun) {
  Unwrap(storage().FileCreate(Staged("upload-1")));
  Unwrap(storage().FileAppend("upload-1", 0, "e164\n+15550001\n"));
  Run run = NewRun("bulk-1");
  run.function = "numbers.import";
  run.input_file = "upload-1";
  RunPutParams params;
  params.runs = {run};
  params.commit_files = {"upload-1"};
  auto stored = Unwrap(storage().RunPut(std::move(params)));
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].input_file, "upload-1");
  EXPECT_EQ(Get("bulk-1").input_file, "upload-1");

  FileInfo info = Unwrap(storage().FileGet("upload-1"));
  EXPECT_EQ(info.run_id, "bulk-1");
  EXPECT_EQ(info.run_queue, "default");
  // An owned file is final: the run reads exactly what was validated.
  EXPECT_EQ(storage().FileAppend("upload-1", 1, "+15550002\n").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_THAT(Chunks(storage(), "upload-1"), ElementsAre("e164\n+15550001\n"));
}

TEST_P(StorageConformance, RunPutCommitFilesIsAllOrNothing) {
  Unwrap(storage().FileCreate(Staged("staged-ok")));
  Run first = NewRun("first");
  first.input_file = "staged-ok";
  Run second = NewRun("second");
  second.input_file = "never-uploaded";

  RunPutParams params;
  params.runs = {first, second};
  params.commit_files = {"staged-ok", "never-uploaded"};
  auto result = storage().RunPut(params);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("never-uploaded"));
  EXPECT_EQ(storage().RunGet("first").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().RunGet("second").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().FileGet("staged-ok")).run_id, "") << "the upload stays staged";

  // A file that no run of the batch names.
  RunPutParams unnamed;
  unnamed.runs = {NewRun("third")};
  unnamed.commit_files = {"staged-ok"};
  auto orphan = storage().RunPut(unnamed);
  EXPECT_EQ(orphan.status().code(), StatusCode::kFailedPrecondition) << orphan.status().ToString();
  EXPECT_EQ(storage().RunGet("third").status().code(), StatusCode::kNotFound);

  // A file that another run already owns.
  RunPutParams take;
  take.runs = {first};
  take.commit_files = {"staged-ok"};
  Unwrap(storage().RunPut(take));
  Run thief = NewRun("thief");
  thief.input_file = "staged-ok";
  RunPutParams steal;
  steal.runs = {thief};
  steal.commit_files = {"staged-ok"};
  auto stolen = storage().RunPut(steal);
  EXPECT_EQ(stolen.status().code(), StatusCode::kFailedPrecondition) << stolen.status().ToString();
  EXPECT_EQ(Unwrap(storage().FileGet("staged-ok")).run_id, "first");
  EXPECT_EQ(storage().RunGet("thief").status().code(), StatusCode::kNotFound);
}

TEST_P(StorageConformance, RunPutConflictIgnoreLeavesANewUploadStaged) {
  Unwrap(storage().FileCreate(Staged("upload-a")));
  Run run = NewRun("idempotent");
  run.input_file = "upload-a";
  RunPutParams first;
  first.runs = {run};
  first.commit_files = {"upload-a"};
  Unwrap(storage().RunPut(first));

  Unwrap(storage().FileCreate(Staged("upload-b")));
  run.input_file = "upload-b";
  RunPutParams again;
  again.runs = {run};
  again.commit_files = {"upload-b"};
  again.conflict = ConflictMode::kIgnore;
  auto stored = Unwrap(storage().RunPut(again));
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].input_file, "upload-a") << "the stored run is answered";
  EXPECT_EQ(Unwrap(storage().FileGet("upload-b")).run_id, "") << "left for the caller to remove";
  EXPECT_EQ(Unwrap(storage().FileGet("upload-a")).run_id, "idempotent");
}

TEST_P(StorageConformance, OwnedFilesAndTheCheckpointAreDeletedWithTheirRun) {
  auto bulk_run = [&](const std::string& id, RunStatus status) {
    Unwrap(storage().FileCreate(Staged(id + "-in")));
    Unwrap(storage().FileAppend(id + "-in", 0, "e164\n+1555\n"));
    Run run = NewRun(id);
    run.status = status;
    run.input_file = id + "-in";
    if (status != RunStatus::kPending) run.finished_at = At(1);
    RunPutParams params;
    params.runs = {run};
    params.commit_files = {run.input_file};
    Unwrap(storage().RunPut(std::move(params)));
  };

  // RunRemove.
  bulk_run("removed", RunStatus::kPending);
  Unwrap(storage().RunRemove("removed"));
  EXPECT_EQ(storage().FileGet("removed-in").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().FileReadChunk("removed-in", 0).status().code(), StatusCode::kNotFound);

  // A run with an output file and a checkpoint, then overwritten.
  bulk_run("overwritten", RunStatus::kPending);
  Run claimed = Take("runner-1", 1, At(2)).at(0);
  RunCheckpoint checkpoint;
  checkpoint.queue = claimed.queue;
  checkpoint.id = claimed.id;
  checkpoint.attempt = claimed.attempt;
  checkpoint.state = "{\"rows\":1}";
  checkpoint.output_file = "overwritten-out";
  checkpoint.output_chunks = {"e164,error\n+1555,\n"};
  checkpoint.now = At(3);
  Unwrap(storage().RunCheckpointSave(checkpoint));
  ASSERT_TRUE(Unwrap(storage().RunCheckpointGet("overwritten", "default")).has_value());
  Finish(claimed, RunStatus::kCompleted, At(4));
  RunPutParams overwrite;
  overwrite.runs = {NewRun("overwritten")};
  overwrite.conflict = ConflictMode::kOverwrite;
  Unwrap(storage().RunPut(overwrite));
  EXPECT_EQ(storage().FileGet("overwritten-in").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().FileGet("overwritten-out").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(Unwrap(storage().RunCheckpointGet("overwritten", "default")).has_value());

  // RunPrune of finished runs.
  Run pruned = NewTaskRun("pruned-old", "nightly");
  pruned.status = RunStatus::kCompleted;
  pruned.finished_at = At(1);
  pruned.input_file = "pruned-in";
  Unwrap(storage().FileCreate(Staged("pruned-in")));
  Run kept = NewTaskRun("pruned-new", "nightly");
  kept.status = RunStatus::kCompleted;
  kept.finished_at = At(2);
  kept.input_file = "kept-in";
  Unwrap(storage().FileCreate(Staged("kept-in")));
  RunPutParams both;
  both.runs = {pruned, kept};
  both.commit_files = {"pruned-in", "kept-in"};
  Unwrap(storage().RunPut(both));
  EXPECT_EQ(Unwrap(storage().RunPrune(1)), 1);
  EXPECT_EQ(storage().FileGet("pruned-in").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(storage().FileGet("kept-in").ok());
}

// ---- checkpoints ---------------------------------------------------------------------

TEST_P(StorageConformance, RunCheckpointSaveStoresProgressOutputAndStateAtomically) {
  Run run = NewRun("ckpt");
  run.input_file = "ckpt-in";
  run.progress.total = 100;
  Unwrap(storage().FileCreate(Staged("ckpt-in")));
  RunPutParams params;
  params.runs = {run};
  params.commit_files = {"ckpt-in"};
  Unwrap(storage().RunPut(params));
  Run claimed = Take("runner-1", 1, At(2)).at(0);
  EXPECT_FALSE(Unwrap(storage().RunCheckpointGet("ckpt", "default")).has_value());

  RunCheckpoint first;
  first.queue = "default";
  first.id = "ckpt";
  first.attempt = claimed.attempt;
  first.progress = {100, 9, 1};
  first.state = "{\"rows\":10}";
  first.output_file = "ckpt-out";
  first.output_name = "output.csv";
  first.output_first_chunk = 0;
  first.output_chunks = {"e164,error\n", "+1,\n+2,bad\n"};
  first.output_meta = json::object{{"header", json::array{"e164", "error"}}};
  first.now = At(3);
  Unwrap(storage().RunCheckpointSave(first));

  Run after = Get("ckpt");
  EXPECT_EQ(after.status, RunStatus::kRunning);
  EXPECT_EQ(after.progress, (Progress{100, 9, 1}));
  EXPECT_EQ(after.output_file, "ckpt-out");
  EXPECT_EQ(after.input_file, "ckpt-in");
  FileInfo out = Unwrap(storage().FileGet("ckpt-out"));
  EXPECT_EQ(out.run_id, "ckpt");
  EXPECT_EQ(out.name, "output.csv");
  EXPECT_EQ(out.content_type, "text/csv");
  EXPECT_EQ(json::serialize(out.meta), R"({"header":["e164","error"]})");
  EXPECT_THAT(Chunks(storage(), "ckpt-out"), ElementsAre("e164,error\n", "+1,\n+2,bad\n"));
  auto saved = Unwrap(storage().RunCheckpointGet("ckpt", "default"));
  ASSERT_TRUE(saved.has_value());
  EXPECT_EQ(saved->attempt, claimed.attempt);
  EXPECT_EQ(saved->state, "{\"rows\":10}");
  EXPECT_EQ(FormatTime(saved->saved_at), FormatTime(At(3)));

  // The next checkpoint continues the output; meta is kept when not given.
  RunCheckpoint second = first;
  second.progress = {100, 20, 1};
  second.state = "{\"rows\":21}";
  second.output_first_chunk = 2;
  second.output_chunks = {"+3,\n"};
  second.output_meta.reset();
  second.now = At(4);
  Unwrap(storage().RunCheckpointSave(second));
  EXPECT_THAT(Chunks(storage(), "ckpt-out"), ElementsAre("e164,error\n", "+1,\n+2,bad\n", "+3,\n"));
  EXPECT_EQ(Unwrap(storage().FileGet("ckpt-out")).size, 11 + 11 + 4);
  EXPECT_EQ(json::serialize(Unwrap(storage().FileGet("ckpt-out")).meta),
            R"({"header":["e164","error"]})");
  EXPECT_EQ(Unwrap(storage().RunCheckpointGet("ckpt", "default"))->state, "{\"rows\":21}");

  // Chunks that do not follow on reject the whole checkpoint: counters and state too.
  RunCheckpoint gap = second;
  gap.progress = {100, 99, 1};
  gap.state = "{\"rows\":100}";
  gap.output_first_chunk = 7;
  Status rejected = storage().RunCheckpointSave(gap);
  EXPECT_EQ(rejected.code(), StatusCode::kFailedPrecondition) << rejected.ToString();
  EXPECT_EQ(Get("ckpt").progress, (Progress{100, 20, 1}));
  EXPECT_EQ(Unwrap(storage().RunCheckpointGet("ckpt", "default"))->state, "{\"rows\":21}");
  EXPECT_EQ(Unwrap(storage().FileGet("ckpt-out")).chunks, 3);

  // A checkpoint without output keeps the output file.
  RunCheckpoint counters_only;
  counters_only.queue = "default";
  counters_only.id = "ckpt";
  counters_only.attempt = claimed.attempt;
  counters_only.progress = {100, 30, 1};
  counters_only.state = "{\"rows\":31}";
  counters_only.now = At(5);
  Unwrap(storage().RunCheckpointSave(counters_only));
  EXPECT_EQ(Get("ckpt").output_file, "ckpt-out");
  EXPECT_EQ(Get("ckpt").progress, (Progress{100, 30, 1}));

  // The finish keeps the output file; checkpoints survive a restart.
  EXPECT_TRUE(Finish(claimed, RunStatus::kCompleted, At(6)));
  Reopen();
  EXPECT_EQ(Get("ckpt").output_file, "ckpt-out");
  EXPECT_EQ(Unwrap(storage().RunCheckpointGet("ckpt", "default"))->state, "{\"rows\":31}");
  EXPECT_THAT(Chunks(storage(), "ckpt-out"), ElementsAre("e164,error\n", "+1,\n+2,bad\n", "+3,\n"));
}

TEST_P(StorageConformance, RunCheckpointSaveIsFencedByTheAttempt) {
  Run run = NewRun("fenced");
  run.time_to_resolve = 10s;
  run.retry.max_attempts = 3;
  Put({run});
  Run first = Take("runner-1", 1, At(0)).at(0);

  // The lease expires; the sweeper (here: a finish of the lost attempt) retries.
  RunFinish lost;
  lost.queue = "default";
  lost.id = "fenced";
  lost.attempt = first.attempt;
  lost.status = RunStatus::kPending;
  lost.run_at = At(20);
  lost.finished_at = At(15);
  lost.outcome = "lost";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({lost}))[0].accepted);
  Run second = Take("runner-2", 1, At(20)).at(0);
  ASSERT_EQ(second.attempt, first.attempt + 1);

  RunCheckpoint stale;
  stale.queue = "default";
  stale.id = "fenced";
  stale.attempt = first.attempt;
  stale.progress = {10, 5, 0};
  stale.state = "stale";
  stale.output_file = "stale-out";
  stale.output_chunks = {"a\n"};
  stale.now = At(21);
  Status rejected = storage().RunCheckpointSave(stale);
  EXPECT_EQ(rejected.code(), StatusCode::kFailedPrecondition) << rejected.ToString();
  EXPECT_THAT(rejected.message(), HasSubstr("no longer current"));
  EXPECT_EQ(Get("fenced").progress, Progress{});
  EXPECT_EQ(Get("fenced").output_file, "");
  EXPECT_EQ(storage().FileGet("stale-out").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(Unwrap(storage().RunCheckpointGet("fenced", "default")).has_value());

  RunCheckpoint current = stale;
  current.attempt = second.attempt;
  current.state = "current";
  Unwrap(storage().RunCheckpointSave(current));
  EXPECT_EQ(Unwrap(storage().RunCheckpointGet("fenced", "default"))->state, "current");

  // After the finish, even the last attempt can no longer save.
  EXPECT_TRUE(Finish(second, RunStatus::kCompleted, At(22)));
  current.output_first_chunk = 1;
  current.state = "late";
  EXPECT_EQ(storage().RunCheckpointSave(current).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Unwrap(storage().RunCheckpointGet("fenced", "default"))->state, "current");
  // Unknown runs are not current either.
  current.id = "no-such-run";
  EXPECT_EQ(storage().RunCheckpointSave(current).code(), StatusCode::kFailedPrecondition);
}

TEST_P(StorageConformance, RunCheckpointSaveKeepsTheOutputOfAnAttemptStoppedByAnOperator) {
  Put({NewRun("stopped")});
  Run claimed = Take("runner-1", 1, At(0)).at(0);
  Unwrap(storage().RunCancel("stopped", "default", At(1)));

  // The stopped attempt flushes what it wrote before it noticed the cancel.
  RunCheckpoint flush;
  flush.queue = "default";
  flush.id = "stopped";
  flush.attempt = claimed.attempt;
  flush.progress = {10, 4, 0};
  flush.state = "at-stop";
  flush.output_file = "stopped-out";
  flush.output_chunks = {"e164\n+1\n"};
  flush.now = At(2);
  Unwrap(storage().RunCheckpointSave(flush));
  Run stopped = Get("stopped");
  EXPECT_EQ(stopped.status, RunStatus::kStopped);
  EXPECT_EQ(stopped.progress, (Progress{10, 4, 0}));
  EXPECT_EQ(stopped.output_file, "stopped-out");

  // Once the run is retried, that attempt is over for good.
  Unwrap(storage().RunRetry("stopped", "default", At(3)));
  flush.output_first_chunk = 1;
  flush.state = "late";
  EXPECT_EQ(storage().RunCheckpointSave(flush).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Unwrap(storage().RunCheckpointGet("stopped", "default"))->state, "at-stop");

  // A run cancelled while pending never had this attempt running: a zombie of an
  // earlier, lost attempt with the same number is refused.
  Run lost_run = NewRun("lost-then-cancelled");
  lost_run.retry.max_attempts = 2;
  Put({lost_run});
  Run zombie = Take("runner-1", 1, At(0)).at(0);
  RunFinish lost;
  lost.queue = "default";
  lost.id = zombie.id;
  lost.attempt = zombie.attempt;
  lost.status = RunStatus::kPending;
  lost.run_at = At(100);
  lost.finished_at = At(50);
  lost.outcome = "lost";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({lost}))[0].accepted);
  Unwrap(storage().RunCancel(zombie.id, "default", At(60)));
  RunCheckpoint late;
  late.queue = "default";
  late.id = zombie.id;
  late.attempt = zombie.attempt;
  late.state = "zombie";
  late.now = At(61);
  EXPECT_EQ(storage().RunCheckpointSave(late).code(), StatusCode::kFailedPrecondition);
}

TEST_P(StorageConformance, RunCheckpointSaveReplacesTheOutputFileOfItsOwnRunOnly) {
  Put({NewRun("replacer"), NewRun("other")});
  auto claimed = Take("runner-1", 2, At(0));
  ASSERT_EQ(claimed.size(), 2u);
  const Run& replacer = claimed[0].id == "replacer" ? claimed[0] : claimed[1];
  const Run& other = claimed[0].id == "replacer" ? claimed[1] : claimed[0];

  RunCheckpoint c;
  c.queue = "default";
  c.id = "replacer";
  c.attempt = replacer.attempt;
  c.output_file = "out-v1";
  c.output_chunks = {"v1\n"};
  c.now = At(1);
  Unwrap(storage().RunCheckpointSave(c));

  // Starting the output over: a new file, the old one deleted in the same commit.
  RunCheckpoint restart = c;
  restart.output_file = "out-v2";
  restart.output_chunks = {"v2\n"};
  restart.remove_files = {"out-v1"};
  Unwrap(storage().RunCheckpointSave(restart));
  EXPECT_EQ(Get("replacer").output_file, "out-v2");
  EXPECT_EQ(storage().FileGet("out-v1").status().code(), StatusCode::kNotFound);
  EXPECT_THAT(Chunks(storage(), "out-v2"), ElementsAre("v2\n"));

  // Another run's file can neither be written nor removed.
  RunCheckpoint intruder;
  intruder.queue = "default";
  intruder.id = "other";
  intruder.attempt = other.attempt;
  intruder.output_file = "out-v2";
  intruder.output_first_chunk = 1;
  intruder.output_chunks = {"mine\n"};
  intruder.now = At(2);
  EXPECT_EQ(storage().RunCheckpointSave(intruder).code(), StatusCode::kFailedPrecondition);
  RunCheckpoint remover;
  remover.queue = "default";
  remover.id = "other";
  remover.attempt = other.attempt;
  remover.remove_files = {"out-v2"};
  remover.now = At(2);
  Unwrap(storage().RunCheckpointSave(remover));
  EXPECT_THAT(Chunks(storage(), "out-v2"), ElementsAre("v2\n"));
  EXPECT_EQ(Get("other").output_file, "");
}

}  // namespace
}  // namespace taskmill::conformance
