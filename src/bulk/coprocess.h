// bulk/coprocess.h — bulk functions run by a long-lived child process that speaks the
// JSON-lines protocol (jsonl_protocol.h): any language, one process per attempt, many
// rows per process.
//
// Rows go to the process `pipeline` at a time, written ahead of their answers (a
// lock-step exchange per row costs two context switches, which caps a Python process
// near 15-20k rows/s; sent ahead, the same process does several times that). stderr
// is read all along (a process blocked on a full stderr pipe would stall) and kept,
// up to a limit, as the attempt's output.
//
// When the process dies, or answers with something that is not an answer (which also
// means the stream can no longer be trusted to pair answers with rows), the row it
// was on fails with the reason, the process is killed and started again, and the
// rows after it are sent to the new process (whose first request carries the state
// taskmill last received). After max_restarts crashes in a row without a good answer
// in between, the processor gives up (RowProcessor::fatal) and the attempt fails.
//
// The child is started in its own process group with a clean signal mask and default
// signal dispositions, and dies with the server (process/spawn.h); stopping it (end of attempt,
// cancel) closes its stdin, then sends SIGTERM to the group after kill_grace and SIGKILL after
// another.
#pragma once

#include <taskmill/bulk.h>

#include <memory>

#include "bulk/row_processor.h"

namespace taskmill::bulk {

std::unique_ptr<RowProcessor> MakeCoprocessProcessor(std::shared_ptr<const CoprocessSpec> spec,
                                                     const RunContext& context);

// The verifiers of a spec as BulkVerifiers (whole-value regular expression matches).
// kInvalidArgument naming the column for a pattern that does not compile, or whose
// repetition count is over 1000, or that is over 512 characters.
Result<std::map<std::string, BulkVerifier, std::less<>>> CompileVerifiers(
    const std::map<std::string, std::string, std::less<>>& patterns);

}  // namespace taskmill::bulk
