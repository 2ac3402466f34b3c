// tallies.h — the counts of runs by queue, task, status and account (run_tallies),
// kept by every write so that stats, queue listings and take never count rows.
#pragma once

#include <taskmill/model.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill::sqlite {

// Changes to run_tallies (runs by queue, task, status and account) made by one write
// operation; applied only if the operation succeeds, in the same transaction. A
// write touches few distinct keys (a batch of 1,000 runs usually one), so a short
// vector searched from its most recent entry beats a map.
class TallyDeltas {
 public:
  struct Entry {
    std::string queue;
    std::string task;
    std::string account;
    RunStatus status;
    int64_t n;
  };

  void Add(std::string_view queue, std::string_view task, std::string_view account,
           RunStatus status, int64_t d) {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
      if (it->status == status && it->queue == queue && it->task == task &&
          it->account == account) {
        it->n += d;
        return;
      }
    }
    entries_.push_back({std::string(queue), std::string(task), std::string(account), status, d});
  }
  void Move(std::string_view queue, std::string_view task, std::string_view account, RunStatus from,
            RunStatus to, int64_t count = 1) {
    Add(queue, task, account, from, -count);
    Add(queue, task, account, to, count);
  }
  void Merge(const TallyDeltas& o) {
    for (const Entry& e : o.entries_) Add(e.queue, e.task, e.account, e.status, e.n);
  }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace taskmill::sqlite
