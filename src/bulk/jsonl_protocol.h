// bulk/jsonl_protocol.h — the JSON-lines protocol between taskmill and a co-process
// (docs/bulk.md, "JSON-lines protocol"): one request object per line on the process's
// stdin, one answer per line on its stdout, in order.
//
// Requests:
//   {"row": {"e164": "+1555", "state": null, ...}, "line": 12}   an input row
//   {"row": null}                                                 an iteration (no input)
//   {"finish": true, "progress": {"total": N, "succeeded": S, "failed": F}}
// The first request a process receives also carries "state": the function's state
// (null for a new run; the saved state when a run resumes or the process was
// restarted). The process keeps its state in memory and returns "state" whenever it
// changes, so that taskmill saves it with its checkpoints.
//
// Answers: "ok", "stop", or an object with at most one of
//   {"ok": true} {"stop": true} {"error": "text"} {"row": [..]} {"rows": [[..], ..]}
//   {"merge": {"column": value, ..}} {"file": "/path"}
// and an optional "state" (alone it means ok). Cell values are strings; numbers and
// booleans stand for their JSON text, null for an empty cell.
//
// Pure functions; thread-safe.
#pragma once

#include <taskmill/bulk.h>

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace taskmill::bulk {

// Appends the request line (with its '\n') for `row`; with `state` when non-null.
void AppendRowRequest(std::string& out, const BulkRow& row, const boost::json::value* state);
void AppendIterateRequest(std::string& out, const boost::json::value* state);
void AppendFinishRequest(std::string& out, const Progress& progress,
                         const boost::json::value* state);

// Parses one answer line. kInvalidArgument names what is wrong (for the row's error).
Result<BulkResult> ParseAnswer(std::string_view line);

}  // namespace taskmill::bulk
