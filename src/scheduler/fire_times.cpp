#include "scheduler/fire_times.h"

namespace taskmill {

Result<CompiledSchedule> CompileSchedule(const TaskDef& task) {
  auto schedule = cron::Schedule::Parse(task.schedule);
  if (!schedule.ok()) return schedule.status();
  const date::time_zone* zone = nullptr;
  if (!task.timezone.empty()) {
    auto located = cron::LocateZone(task.timezone);
    if (!located.ok()) return located.status();
    zone = *located;
  }
  return CompiledSchedule{std::move(*schedule), zone};
}

std::vector<TimePoint> NextFireTimes(const TaskDef& task, TimePoint from, int count) {
  std::vector<TimePoint> out;
  if (task.kind != TaskKind::kPeriodical || count <= 0) return out;
  auto compiled = CompileSchedule(task);
  if (!compiled.ok()) return out;
  out.reserve(static_cast<size_t>(count));
  TimePoint after = from;
  while (static_cast<int>(out.size()) < count) {
    auto next = compiled->Next(after);
    if (!next) break;
    out.push_back(*next);
    after = *next;
  }
  return out;
}

}  // namespace taskmill
