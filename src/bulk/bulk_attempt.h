// bulk/bulk_attempt.h — one attempt of a bulk run, start to end: decide whether to
// start over, resume from the last checkpoint or replay a finished attempt whose
// finish was lost; read the stored input row by row (or iterate); verify, call the
// processor, write the output; save checkpoints; compute the final status. The rules
// are in taskmill/bulk.h; the design notes in src/bulk/README.md.
#pragma once

#include <taskmill/bulk.h>

#include "bulk/row_processor.h"

namespace taskmill::bulk {

// Runs the attempt of `context.run()` on the calling thread and returns its outcome.
// Never throws; closes `processor` before returning.
HandlerOutcome RunBulkAttempt(Engine& engine, const BulkOptions& options, const BulkSpec& spec,
                              RowProcessor& processor, RunContext& context);

}  // namespace taskmill::bulk
