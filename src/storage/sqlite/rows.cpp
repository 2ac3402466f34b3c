#include "storage/sqlite/rows.h"

#include <algorithm>
#include <boost/json.hpp>
#include <iterator>
#include <tuple>

namespace taskmill::sqlite {
namespace json = boost::json;

// "?first, ?first+1, ..." for `n` parameters, for IN lists of a fixed length.
std::string Placeholders(int first, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ',';
    out += '?';
    out += std::to_string(first + i);
  }
  return out;
}

std::string Sql(std::string_view before, std::string_view after) {
  std::string s(before);
  s += kRunColumns;
  s += after;
  return s;
}

// Attempts are stored with integer microsecond times (cheap to append in SQL) and
// converted to the public form when read.
std::vector<Attempt> ParseAttempts(std::string_view text) {
  std::vector<Attempt> out;
  if (text.size() <= 2) return out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& item : v.get_array()) {
    if (!item.is_object()) continue;
    const auto& o = item.get_object();
    Attempt a;
    auto num = [&](const char* k) -> int64_t {
      auto* p = o.if_contains(k);
      return p && p->is_number() ? p->to_number<int64_t>() : 0;
    };
    auto str = [&](const char* k) -> std::string {
      auto* p = o.if_contains(k);
      return p && p->is_string() ? std::string(p->get_string()) : std::string();
    };
    a.number = static_cast<int>(num("number"));
    a.runner = str("runner");
    a.started_at = FromMicros(num("started_at"));
    if (auto* f = o.if_contains("finished_at"); f && f->is_number()) {
      a.finished_at = FromMicros(f->to_number<int64_t>());
    }
    a.outcome = str("outcome");
    a.error = str("error");
    a.output = str("output");
    out.push_back(std::move(a));
  }
  return out;
}

// Appends an attempt to the stored attempts (a JSON array of objects; times as
// integer microseconds). Written out here rather than with SQLite's json_insert and
// json_object in the UPDATE, which cost a seventh of a finish.
void AppendAttempt(std::string& attempts, int number, std::string_view runner,
                   std::optional<int64_t> started_at, std::optional<int64_t> finished_at,
                   std::string_view outcome, std::string_view error, std::string_view output) {
  if (attempts.size() < 2 || attempts.back() != ']') attempts = "[]";
  attempts.pop_back();  // the closing bracket
  if (attempts.back() != '[') attempts += ',';
  auto append_time = [&attempts](const std::optional<int64_t>& t) {
    attempts += t ? std::to_string(*t) : std::string("null");
  };
  attempts += "{\"number\":";
  attempts += std::to_string(number);
  attempts += ",\"runner\":";
  AppendJsonString(runner, &attempts);
  attempts += ",\"started_at\":";
  append_time(started_at);
  attempts += ",\"finished_at\":";
  append_time(finished_at);
  attempts += ",\"outcome\":";
  AppendJsonString(outcome, &attempts);
  attempts += ",\"error\":";
  AppendJsonString(error, &attempts);
  attempts += ",\"output\":";
  AppendJsonString(output, &attempts);
  attempts += "}]";
}

// Appends each attempt to the stored attempts `out`.
void AppendAttempts(std::string& out, const std::vector<Attempt>& attempts) {
  for (const Attempt& a : attempts) {
    std::optional<int64_t> finished_at;
    if (a.finished_at) finished_at = Micros(*a.finished_at);
    AppendAttempt(out, a.number, a.runner, Micros(a.started_at), finished_at, a.outcome, a.error,
                  a.output);
  }
}

std::string SerializeAttempts(const std::vector<Attempt>& attempts) {
  std::string out = "[]";
  AppendAttempts(out, attempts);
  return out;
}

