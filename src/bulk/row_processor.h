// bulk/row_processor.h — what a bulk attempt needs from a function, whatever runs it:
// the spec (columns, verifiers, policies) and a RowProcessor that turns rows into
// results. The C++ processor calls BulkFunction::call on the attempt's thread; the
// co-process processor (coprocess.h) talks JSON lines to a child process and may take
// several rows at once (its pipeline window).
//
// A RowProcessor belongs to one attempt and is used by that attempt's thread only.
#pragma once

#include <taskmill/bulk.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace taskmill::bulk {

// A bulk function as the attempt sees it, normalized from BulkFunction or
// CoprocessSpec.
struct BulkSpec {
  FunctionInfo info;
  std::vector<std::string> header;  // full replacement output header, or empty
  std::map<std::string, BulkVerifier, std::less<>> verifiers;
  bool stop_on_error = false;
  std::optional<int64_t> progress_every;
  std::optional<Duration> wait_after_row;

  bool no_input() const { return info.input == "none"; }
};

// Checks what BulkFunction::Validate and CoprocessSpec::Validate have in common.
Status ValidateSpec(const BulkSpec& spec);

struct RowOutcome {
  BulkResult result = BulkResult::Ok();
  // User code failed rather than answered: a C++ throw, a co-process that died or
  // broke the protocol. result is then an Error with the reason.
  bool crashed = false;
};

class RowProcessor {
 public:
  virtual ~RowProcessor() = default;

  // How many rows Process accepts at once (1: one at a time).
  virtual size_t window() const { return 1; }

  // Results for `rows` in order, appended to `out` (which the caller cleared). Fewer
  // results than rows means the attempt must end now (cancelled, or fatal()); rows
  // without a result are not processed. `state` is the state before the first row.
  virtual void Process(std::span<const BulkRow> rows, const boost::json::value& state,
                       std::vector<RowOutcome>& out) = 0;
  // One row, for a processor whose window() is 1: as Process, with the outcome in
  // `out`, which the caller reuses from row to row; false when there is none. The
  // default goes through Process; the C++ processor overrides it, because building,
  // moving and destroying a vector's RowOutcome per row was a tenth of the row loop.
  virtual bool ProcessOne(const BulkRow& row, const boost::json::value& state, RowOutcome& out) {
    std::vector<RowOutcome> results;
    Process(std::span<const BulkRow>(&row, 1), state, results);
    if (results.empty()) return false;
    out = std::move(results.front());
    return true;
  }
  // One call of a no-input function.
  virtual RowOutcome Iterate(const boost::json::value& state) = 0;
  // The finish hook's result, or nullopt when there is none.
  virtual std::optional<RowOutcome> Finish(const BulkEnd& end) = 0;
  virtual void Cleanup(const BulkEnd& end) = 0;

  // Set when the processor cannot go on (a co-process that cannot start or keeps
  // crashing): the attempt fails with it.
  virtual Status fatal() const { return Status::Ok(); }
  // What to keep as the attempt's captured output (a co-process's stderr).
  virtual std::string Output() { return {}; }
  // Releases what the processor holds (a co-process is closed and reaped). Called
  // once, at the end of the attempt.
  virtual void Close() {}
};

// Makes the processor of one attempt.
using ProcessorFactory = std::function<std::unique_ptr<RowProcessor>(const RunContext& context)>;

// Calls a C++ BulkFunction; exceptions from it become crashed outcomes.
std::unique_ptr<RowProcessor> MakeFunctionProcessor(std::shared_ptr<const BulkFunction> function,
                                                    const RunContext& context);

}  // namespace taskmill::bulk
