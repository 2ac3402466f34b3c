// memory_caps.h — AN EXAMPLE, NOT FOR PRODUCTION: the concurrency caps of the
// in-memory backend's claims (Storage::RunTake, QueueSetConcurrency).
#pragma once

#include <taskmill/model.h>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace taskmill::example {

// Of the due runs `due`, in claim order, the indexes of those a claim of at most `max`
// takes: a run whose queue (`queue_caps`) or task (`tasks`, TaskDef::max_concurrency)
// already has as many runs running (`running`, claimed ahead included) as its cap is
// passed over, and the runs after it are still considered.
std::vector<size_t> CappedClaims(const std::vector<const Run*>& due,
                                 const std::vector<const Run*>& running,
                                 const std::map<std::string, int>& queue_caps,
                                 const std::map<std::string, TaskDef>& tasks, size_t max);

}  // namespace taskmill::example
