// bulk/checkpointer.h — saving a bulk attempt's checkpoints off the row loop.
//
// CheckpointState is what a checkpoint records about the attempt (JSON in storage,
// opaque to it): how far the input was read, the counters, the output written so far
// and the function's state. The Checkpointer writes RunCheckpoints on a thread of its
// own, so the row loop keeps going while storage commits; the loop offers a
// checkpoint only when no save is in flight (checkpoints coalesce when storage is
// slower than progress_every rows), and waits only when its buffered output passes a
// bound. The first failed save (the attempt is no longer current, or storage failed)
// sticks: later saves are dropped and the loop stops at its next check.
//
// Thread safety: Submit, Wait, busy and status are called by the attempt's thread;
// the save runs on the Checkpointer's thread.
#pragma once

#include <taskmill/storage.h>

#include <atomic>
#include <boost/json/value.hpp>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace taskmill::bulk {

struct CheckpointState {
  std::string phase = "rows";  // "rows": resume from here; "done": every row processed
  int64_t rows = 0;            // input rows consumed, or no-input iterations done
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t written = 0;      // output data rows written
  std::string output_file;  // the output file and how many chunks it has
  int64_t chunks = 0;
  std::string seen;          // per output column: '1' once it got a value
  boost::json::value state;  // the function's state (null: none yet)
  // phase "done": the outcome to report if this attempt's finish was lost.
  std::string status;
  std::string error;
  std::string attached;  // a File() result was attached as the output

  std::string Encode() const;
  static Result<CheckpointState> Decode(std::string_view text);
};

class Checkpointer {
 public:
  // `on_saved` runs on the Checkpointer's thread after each successful save. Up to
  // `max_spare` chunk buffers of saved checkpoints are kept for TakeSpare.
  Checkpointer(Storage& storage, std::function<void(const RunCheckpoint&)> on_saved,
               size_t max_spare = 8);
  ~Checkpointer();  // waits for the save in flight
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // True while a save is in flight.
  bool busy() const;
  // Hands `checkpoint` to the thread, after waiting for the save in flight if any.
  // Dropped when an earlier save failed.
  void Submit(RunCheckpoint checkpoint);
  // Waits until no save is in flight; the first failure of any save, or OK.
  Status Wait();
  // The first failure so far, without waiting.
  Status status() const;
  // True once a save failed; a cheap check for every row.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // An output chunk buffer of a saved checkpoint, for reuse (its capacity kept); an
  // empty string when there is none.
  std::string TakeSpare();

 private:
  void Loop();

  Storage& storage_;
  std::function<void(const RunCheckpoint&)> on_saved_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<RunCheckpoint> next_;  // guarded by mu_
  bool saving_ = false;                // a save is queued or running; guarded by mu_
  std::atomic<bool> busy_{false};      // saving_, readable without the lock
  const size_t max_spare_;
  std::vector<std::string> spare_;   // buffers of saved chunks; guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  Status status_;                    // first failure; guarded by mu_
  std::atomic<bool> failed_{false};  // status_ is not OK
  std::thread thread_;               // last: starts once the rest is set up
};

}  // namespace taskmill::bulk
