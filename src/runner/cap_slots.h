// cap_slots.h — a runner's share of its queues' caps (CapClaim in taskmill/storage.h).
//
// A capped queue's cap counts the runs holding a slot of it. A claim may also take
// runs past the cap, which hold none: they wait here, and each starts only in the
// slot of a run of its queue that this runner held and saw end, before that run's
// finish is written. The storage then sees one run end and the other start in one
// commit (the start is queued with the finish, or before it), so the cap holds, and
// a flow's capped children keep the runner's slots busy while the finishes of
// earlier ones are being written, instead of waiting for that commit to free room.
//
// Not thread-safe: the runner calls it with its mutex held.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace taskmill {

// `Claim` is the runner's handle of a claimed run (copied around: a pointer).
template <typename Claim>
class CapSlots {
 public:
  // A claimed run holding a slot of `queue` (CapClaim::kSlot).
  void Held(const std::string& queue) { ++queues_[queue].held; }

  // A run claimed past the cap of `queue` (CapClaim::kPastCap): it waits for a slot.
  void Wait(const std::string& queue, Claim claim) {
    queues_[queue].waiting.push_back(std::move(claim));
  }

  // A run holding a slot of `queue` ended, and its finish is not yet handed to the
  // storage. Its slot goes to the first run waiting, returned to be started (its
  // start queued no later than that finish). With none waiting, it stays this
  // runner's until FinishesWritten, for a run past the cap that a claim in flight
  // brings. `reusable` false (the attempt was stopped, so the storage may have freed
  // its slot already): the slot is given up.
  std::optional<Claim> Ended(const std::string& queue, bool reusable) {
    auto it = queues_.find(queue);
    if (it == queues_.end()) return std::nullopt;
    Queue& q = it->second;
    --q.held;
    if (!reusable) return std::nullopt;
    if (q.waiting.empty()) {
      ++q.free;
      return std::nullopt;
    }
    ++q.held;
    Claim next = std::move(q.waiting.front());
    q.waiting.pop_front();
    return next;
  }

  // The runs waiting that take the slots left free (after a claim brought some), to
  // be started with their starts queued now.
  std::vector<Claim> TakeFree() {
    std::vector<Claim> out;
    for (auto& [queue, q] : queues_) {
      for (; q.free > 0 && !q.waiting.empty(); --q.free, ++q.held) {
        out.push_back(std::move(q.waiting.front()));
        q.waiting.pop_front();
      }
    }
    return out;
  }

  // The finishes of the runs that ended so far are being handed to the storage: their
  // slots are no longer this runner's to give.
  void FinishesWritten() {
    for (auto it = queues_.begin(); it != queues_.end();) {
      it->second.free = 0;
      it = it->second.Idle() ? queues_.erase(it) : std::next(it);
    }
  }

  // The runs waiting in a queue of which this runner holds no slot: no slot will come
  // to them here, so they are handed back.
  std::vector<Claim> Stranded() {
    std::vector<Claim> out;
    for (auto& [queue, q] : queues_) {
      if (q.held > 0 || q.free > 0) continue;
      for (Claim& c : q.waiting) out.push_back(std::move(c));
      q.waiting.clear();
    }
    return out;
  }

  // Every run waiting (the runner stops).
  std::vector<Claim> TakeAllWaiting() {
    std::vector<Claim> out;
    for (auto& [queue, q] : queues_) {
      for (Claim& c : q.waiting) out.push_back(std::move(c));
      q.waiting.clear();
    }
    return out;
  }

 private:
  struct Queue {
    int held = 0;  // runs holding a slot that have not ended
    int free = 0;  // slots of runs that ended, whose finishes are not yet written
    std::deque<Claim> waiting;
    bool Idle() const { return held <= 0 && free == 0 && waiting.empty(); }
  };
  std::unordered_map<std::string, Queue> queues_;
};

}  // namespace taskmill
