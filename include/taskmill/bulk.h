// taskmill/bulk.h — bulk functions: Kazoo-style functions that process a CSV file row
// by row (or iterate with no input) and produce an output CSV, with crash recovery.
//
// A bulk function is registered under `category.action` like any function, with its
// metadata (FunctionInfo: input "csv" or "none", mandatory and optional columns,
// extra output columns), per-column verifiers and a per-row callable. taskmill:
//   1. validates an uploaded CSV before anything is stored (BulkUpload, CreateBulkRun):
//      every mandatory column in the header, no empty header cell, every row as wide
//      as the header and with a value in each mandatory column, at least one row, no
//      broken quoting — all offending rows reported at once, with line numbers;
//   2. stores the file in storage (chunked) together with the run, in one commit;
//   3. runs the rows top to bottom: verifiers per cell, then the function with the row
//      as a map and the iterator state; writes the output CSV to storage as it goes;
//   4. every `progress_every` rows saves the counters, the input position, the output
//      so far and the state in one fenced commit (a checkpoint). An attempt that dies
//      (crash, lost lease, shutdown, timeout) is resumed by the next one from the last
//      checkpoint: rows after it may be processed twice (at-least-once per row);
//   5. ends `completed`, `partial` or `failed` by the row counters.
// docs/bulk.md is the user guide; src/bulk/README.md has the design notes.
//
// Return values (BulkResult), Kazoo's `kz_tasks:return()` made precise:
//   Ok()         the row succeeded; input runs write the input row (empty `error`)
//   Error(msg)   the row failed; input runs write it with `error` = msg
//   Row(r), Rows(rs)
//                rows to write, in output-header order (shorter rows are padded);
//                counted as one succeeded row unless a written `error` cell is set
//   Merge(cols)  columns merged into the input row (or into an empty row for no-input
//                functions); succeeded unless it sets a non-empty `error`
//   Stop()       ends the run here; this row is neither written nor counted
//   File(path)   no-input functions only: the file at `path`, produced out of band,
//                becomes the run's output (it replaces rows written so far) and the
//                iteration ends
//   Retry(msg)   the row could not be processed for a reason outside it (the disk is
//                full, a service it needs is down): it is neither written nor counted,
//                the attempt ends as an `internal` failure with its progress saved, and
//                the next attempt (max_attempts) starts again at this row. Rows and
//                iterations only; a finish hook's Retry is ignored
//   .WithState(s) on any of these: the state passed to the next call (any JSON; it is
//                saved with each checkpoint, so it must be JSON to survive a crash)
// A function that throws: the row is written with the exception's message in `error`
// and counted failed; the run goes on unless the function sets stop_on_error.
//
// No-input functions are iterators: called first with a null state ("init"), then with
// the state they returned, until they return Stop() (or File()). Ok() writes nothing;
// each written row counts succeeded, or failed when its `error` is set; Error(msg)
// writes a row holding only the error and counts failed.
//
// Output header: the input header, the function's extra columns (info.output_header)
// and `error`; or the function's full replacement `header` (plus `error` when it has
// none). Columns that never got a value are dropped when the output is read.
//
// Thread safety: a registered bulk function may run in several runs at once (one
// thread each); its callables must be safe for that. BulkRuntime is thread-safe.
// BulkUpload and BulkFileStream belong to one thread at a time.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/engine.h>
#include <taskmill/function.h>
#include <taskmill/model.h>
#include <taskmill/status.h>
#include <taskmill/storage.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace taskmill {

// ---- what a bulk function sees ----------------------------------------------------

// One cell of an input row: a value, or "undefined" (an unquoted empty cell, or an
// optional column that is not in the file). A quoted "" is a defined empty string.
struct BulkCell {
  std::string_view value;
  bool defined = false;
};

// The columns of a run's input: header names and the optional columns the function
// declares that the file lacks. Built by taskmill once per attempt.
class BulkLayout;

// One input row, seen as a map from column name to value. A view: valid during the
// call that receives it. Extra columns (not declared by the function) are included.
class BulkRow {
 public:
  BulkRow(const BulkLayout& layout, std::span<const BulkCell> cells, int64_t line, int64_t number)
      : layout_(&layout), cells_(cells), line_(line), number_(number) {}

