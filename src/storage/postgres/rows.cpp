// rows.cpp — runs to rows and back (rows.h).
#include "storage/postgres/rows.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstring>

#include "storage/sqlite/rows.h"  // the attempt format both backends store

namespace taskmill::postgres {
namespace json = boost::json;

const char* const kRunColumns =
    "seq, id, queue, function, task, status, args, data, priority, account_id, "
    "auth_account_id, created_at, run_at, scheduled_at, started_at, finished_at, lease_until, "
    "runner, attempt, max_attempts, delay_us, delay_factor, max_delay_us, timeout_us, ttr_us, "
    "result, error, error_kind, progress_total, progress_succeeded, progress_failed, parent_id, "
    "flow_id, input_file, output_file, attempts";

std::string RunColumns(const std::string& alias) {
  std::string out;
  std::string_view all = kRunColumns;
  while (!all.empty()) {
    size_t comma = all.find(',');
    std::string_view name = all.substr(0, comma);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    if (!out.empty()) out += ", ";
    out += alias + "." + std::string(name);
    all = comma == std::string_view::npos ? std::string_view() : all.substr(comma + 1);
  }
  return out;
}

std::string SerializeAttempts(const std::vector<Attempt>& attempts) {
  return sqlite::SerializeAttempts(attempts);
}

std::vector<Attempt> ParseAttempts(std::string_view text) { return sqlite::ParseAttempts(text); }

Run ReadRun(const Rows& r, int row, int64_t* seq, int c) {
  Run run;
  if (seq) *seq = r.Int(row, c);
  run.id = r.Text(row, c + 1);
  run.queue = r.Text(row, c + 2);
  run.function = r.Text(row, c + 3);
  run.task = r.Text(row, c + 4);
  run.status = ParseRunStatus(r.Text(row, c + 5)).value_or(RunStatus::kPending);
  run.args = ParseJsonOr(r.Text(row, c + 6), json::array());
  run.data = ParseJsonOr(r.Text(row, c + 7), json::object());
  run.priority = static_cast<int>(r.Int(row, c + 8));
  run.account_id = r.Text(row, c + 9);
  run.auth_account_id = r.Text(row, c + 10);
  run.created_at = FromMicros(r.Int(row, c + 11));
  run.run_at = FromMicros(r.Int(row, c + 12));
  auto opt_time = [&](int col) -> std::optional<TimePoint> {
    if (r.IsNull(row, c + col)) return std::nullopt;
    return FromMicros(r.Int(row, c + col));
  };
  run.scheduled_at = opt_time(13);
  run.started_at = opt_time(14);
  run.finished_at = opt_time(15);
  run.lease_until = opt_time(16);
  run.runner = r.Text(row, c + 17);
  run.attempt = static_cast<int>(r.Int(row, c + 18));
  run.retry.max_attempts = static_cast<int>(r.Int(row, c + 19));
  run.retry.delay = Duration{r.Int(row, c + 20)};
  run.retry.delay_factor = r.Double(row, c + 21);
  if (!r.IsNull(row, c + 22)) run.retry.max_delay = Duration{r.Int(row, c + 22)};
  if (!r.IsNull(row, c + 23)) run.timeout = Duration{r.Int(row, c + 23)};
  run.time_to_resolve = Duration{r.Int(row, c + 24)};
  run.result = r.IsNull(row, c + 25) ? json::value(nullptr)
                                     : ParseJsonOr(r.Text(row, c + 25), json::value(nullptr));
  run.error = r.Text(row, c + 26);
  run.error_kind = r.Text(row, c + 27);
  run.progress.total = r.Int(row, c + 28);
  run.progress.succeeded = r.Int(row, c + 29);
  run.progress.failed = r.Int(row, c + 30);
  run.parent_id = r.Text(row, c + 31);
  run.flow_id = r.Text(row, c + 32);
  run.input_file = r.Text(row, c + 33);
  run.output_file = r.Text(row, c + 34);
  run.attempts = ParseAttempts(r.Text(row, c + 35));
  return run;
}

std::vector<Run> ReadRuns(const Rows& rows) {
  std::vector<Run> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) out.push_back(ReadRun(rows, i));
  return out;
}

namespace {
// A one-dimensional array in PostgreSQL's binary form (array_recv): a header (number
// of dimensions, whether a NULL is in it, the element type, the length, the lower
// bound), then each element as its length (-1: NULL) and its bytes, integers big-endian.
class BinaryArray {
 public:
  enum Type { kText, kInt4, kInt8, kFloat8, kBool };
  static const char* Name(Type t) {
    static const char* const kNames[] = {"text", "int4", "int8", "float8", "bool"};
    return kNames[t];
  }

