// The follow-ups of a finish as its backend stores them (taskmill/storage.h).
#include <taskmill/storage.h>

namespace taskmill {

std::vector<RunFollowUp> FollowUpsAsStored(const RunFinish& f) {
  std::vector<RunFollowUp> out;
  ForEachFollowUp(f, [&](const RunFollowUp& up, bool shared) {
    RunFollowUp& stored = out.emplace_back(up);
    if (shared) stored.run.created_at = stored.run.run_at = f.finished_at;
  });
  return out;
}

}  // namespace taskmill
