// rows.h — how a run is stored in a row of `runs` or `runs_history`, read back, and
// inserted many at a time (one INSERT ... SELECT FROM unnest of one array per column:
// one statement, parsed once, whatever the number of runs).
#pragma once

#include <taskmill/model.h>

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/json_text.h"
#include "storage/postgres/pg_conn.h"

namespace taskmill::postgres {

inline int64_t Micros(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromMicros(int64_t us) { return TimePoint{Duration{us}}; }
inline std::optional<int64_t> Micros(const std::optional<TimePoint>& t) {
  return t ? std::optional<int64_t>(Micros(*t)) : std::nullopt;
}

// The columns ReadRun reads, in its order (seq first).
extern const char* const kRunColumns;
// kRunColumns with every column prefixed by `alias.`.
std::string RunColumns(const std::string& alias);

// Parses stored JSON (storage/json_text.h).
using storage::ParseJsonOr;

// Reads row `row` of `rows` (columns kRunColumns from `first`) into a Run.
Run ReadRun(const Rows& rows, int row, int64_t* seq = nullptr, int first = 0);
std::vector<Run> ReadRuns(const Rows& rows);

// The stored form of attempts (a JSON array, times in microseconds) and back.
std::string SerializeAttempts(const std::vector<Attempt>& attempts);
std::vector<Attempt> ParseAttempts(std::string_view text);

// Inserts runs into `table` ("runs" or "runs_history"), in order: new seqs follow the
// order of `runs`, or `seqs` (one per run) keep the place a moved run had in listings.
// Answers the number inserted. `with_keys` (hot table, new seqs only): the same
// statement also inserts each run's run_keys row, with no ON CONFLICT, so a key taken
// already (or twice in `runs`) fails the statement with kConflict.
Result<int64_t> InsertRuns(Connection& c, const std::string& table,
                           const std::vector<const Run*>& runs,
                           const std::vector<int64_t>* seqs = nullptr, bool with_keys = false);

// Makes the monthly partitions of runs_history that hold these part_at instants
// (idempotent; safe from many processes at once).
Status EnsurePartitions(Connection& c, const std::vector<int64_t>& part_ats);
// The script that makes the partition `name` of runs_history for [from, to) if it is
// missing, taking in the runs of that range the default partition holds (retention.cpp).
std::string CreateMonthSql(const std::string& name, int64_t from, int64_t to);
// The first instant of the month of `micros` and of the next month, in microseconds.
std::pair<int64_t, int64_t> MonthOf(int64_t micros);

// The tail of a statement whose CTE `del` deletes finished runs from runs_history
// RETURNING id, queue, task, scheduled_at: what goes with them (their keys, launch
// keys, files and checkpoints), and the count of runs deleted. One home for what a
// removed run leaves behind (RunPrune, retention).
inline constexpr const char* kWithWhatGoesWithDeletedRuns =
    "k AS (DELETE FROM run_keys USING del WHERE run_keys.id = del.id "
    "AND run_keys.queue = del.queue), "
    "l AS (DELETE FROM launches USING del WHERE launches.task = del.task "
    "AND launches.scheduled_at = del.scheduled_at), "
    "f AS (DELETE FROM files USING del WHERE files.run_id = del.id "
    "AND files.run_queue = del.queue), "
    "cp AS (DELETE FROM run_checkpoints USING del WHERE run_checkpoints.run_id = del.id "
    "AND run_checkpoints.queue = del.queue) "
    "SELECT count(*) FROM del";

// The answer to a put whose (queue, id) is taken: the same words whoever owns the
// stored run, so that they tell nothing about it.
Status TakenId(const Run& run);

}  // namespace taskmill::postgres
