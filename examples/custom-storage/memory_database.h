// memory_database.h — AN EXAMPLE, NOT FOR PRODUCTION: the data of the in-memory
// backend, plain containers under one mutex.
#pragma once

#include <taskmill/storage.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace taskmill::example {

struct StoredRun {
  Run run;
  // False while a claim ahead of the runner's slots has not started
  // (RunTakeParams::start): such a claim goes back to pending uncharged.
  bool started = true;
};

struct StoredFile {
  FileInfo info;
  std::vector<std::string> chunks;
};

using Key = std::pair<std::string, std::string>;  // (queue, id)

struct MemoryDatabase {
  std::mutex mu;
  int64_t next_seq = 1;
  std::map<int64_t, StoredRun> runs;      // by insertion order (seq): the listing order
  std::map<std::string, bool> queues;     // queues ever paused or resumed
  std::map<std::string, int> queue_caps;  // QueueSetConcurrency (memory_caps.h)
  std::map<std::string, TaskDef> tasks;
  std::map<std::string, LeaderLease> leases;  // a resigned one keeps its term, no holder
  std::map<std::string, RunnerInfo> runners;  // by id: RunnerBeat
  std::map<std::string, std::string> state;
  std::map<std::string, ApiToken> tokens;
  std::map<std::string, StoredFile> files;
  std::map<Key, StoredCheckpoint> checkpoints;
  // Runs staged under a parent (memory_staging.h), by parent id: the attempt that
  // staged them and the runs in the order staged.
  struct Staged {
    int attempt = 0;
    std::vector<Run> runs;
  };
  std::map<std::string, Staged> staged;
};

// Changes to undo when a call that must be all-or-nothing fails half-way.
class Undo {
 public:
  void Add(std::function<void()> step) { steps_.push_back(std::move(step)); }
  // Undoes every change recorded, newest first, and returns `status`.
  Status Rollback(Status status) {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
    steps_.clear();
    return status;
  }

 private:
  std::vector<std::function<void()>> steps_;
};

}  // namespace taskmill::example