// Reads the row into `r`, a default Run (in place: a claim reads hundreds into its
// answer, where moving each one in cost a fiftieth of the writer's time).
void ReadRunInto(const Statement& s, Run& r, int64_t* seq, bool raw_json) {
  if (seq) *seq = s.Int(0);
  r.id = s.Text(1);
  r.queue = s.Text(2);
  r.function = s.Text(3);
  r.task = s.Text(4);
  r.status = ParseRunStatus(s.Text(5)).value_or(RunStatus::kPending);
  if (raw_json) {
    r.args = json::string(s.Text(6));
    r.data = json::string(s.Text(7));
  } else {
    r.args = ParseJsonOr(s.Text(6), json::array());
    r.data = ParseJsonOr(s.Text(7), json::object());
  }
  r.priority = static_cast<int>(s.Int(8));
  r.account_id = s.Text(9);
  r.auth_account_id = s.Text(10);
  r.created_at = FromMicros(s.Int(11));
  r.run_at = FromMicros(s.Int(12));
  if (!s.IsNull(13)) r.scheduled_at = FromMicros(s.Int(13));
  if (!s.IsNull(14)) r.started_at = FromMicros(s.Int(14));
  if (!s.IsNull(15)) r.finished_at = FromMicros(s.Int(15));
  if (!s.IsNull(16)) r.lease_until = FromMicros(s.Int(16));
  r.runner = s.Text(17);
  r.attempt = static_cast<int>(s.Int(18));
  r.retry.max_attempts = static_cast<int>(s.Int(19));
  r.retry.delay = Duration{s.Int(20)};
  r.retry.delay_factor = s.Double(21);
  if (!s.IsNull(22)) r.retry.max_delay = Duration{s.Int(22)};
  if (!s.IsNull(23)) r.timeout = Duration{s.Int(23)};
  r.time_to_resolve = Duration{s.Int(24)};
  r.result = s.IsNull(25) ? json::value(nullptr) : ParseJsonOr(s.Text(25), nullptr);
  r.error = s.Text(26);
  r.error_kind = s.Text(27);
  r.progress = {s.Int(28), s.Int(29), s.Int(30)};
  r.parent_id = s.Text(31);
  r.flow_id = s.Text(32);
  r.input_file = s.Text(33);
  r.output_file = s.Text(34);
  r.attempts = ParseAttempts(s.Text(35));
}

Run ReadRun(const Statement& s, int64_t* seq) {
  Run r;
  ReadRunInto(s, r, seq);
  return r;
}

// Empty args and data are by far the most common: bound as constants, without the
// serializer.
void BindJson(Statement& s, int i, const json::value& v) {
  if (v.is_array() && v.get_array().empty()) return s.BindView(i, "[]");
  if (v.is_object() && v.get_object().empty()) return s.BindView(i, "{}");
  thread_local std::string text;  // SQLite copies it (Bind)
  text.clear();
  AppendJson(v, &text);
  s.Bind(i, text);
}

// The columns an INSERT of a run writes, each with how to bind its value. `plain`: a
// plain run (IsPlain) may have a value other than the column's default there.
struct InsertedColumn {
  const char* name;
  bool plain;
  void (*bind)(Statement& s, int i, const Run& r);  // strings bound in place
};
constexpr InsertedColumn kInsertedColumns[] = {
    {"id", true, [](Statement& s, int i, const Run& r) { s.BindView(i, r.id); }},
    {"queue", true, [](Statement& s, int i, const Run& r) { s.BindView(i, r.queue); }},
    {"function", true, [](Statement& s, int i, const Run& r) { s.BindView(i, r.function); }},
    {"task", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.task); }},
    {"status", true, [](Statement& s, int i, const Run& r) { s.BindView(i, ToString(r.status)); }},
    {"args", true, [](Statement& s, int i, const Run& r) { BindJson(s, i, r.args); }},
    {"data", true, [](Statement& s, int i, const Run& r) { BindJson(s, i, r.data); }},
    {"priority", true, [](Statement& s, int i, const Run& r) { s.Bind(i, r.priority); }},
    {"account_id", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.account_id); }},
    {"auth_account_id", false,
     [](Statement& s, int i, const Run& r) { s.BindView(i, r.auth_account_id); }},
    {"created_at", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.created_at)); }},
    {"run_at", true, [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.run_at)); }},
    {"scheduled_at", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.scheduled_at)); }},
    {"started_at", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.started_at)); }},
    {"finished_at", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.finished_at)); }},
    {"lease_until", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.lease_until)); }},
    {"runner", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.runner); }},
    {"attempt", false, [](Statement& s, int i, const Run& r) { s.Bind(i, r.attempt); }},
    {"max_attempts", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.retry.max_attempts); }},
    {"delay_us", true, [](Statement& s, int i, const Run& r) { s.Bind(i, r.retry.delay.count()); }},
    {"delay_factor", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.retry.delay_factor); }},
    {"max_delay_us", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.retry.max_delay)); }},
    {"timeout_us", true, [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.timeout)); }},
    {"ttr_us", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.time_to_resolve.count()); }},
    {"result", false,
     [](Statement& s, int i, const Run& r) {
       if (r.result.is_null())
         s.BindNull(i);
       else
         BindJson(s, i, r.result);
     }},
    {"error", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.error); }},
    {"error_kind", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.error_kind); }},
    {"progress_total", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.progress.total); }},
    {"progress_succeeded", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.progress.succeeded); }},
    {"progress_failed", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.progress.failed); }},
    {"parent_id", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.parent_id); }},
    {"flow_id", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.flow_id); }},
    {"input_file", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.input_file); }},
    {"output_file", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.output_file); }},
    {"attempts", false,
     [](Statement& s, int i, const Run& r) {
       if (r.attempts.empty())
         s.BindView(i, "[]");
       else
         s.Bind(i, SerializeAttempts(r.attempts));
     }},
};

