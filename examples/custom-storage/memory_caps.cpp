// AN EXAMPLE, NOT FOR PRODUCTION (memory_caps.h): concurrency caps by counting the
// running runs at each claim; a real backend keeps the counts (the SQLite backend
// reads its status tallies).
#include "memory_caps.h"

namespace taskmill::example {

std::vector<size_t> CappedClaims(const std::vector<const Run*>& due,
                                 const std::vector<const Run*>& running,
                                 const std::map<std::string, int>& queue_caps,
                                 const std::map<std::string, TaskDef>& tasks, size_t max) {
  auto queue_cap = [&](const Run& r) {
    auto it = queue_caps.find(r.queue);
    return it == queue_caps.end() ? 0 : it->second;
  };
  auto task_cap = [&](const Run& r) {
    auto it = r.task.empty() ? tasks.end() : tasks.find(r.task);
    return it == tasks.end() ? 0 : it->second.max_concurrency;
  };
  std::map<std::string, int> queue_running;
  std::map<std::string, int> task_running;
  for (const Run* r : running) {
    ++queue_running[r->queue];
    if (!r->task.empty()) ++task_running[r->task];
  }
  std::vector<size_t> out;
  for (size_t i = 0; i < due.size() && out.size() < max; ++i) {
    const Run& r = *due[i];
    const int qcap = queue_cap(r);
    const int tcap = task_cap(r);
    if (qcap > 0 && queue_running[r.queue] >= qcap) continue;
    if (tcap > 0 && task_running[r.task] >= tcap) continue;
    ++queue_running[r.queue];
    if (!r.task.empty()) ++task_running[r.task];
    out.push_back(i);
  }
  return out;
}

}  // namespace taskmill::example
