// start.h — a flow's beginning and its stop by an operator (the engine's side).
#pragma once

#include <taskmill/engine.h>
#include <taskmill/flow.h>

namespace taskmill::flows {

// The live runs of the flow whose root is `root_id` (its root apart).
Result<std::vector<Run>> LiveMembers(Storage& storage, const std::string& root_id);

}  // namespace taskmill::flows