// Values per inserted run: every column, or a plain run's.
int RunParams(bool plain) {
  int n = 0;
  for (const InsertedColumn& c : kInsertedColumns) n += !plain || c.plain;
  return n;
}

// INSERT of `rows` runs, each bound by BindRun with the same `plain` at
// (row × RunParams(plain)).
std::string InsertRunsSql(int rows, bool plain) {
  std::string sql = "INSERT INTO runs (";
  bool first = true;
  for (const InsertedColumn& c : kInsertedColumns) {
    if (plain && !c.plain) continue;
    if (!first) sql += ", ";
    first = false;
    sql += c.name;
  }
  sql += ") VALUES ";
  for (int row = 0; row < rows; ++row) {
    if (row > 0) sql += ',';
    sql += '(' + Placeholders(1 + row * RunParams(plain), RunParams(plain)) + ')';
  }
  return sql;
}

// A run as most are enqueued: of no task, account or flow, never attempted, no file.
// Its other columns are their defaults, so it is inserted with less than half of the
// values (binding them was a fifth of storing a run).
bool IsPlain(const Run& r) {
  return r.task.empty() && r.account_id.empty() && r.auth_account_id.empty() && !r.scheduled_at &&
         !r.started_at && !r.finished_at && !r.lease_until && r.runner.empty() && r.attempt == 0 &&
         r.result.is_null() && r.error.empty() && r.error_kind.empty() &&
         r.progress == Progress{} && r.parent_id.empty() && r.flow_id.empty() &&
         r.input_file.empty() && r.output_file.empty() && r.attempts.empty();
}

static_assert(std::size(kInsertedColumns) == 35,
              "a column added to kInsertedColumns: SameButChildColumns must compare it");

bool SameButChildColumns(const Run& a, const Run& b) {
  auto shared = [](const Run& r) {
    return std::tie(r.queue, r.function, r.task, r.status, r.data, r.priority, r.account_id,
                    r.auth_account_id, r.scheduled_at, r.started_at, r.finished_at, r.lease_until,
                    r.runner, r.attempt, r.retry, r.timeout, r.time_to_resolve, r.result, r.error,
                    r.error_kind, r.progress, r.parent_id, r.flow_id, r.input_file, r.output_file,
                    r.attempts);
  };
  return shared(a) == shared(b);
}

std::string StagedColumns(std::string_view child, std::string_view shared) {
  std::string list;
  for (const InsertedColumn& c : kInsertedColumns) {
    const bool of_child =
        std::any_of(std::begin(kStagedChildColumns), std::end(kStagedChildColumns),
                    [&](const char* name) { return std::string_view(name) == c.name; });
    if (!list.empty()) list += ", ";
    list += of_child ? child : shared;
    list += '.';
    list += c.name;
  }
  return list;
}

// Binds the run to parameters at+1 .. at+RunParams(plain); a plain run (IsPlain) may
// be bound with `plain`. `r` must outlive the statement's step: its strings are bound
// in place.
void BindRun(Statement& s, const Run& r, int at, bool plain) {
  for (const InsertedColumn& c : kInsertedColumns) {
    if (plain && !c.plain) continue;
    c.bind(s, ++at, r);
  }
}

}  // namespace taskmill::sqlite