  BinaryArray(Type type, size_t n) : type_(type) {
    bytes_.reserve(20 + n * 16);
    bytes_.resize(20);
  }
  void AddText(std::string_view v) {
    Put32(static_cast<uint32_t>(v.size()));
    bytes_.append(v);
    ++n_;
  }
  void AddInt(int64_t v) {
    if (type_ == kInt4) {
      Put32(4);
      Put32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {
      Put32(8);
      Put64(static_cast<uint64_t>(v));
    }
    ++n_;
  }
  void AddDouble(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    Put32(8);
    Put64(bits);
    ++n_;
  }
  void AddBool(bool v) {
    Put32(1);
    bytes_.push_back(v ? 1 : 0);
    ++n_;
  }
  void AddNull() {
    Put32(0xFFFFFFFFu);
    has_null_ = true;
    ++n_;
  }
  std::string Take() {
    static const uint32_t kOids[] = {25, 23, 20, 701, 16};  // pg_type.oid of the element
    std::string out = std::move(bytes_);
    auto at = [&](size_t pos, uint32_t v) {
      for (int i = 0; i < 4; ++i) out[pos + i] = static_cast<char>(v >> (24 - 8 * i));
    };
    at(0, 1);
    at(4, has_null_ ? 1 : 0);
    at(8, kOids[type_]);
    at(12, n_);
    at(16, 1);
    return out;
  }

 private:
  void Put32(uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (24 - 8 * i));
    bytes_.append(b, 4);
  }
  void Put64(uint64_t v) {
    Put32(static_cast<uint32_t>(v >> 32));
    Put32(static_cast<uint32_t>(v));
  }

  Type type_;
  std::string bytes_;
  uint32_t n_ = 0;
  bool has_null_ = false;
};
constexpr auto kText = BinaryArray::kText;
constexpr auto kInt4 = BinaryArray::kInt4;
constexpr auto kInt8 = BinaryArray::kInt8;
constexpr auto kFloat8 = BinaryArray::kFloat8;
constexpr auto kBool = BinaryArray::kBool;
}  // namespace