  // The value of `column`; nullopt when it is undefined or not a column of the file.
  std::optional<std::string_view> Get(std::string_view column) const;
  // The value of `column`, or `fallback` when it is undefined.
  std::string_view GetOr(std::string_view column, std::string_view fallback = {}) const;
  bool Defined(std::string_view column) const { return Get(column).has_value(); }

  // The file's columns, in header order.
  size_t size() const { return cells_.size(); }
  std::string_view name(size_t i) const;
  const BulkCell& cell(size_t i) const { return cells_[i]; }

  // Physical line of the row's first byte in the stored input file, counting the
  // lines inside quoted fields (the header is line 1). Records created from JSON
  // count lines of the CSV they were converted to: record i is on line i + 1.
  int64_t line() const { return line_; }
  // 1-based number of the row among the data rows (the header is not counted).
  int64_t number() const { return number_; }

  // The row as JSON: every column of the file and every declared optional column the
  // file lacks; undefined values are null.
  boost::json::object ToJson() const;

 private:
  const BulkLayout* layout_;
  std::span<const BulkCell> cells_;
  int64_t line_;
  int64_t number_;
};

// What a bulk function returns for a row or an iteration (see the file comment).
class BulkResult {
 public:
  enum class Kind : uint8_t { kOk, kStop, kError, kRows, kMerge, kFile, kRetry };
  using Row = std::vector<std::string>;

  static BulkResult Ok() { return BulkResult(Kind::kOk); }
  static BulkResult Stop() { return BulkResult(Kind::kStop); }
  static BulkResult Error(std::string message);
  static BulkResult WriteRow(Row row);
  static BulkResult WriteRows(std::vector<Row> rows);
  static BulkResult Merge(std::vector<std::pair<std::string, std::string>> columns);
  static BulkResult File(std::string path);
  static BulkResult Retry(std::string message);

  // The same result with new iterator state.
  BulkResult& WithState(boost::json::value state) &;
  BulkResult&& WithState(boost::json::value state) &&;

  Kind kind() const { return kind_; }
  const std::string& message() const { return text_; }    // kError, kRetry: the message
  const std::string& path() const { return text_; }       // kFile: the file
  const std::vector<Row>& rows() const { return rows_; }  // kRows
  const std::vector<std::pair<std::string, std::string>>& columns() const { return columns_; }
  const std::optional<boost::json::value>& state() const { return state_; }
  std::optional<boost::json::value>& mutable_state() { return state_; }

 private:
  explicit BulkResult(Kind kind) : kind_(kind) {}
  Kind kind_;
  std::string text_;
  std::vector<Row> rows_;
  std::vector<std::pair<std::string, std::string>> columns_;
  std::optional<boost::json::value> state_;
};

// One call of a bulk function.
struct BulkCall {
  const BulkRow* row;               // the input row; null for no-input functions
  const boost::json::value& state;  // null until the function returned state ("init")
  const RunContext& context;        // args, account ids, cancellation, the run
};

// After the last row (finish), and after the run ended (cleanup).
struct BulkEnd {
  const boost::json::value& state;
  const Progress& progress;
  const RunContext& context;
  RunStatus status = RunStatus::kCompleted;  // cleanup: how the run ended
};

using BulkRowFunction = std::function<BulkResult(const BulkCall& call)>;
// True when `value` is acceptable for its column. A throw counts as false.
using BulkVerifier = std::function<bool(std::string_view value)>;

struct BulkFunction {
  // Name, description, doc, input ("csv" or "none"), mandatory and optional columns,
  // extra output columns (output_header). handler_kind is set to "bulk".
  FunctionInfo info;
  // The full output header, replacing input header + extras. Default: empty (none).
  std::vector<std::string> header;
  // Verifier per column name; columns without one accept every value.
  std::map<std::string, BulkVerifier, std::less<>> verifiers;
  // Called per row (input "csv") or per iteration (input "none"). Required.
  BulkRowFunction call;
  // Optional: once the rows are over — after the last one, after a Stop(), or when
  // stop_on_error ended the run; not after a cancel or a failed attempt. May write
  // rows (WriteRow/WriteRows/Merge/Error are written; the counters do not change).
  std::function<BulkResult(const BulkEnd& end)> finish;
  // Optional: once the run has ended in this attempt (completed, partial, failed by
  // its rows, or stopped by an operator). Not called when the attempt dies.
  std::function<void(const BulkEnd& end)> cleanup;
  // A throwing row ends the run (Kazoo's behaviour). Default: false (the run goes on).
  bool stop_on_error = false;
  // Overrides of BulkOptions for this function. Default: the runtime's.
  std::optional<int64_t> progress_every;
  std::optional<Duration> wait_after_row;

