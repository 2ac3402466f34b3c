// input.h — what a flow's step sees when it starts: the flow's state and the results
// of the children of the steps it follows, read from storage at that moment (every
// step it waits for is over by then, so what it reads is final).
#pragma once

#include <taskmill/model.h>
#include <taskmill/storage.h>

namespace taskmill::flows {

// The state of the flow whose root is `root_id`: the `state` additions of its
// completed steps, applied in the order the steps finished.
Result<boost::json::object> FlowState(Storage& storage, const std::string& root_id);

// `run` with args.state and args.children filled in when it is a step of a flow (see
// taskmill/flow.h, "inside a step's function"); other runs as they are. A read that
// fails leaves the run as it is and is logged: the step then sees an empty state.
// Without `children_in_args`, args.children is left out (the step pages the results
// through its store, step_store.h).
Run WithStepInput(Storage& storage, const Run& run, bool children_in_args = true);

}  // namespace taskmill::flows
