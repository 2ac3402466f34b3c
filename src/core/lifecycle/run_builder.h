// run_builder.h — building a run from a request and, for a task's runs, from the
// task's definition.
//
// The one home of the rule, whoever creates the run: an enqueue (API, CLI, embedding
// program), a scheduler's launch (periodical, continuous, trigger) and a bulk upload
// all build it here, so that runs look the same however they were made. Defaults,
// validation of ids and queue, and the checks of retry, timeout and delay live here.
// Pure apart from `functions`; thread-safe.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/enqueue_request.h>
#include <taskmill/function.h>
#include <taskmill/model.h>
#include <taskmill/status.h>

namespace taskmill {

// The fields a task's run takes from its definition: task, function, args, queue,
// priority, retry, timeout and time_to_resolve.
void ApplyTask(const TaskDef& task, Run& run);

// The request that launches `task` by its definition as given (a task with no stored
// row, such as a trigger): its function with the task's args, queue, priority, retry,
// timeout and time_to_resolve.
EnqueueRequest RequestFromDefinition(const TaskDef& task);

// Builds, without storing it, the pending run `request` describes at `now`.
// `task` is the definition of request.task (required when it is named), read by the
// caller. With `functions`, an anonymous run's function must be registered (a task's
// may be served by another node) and a function's queue is its runs' default one.
// Invalid values are kInvalidArgument with details {"field": NAME}; an unknown
// function is kInvalidArgument with details {"code": "unknown_function"}.
Result<Run> BuildRun(const EnqueueRequest& request, const TaskDef* task,
                     const FunctionRegistry* functions, Duration default_time_to_resolve,
                     TimePoint now);

}  // namespace taskmill