  // Names the first problem: bad name, input not csv/none, no call, a verifier for a
  // column that is neither mandatory nor optional, duplicate columns.
  Status Validate() const;
};

// ---- the runtime: options and the engine the handlers use ---------------------------

struct BulkOptions {
  // Largest input file accepted, in bytes. Default: 1 GiB.
  int64_t max_file_size = int64_t{1} << 30;
  // Size of the chunks files are stored in. Default: 256 KiB.
  size_t chunk_size = size_t{256} << 10;
  // Longest CSV record, in bytes (csv::ReaderOptions). Default: 1 MiB.
  size_t max_record_size = size_t{1} << 20;
  // Rows between checkpoints (counters, input position, output, state). Default: 1000.
  int64_t progress_every = 1000;
  // Pause after each row (Kazoo's wait_after_row_ms). Default: 0.
  Duration wait_after_row{0};
  // Validation errors listed in one rejection; the rest are counted. Default: 1000.
  size_t max_reported_errors = 1000;
  // Output held in memory while a checkpoint is being written; beyond it the row loop
  // waits for storage. Default: 8 MiB.
  size_t max_buffered_output = size_t{8} << 20;
  // How the row loop pauses (wait_after_row); returns false when cancelled.
  // Default: empty, meaning RunContext::SleepFor. Tests replace it.
  std::function<bool(const RunContext& context, Duration pause)> sleep;

  Status Validate() const;
};

// Shared by the bulk handlers of one engine: options, and the engine whose storage
// holds the files. Create it before registering functions; Attach it once the engine
// is open (before Engine::Start). A handler of an unattached runtime fails its
// attempts with an internal error.
class BulkRuntime {
 public:
  explicit BulkRuntime(BulkOptions options = {}) : options_(std::move(options)) {}
  void Attach(Engine& engine) { engine_.store(&engine, std::memory_order_release); }
  Engine* engine() const { return engine_.load(std::memory_order_acquire); }
  const BulkOptions& options() const { return options_; }

 private:
  BulkOptions options_;
  std::atomic<Engine*> engine_{nullptr};
};

// Registers `function` (validated first). kInvalidArgument for a bad function,
// kConflict for a duplicate name.
Status RegisterBulkFunction(FunctionRegistry& registry, std::shared_ptr<BulkRuntime> runtime,
                            BulkFunction function);

// ---- co-processes: bulk functions in any language (JSON lines) ---------------------
//
// taskmill starts `argv` once per attempt, writes one JSON object per row to its
// stdin and reads one result line per row from its stdout (docs/bulk.md, "JSON-lines
// protocol"); stderr is kept as the attempt's output. A process that dies or answers
// with something that is not a result fails the row it was working on and is started
// again (max_restarts times in a row before the attempt fails).
struct CoprocessSpec {
  FunctionInfo info;                // as BulkFunction::info; handler_kind "coprocess"
  std::vector<std::string> header;  // as BulkFunction::header
  // Verifier per column: an ECMAScript regular expression the whole value must match.
  std::map<std::string, std::string, std::less<>> verifiers;
  std::vector<std::string> argv;                         // program and arguments; looked up in PATH
  std::string working_dir;                               // Default: the server's
  std::vector<std::pair<std::string, std::string>> env;  // added to the inherited one
  // Rows sent ahead of their results. 1 is lock-step. Default: 64.
  int pipeline = 64;
  int max_restarts = 3;                           // consecutive crashes tolerated. Default: 3
  Duration kill_grace = std::chrono::seconds(5);  // SIGTERM → SIGKILL. Default: 5 s
  size_t stderr_limit = size_t{64} << 10;         // bytes of stderr kept. Default: 64 KiB
  bool stop_on_error = false;                     // a crashed row ends the run. Default: false
  std::optional<int64_t> progress_every;
  std::optional<Duration> wait_after_row;