Result<int64_t> InsertRuns(Connection& c, const std::string& table,
                           const std::vector<const Run*>& runs, const std::vector<int64_t>* seqs,
                           bool with_keys) {
  if (runs.empty()) return int64_t{0};
  // One array per column, in PostgreSQL's binary form (no quoting on this side, no
  // parsing on the server's); the order of the columns here is the order of the unnest.
  constexpr int kColumns = 36;
  static const BinaryArray::Type kTypes[kColumns] = {
      kText, kText, kText, kText, kText, kText, kText, kInt4, kText,   kText, kInt8, kInt8,
      kInt8, kInt8, kInt8, kInt8, kText, kInt4, kInt4, kInt8, kFloat8, kInt8, kInt8, kInt8,
      kText, kText, kText, kInt8, kInt8, kInt8, kText, kText, kText,   kText, kText, kBool};
  std::vector<BinaryArray> a;
  a.reserve(kColumns);
  for (int i = 0; i < kColumns; ++i) a.emplace_back(kTypes[i], runs.size());
  auto text = [&](int i, std::string_view v) { a[i].AddText(v); };
  auto num = [&](int i, int64_t v) { a[i].AddInt(v); };
  auto opt = [&](int i, const std::optional<int64_t>& v) {
    if (v) {
      a[i].AddInt(*v);
    } else {
      a[i].AddNull();
    }
  };
  std::string buffer;
  for (const Run* run : runs) {
    const Run& r = *run;
    text(0, r.id);
    text(1, r.queue);
    text(2, r.function);
    text(3, r.task);
    text(4, ToString(r.status));
    buffer.clear();
    AppendJson(r.args, &buffer);
    text(5, buffer);
    buffer.clear();
    AppendJson(r.data, &buffer);
    text(6, buffer);
    num(7, r.priority);
    text(8, r.account_id);
    text(9, r.auth_account_id);
    num(10, Micros(r.created_at));
    num(11, Micros(r.run_at));
    opt(12, Micros(r.scheduled_at));
    opt(13, Micros(r.started_at));
    opt(14, Micros(r.finished_at));
    opt(15, Micros(r.lease_until));
    text(16, r.runner);
    num(17, r.attempt);
    num(18, r.retry.max_attempts);
    num(19, r.retry.delay.count());
    a[20].AddDouble(r.retry.delay_factor);
    opt(21, r.retry.max_delay ? std::optional<int64_t>(r.retry.max_delay->count()) : std::nullopt);
    opt(22, r.timeout ? std::optional<int64_t>(r.timeout->count()) : std::nullopt);
    num(23, r.time_to_resolve.count());
    if (r.result.is_null()) {
      a[24].AddNull();
    } else {
      buffer.clear();
      AppendJson(r.result, &buffer);
      text(24, buffer);
    }
    text(25, r.error);
    text(26, r.error_kind);
    num(27, r.progress.total);
    num(28, r.progress.succeeded);
    num(29, r.progress.failed);
    text(30, r.parent_id);
    text(31, r.flow_id);
    text(32, r.input_file);
    text(33, r.output_file);
    text(34, SerializeAttempts(r.attempts));
    // started: a run stored running counts as started (as in the SQLite backend).
    a[35].AddBool(true);
  }
  static const std::string kNames =
      "id, queue, function, task, status, args, data, priority, account_id, auth_account_id, "
      "created_at, run_at, scheduled_at, started_at, finished_at, lease_until, runner, attempt, "
      "max_attempts, delay_us, delay_factor, max_delay_us, timeout_us, ttr_us, result, error, "
      "error_kind, progress_total, progress_succeeded, progress_failed, parent_id, flow_id, "
      "input_file, output_file, attempts, started";
  static const std::vector<std::string> kColumnNames = [] {
    std::vector<std::string> names;
    for (size_t at = 0; at < kNames.size();) {
      const size_t comma = std::min(kNames.find(", ", at), kNames.size());
      names.push_back(kNames.substr(at, comma - at));
      at = comma + 2;
    }
    return names;
  }();
  // The arrays are unnested side by side in the select list, not in FROM: the rows
  // then go in the arrays' order straight into the insert (and so take the hot table's
  // default seq in that order), where a multi-array unnest in FROM first copies every
  // row into a tuplestore (16% of the server's time in an enqueue; BENCHMARKS-postgresql.md).
  Params params;
  std::string unnest;
  for (int i = 0; i < kColumns; ++i) {
    params.AddBytes(a[i].Take());
    if (i) unnest += ", ";
    unnest += "unnest($" + std::to_string(i + 1) + "::" + BinaryArray::Name(kTypes[i]) + "[]) AS " +
              kColumnNames[i];
  }
  const bool history = table == "runs_history";
  // The seq: given, or the next of the sequence (the hot table's default).
  std::string seq_value;
  std::string seq_column;
  std::string seq_array;
  if (seqs) {
    BinaryArray given(kInt8, seqs->size());
    for (int64_t seq : *seqs) given.AddInt(seq);
    params.AddBytes(given.Take());
    seq_column = "seq, ";
    seq_value = "u.seq, ";
    seq_array = ", unnest($" + std::to_string(kColumns + 1) + "::int8[]) AS seq";
  } else if (history) {
    seq_column = "seq, ";
    seq_value = "nextval('run_seq'), ";
  }
  std::string select =
      "SELECT " + seq_value +
      "id, queue, function, task, status, args, data, priority, account_id, auth_account_id, "
      "created_at, run_at, scheduled_at, started_at, finished_at, lease_until, runner, attempt, "
      "max_attempts, delay_us, delay_factor, max_delay_us, timeout_us, ttr_us, result, error, "
      "error_kind, progress_total, progress_succeeded, progress_failed, parent_id, flow_id, "
      "input_file, output_file, attempts::jsonb, started" +
      // The hot table's current generation, read once for the statement.
      std::string(history ? ", coalesce(finished_at, created_at)" : ", (SELECT cur FROM runs_gen)");
  // The keys' rows in the same statement: $1 and $2 are the ids and the queues.
  const std::string keys =
      with_keys && !history && !seqs
          ? "WITH k AS (INSERT INTO run_keys(id, queue) SELECT unnest($1::text[]), "
            "unnest($2::text[])) "
          : "";
  std::string sql = keys + "INSERT INTO " + table + "(" + seq_column + kNames +
                    (history ? ", part_at" : ", gen") + ") " + select + " FROM (SELECT " + unnest +
                    seq_array + ") AS u";
  auto rows = c.Exec(sql, params);
  if (!rows.ok()) return rows.status();
  return rows->Affected();
}

std::pair<int64_t, int64_t> MonthOf(int64_t micros) {
  using namespace std::chrono;
  sys_days day = floor<days>(sys_time<microseconds>(microseconds(micros)));
  year_month_day ymd(day);
  sys_days first = sys_days(ymd.year() / ymd.month() / 1);
  sys_days next = sys_days((ymd.year() / ymd.month() / 1) + months(1));
  return {duration_cast<microseconds>(first.time_since_epoch()).count(),
          duration_cast<microseconds>(next.time_since_epoch()).count()};
}

Status EnsurePartitions(Connection& c, const std::vector<int64_t>& part_ats) {
  std::vector<std::pair<int64_t, int64_t>> months;
  for (int64_t at : part_ats) {
    auto m = MonthOf(at);
    if (std::find(months.begin(), months.end(), m) == months.end()) months.push_back(m);
  }
  for (const auto& [from, to] : months) {
    using namespace std::chrono;
    year_month_day ymd(floor<days>(sys_time<microseconds>(microseconds(from))));
    char name[64];
    std::snprintf(name, sizeof name, "runs_history_%04d%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()));
    // Its own transaction, under an advisory lock (retention.cpp).
    std::string sql = CreateMonthSql(name, from, to);
    Status st = c.ExecScript(sql);
    if (!st.ok()) {
      if (!c.broken()) (void)c.ExecScript("ROLLBACK");
      return st;
    }
  }
  return Status::Ok();
}

Status TakenId(const Run& run) {
  return Status::Conflict("run '" + run.id + "' already exists in queue '" + run.queue + "'");
}

}  // namespace taskmill::postgres
