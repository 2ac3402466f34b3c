// rows.h — how a run is stored in a row of `runs`, and the stored attempt format.
//
// Times are stored as integer microseconds since the epoch. A run's attempts are a
// JSON array of objects in the column `attempts`; AppendAttempt is its only writer
// (every SQL statement that adds an attempt binds the text it builds).
#pragma once

#include <taskmill/model.h>

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/json_text.h"
#include "storage/sqlite/sqlite_db.h"

namespace taskmill::sqlite {

inline int64_t Micros(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromMicros(int64_t us) { return TimePoint{Duration{us}}; }
inline std::optional<int64_t> Micros(const std::optional<TimePoint>& t) {
  return t ? std::optional<int64_t>(Micros(*t)) : std::nullopt;
}
inline std::optional<int64_t> Micros(const std::optional<Duration>& d) {
  return d ? std::optional<int64_t>(d->count()) : std::nullopt;
}

// The columns ReadRun reads, in its order.
inline constexpr const char* kRunColumns =
    "seq, id, queue, function, task, status, args, data, priority, account_id, "
    "auth_account_id, created_at, run_at, scheduled_at, started_at, finished_at, lease_until, "
    "runner, attempt, max_attempts, delay_us, delay_factor, max_delay_us, timeout_us, ttr_us, "
    "result, error, error_kind, progress_total, progress_succeeded, progress_failed, parent_id, "
    "flow_id, input_file, output_file, attempts";

// "?first, ?first+1, ..." for `n` parameters, for IN lists of a fixed length.
std::string Placeholders(int first, int n);

// `before` + kRunColumns + `after`: a statement that reads or returns whole runs.
std::string Sql(std::string_view before, std::string_view after = "");

// ---- the stored attempt format ---------------------------------------------------
std::vector<Attempt> ParseAttempts(std::string_view text);
// Appends an attempt to the stored attempts `attempts` ("[]" or what an earlier call
// built; anything else starts over). `started_at` and `finished_at` in microseconds.
void AppendAttempt(std::string& attempts, int number, std::string_view runner,
                   std::optional<int64_t> started_at, std::optional<int64_t> finished_at,
                   std::string_view outcome, std::string_view error, std::string_view output);
// Appends each attempt to the stored attempts `out`.
void AppendAttempts(std::string& out, const std::vector<Attempt>& attempts);
std::string SerializeAttempts(const std::vector<Attempt>& attempts);

// ---- rows ------------------------------------------------------------------------
// Parses stored JSON (storage/json_text.h).
using storage::ParseJsonOr;
// Reads a row of kRunColumns into `r`, a default Run; its seq into *seq when set.
// With `raw_json`, args and data are left unparsed, each as a JSON string holding the
// stored text, for ParseRunJsonText (taskmill/storage.h) to parse later: off the
// writer thread, for a claim.
void ReadRunInto(const Statement& s, Run& r, int64_t* seq = nullptr, bool raw_json = false);
Run ReadRun(const Statement& s, int64_t* seq = nullptr);
// Binds a JSON value as text.
void BindJson(Statement& s, int i, const boost::json::value& v);

// Values per inserted run: every column, or a plain run's (IsPlain).
int RunParams(bool plain);
// INSERT of `rows` runs, each bound by BindRun with the same `plain` at
// (row × RunParams(plain)).
std::string InsertRunsSql(int rows, bool plain = false);
// A run as most are enqueued: of no task, account or flow, never attempted, no file.
bool IsPlain(const Run& r);
// Binds the run to parameters at+1 .. at+RunParams(plain); a plain run (IsPlain) may
// be bound with `plain`. `r` must outlive the statement's step: its strings are bound
// in place.
void BindRun(Statement& s, const Run& r, int at = 0, bool plain = false);

// A flow step's children share all but a few columns (staged_runs.cpp): a staged
// child stores only these, kStagedChildColumns, and the rest once per batch, in a
// template row.
inline constexpr const char* kStagedChildColumns[] = {"id", "args", "created_at", "run_at"};
// Whether `a` and `b` differ at most in kStagedChildColumns.
bool SameButChildColumns(const Run& a, const Run& b);
// The inserted columns (InsertRunsSql's, in order), each qualified by `child` when a
// staged child stores it, else by `shared`: "c.id, t.queue, ...".
std::string StagedColumns(std::string_view child, std::string_view shared);

}  // namespace taskmill::sqlite