  Status Validate() const;
};

Status RegisterCoprocessFunction(FunctionRegistry& registry, std::shared_ptr<BulkRuntime> runtime,
                                 CoprocessSpec spec);

// ---- creating bulk runs -----------------------------------------------------------

struct BulkCreateRequest {
  // The run: function (required; a registered bulk function with input "csv"), and
  // queue, id, priority, retry, account ids... as for Engine::Enqueue.
  EnqueueRequest run;
  std::string file_name = "input.csv";  // kept for downloads
  ConflictMode conflict = ConflictMode::kError;
};

// An upload in progress: bytes are staged in storage as they arrive (never held
// whole in memory); Finish() validates the file and stores the run with it in one
// commit, or deletes it. Destroying an unfinished upload deletes the staged bytes.
class BulkUpload {
 public:
  // Checks the request (function known, takes CSV, run fields valid) and creates the
  // staged file. Errors as Engine::PrepareRun, plus kInvalidArgument with details
  // {"code": "not_a_csv_function"} for a function without CSV input.
  static Result<std::unique_ptr<BulkUpload>> Start(Engine& engine, BulkCreateRequest request);
  ~BulkUpload();
  BulkUpload(const BulkUpload&) = delete;
  BulkUpload& operator=(const BulkUpload&) = delete;

  // Stages more bytes. kTooLarge once the file exceeds max_file_size (the upload is
  // then abandoned and its bytes deleted).
  Status Append(std::string_view bytes);
  // Validates and creates the run. A rejected file is kInvalidArgument with the
  // message listing the problems ("line 7: ...", one per line) and details
  // {"code": "invalid_csv", "errors": [{"line", "column" (when known), "message"}],
  //  "error_count": N}; nothing remains stored.
  Result<Run> Finish();

  int64_t bytes() const { return bytes_; }
  const std::string& file_id() const { return file_id_; }

 private:
  BulkUpload() = default;
  Status Flush();
  void Abandon();

  Engine* engine_ = nullptr;
  Run run_;  // prepared, not stored
  std::vector<std::string> mandatory_;
  std::vector<std::string> optional_;
  BulkOptions options_;
  ConflictMode conflict_ = ConflictMode::kError;
  std::string file_id_;
  std::string pending_;  // bytes not yet staged (< chunk_size)
  int64_t chunks_ = 0;
  int64_t bytes_ = 0;
  bool done_ = false;  // finished, or abandoned
};

// The same in one call, for a CSV already in memory or in a stream.
Result<Run> CreateBulkRun(Engine& engine, BulkCreateRequest request, std::string_view csv);
Result<Run> CreateBulkRun(Engine& engine, BulkCreateRequest request, std::istream& csv);
// Kazoo's JSON form: `records` is an array of objects; their keys (in order of first
// appearance) become the header, strings are values, numbers and booleans their JSON
// text, null (or a missing key) an undefined cell. Objects and arrays as values are
// kInvalidArgument naming the record and key.
Result<Run> CreateBulkRunFromRecords(Engine& engine, BulkCreateRequest request,
                                     const boost::json::value& records);

// ---- reading a run's files back ---------------------------------------------------

// The CSV of a run's input (exactly as uploaded) or output (header and rows, without
// the columns that never got a value), in pieces, for streaming downloads.
class BulkFileStream {
 public:
  enum class Which { kInput, kOutput };
  // kNotFound when the run has no such file (not a bulk run, or no output yet).
  static Result<std::unique_ptr<BulkFileStream>> Open(Storage& storage, const Run& run,
                                                      Which which);
  virtual ~BulkFileStream() = default;
  // The next piece of the file; an empty string at the end.
  virtual Result<std::string> Next() = 0;
  // The file's name ("input.csv", "output.csv", or the uploaded name).
  virtual const std::string& name() const = 0;
};

}  // namespace taskmill
