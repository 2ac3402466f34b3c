// AN EXAMPLE, NOT FOR PRODUCTION (memory_staging.h): staged runs wait in a list per
// parent, with the attempt that staged them, out of sight of claims and listings,
// until that attempt ends.
#include "memory_staging.h"

#include <algorithm>
#include <charconv>
#include <map>

namespace taskmill::example {
namespace {

bool Stored(const MemoryDatabase& db, const Run& run) {
  for (const auto& [seq, stored] : db.runs) {
    if (stored.run.id == run.id && stored.run.queue == run.queue) return true;
  }
  return false;
}

}  // namespace

Status StageRuns(MemoryDatabase& db, const std::string& parent_queue, const std::string& parent_id,
                 int attempt, const std::vector<Run>& runs) {
  for (const Run& r : runs) {
    if (r.parent_id != parent_id) {
      return Status::InvalidArgument("run '" + r.id + "' has parent_id '" + r.parent_id +
                                     "', not '" + parent_id + "': it cannot be staged under it");
    }
  }
  std::lock_guard lock(db.mu);
  bool current = false;
  for (const auto& [seq, stored] : db.runs) {
    const Run& p = stored.run;
    if (p.id == parent_id && p.queue == parent_queue) {
      current = p.status == RunStatus::kRunning && p.attempt == attempt;
    }
  }
  if (!current) {
    return Status::FailedPrecondition("attempt " + std::to_string(attempt) + " of run '" +
                                      parent_id + "' is no longer current");
  }
  MemoryDatabase::Staged& entry = db.staged[parent_id];
  if (entry.attempt != attempt) entry = {attempt, {}};  // an earlier attempt's are over
  std::vector<Run>& staged = entry.runs;
  for (const Run& r : runs) {
    auto same = [&](const Run& s) { return s.id == r.id && s.queue == r.queue; };
    if (std::none_of(staged.begin(), staged.end(), same)) staged.push_back(r);
  }
  return Status::Ok();
}

void StageRelease(MemoryDatabase& db, const std::string& parent_id, int attempt, StagedRuns what) {
  if (what == StagedRuns::kKeep) return;
  auto it = db.staged.find(parent_id);
  if (it == db.staged.end()) return;
  if (what == StagedRuns::kRelease && it->second.attempt == attempt) {
    for (const Run& r : it->second.runs) {
      if (!Stored(db, r)) db.runs[db.next_seq++] = StoredRun{r};
    }
  }
  db.staged.erase(it);
}

void SweepStaged(MemoryDatabase& db) {
  std::lock_guard lock(db.mu);
  std::map<std::string, int> running;  // parent id -> its current attempt
  for (const auto& [seq, stored] : db.runs) {
    if (stored.run.status == RunStatus::kRunning) running[stored.run.id] = stored.run.attempt;
  }
  std::erase_if(db.staged, [&](const auto& entry) {
    auto parent = running.find(entry.first);
    return parent == running.end() || parent->second != entry.second.attempt;
  });
}

Result<ChildOutcomePage> ChildOutcomesInOrder(MemoryDatabase& db, const std::string& parent_id,
                                              const std::string& cursor, int limit) {
  limit = std::clamp(limit, 1, 1000);
  int64_t after = 0;
  if (!cursor.empty()) {
    auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), after);
    if (ec != std::errc() || end != cursor.data() + cursor.size() || after <= 0) {
      return Status::InvalidArgument("cursor: '" + cursor + "' is not a cursor from a listing");
    }
  }
  std::lock_guard lock(db.mu);
  ChildOutcomePage page;
  int64_t last = 0;
  for (auto it = db.runs.upper_bound(after); it != db.runs.end(); ++it) {
    if (it->second.run.parent_id != parent_id || parent_id.empty()) continue;
    if (static_cast<int>(page.children.size()) == limit) {
      page.next_cursor = std::to_string(last);
      break;
    }
    const Run& child = it->second.run;
    page.children.push_back(
        {child.id, child.status, ChildKeyOf(child.args, child.id), child.result});
    last = it->first;
  }
  return page;
}

}  // namespace taskmill::example
