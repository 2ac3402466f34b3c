#include <taskmill/model.h>

#include <array>
#include <bit>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

namespace taskmill {
namespace json = boost::json;

namespace {
constexpr std::array<std::string_view, 9> kStatusNames = {
    "pending", "running", "completed",     "partial",     "failed",
    "lost",    "stopped", "did_not_start", "unknown_task"};
constexpr std::array<std::string_view, 3> kKindNames = {"single_shot", "periodical", "continuous"};
constexpr std::array<std::string_view, 3> kConflictNames = {"error", "ignore", "overwrite"};

template <typename Enum, size_t N>
std::optional<Enum> ParseEnum(const std::array<std::string_view, N>& names, std::string_view s) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

double Seconds(Duration d) { return static_cast<double>(d.count()) / 1e6; }
Duration FromSeconds(double s) { return Duration{static_cast<int64_t>(std::llround(s * 1e6))}; }

// Reads fields of a JSON object, remembering the first error; unknown keys are
// reported at the end so that a typo is never silently ignored.
class ObjectReader {
 public:
  ObjectReader(const json::object& obj, std::string what) : obj_(obj), what_(std::move(what)) {}

  const json::value* Get(std::string_view key) {
    seen_.push_back(key);
    auto it = obj_.find(key);
    if (it == obj_.end() || it->value().is_null()) return nullptr;
    return &it->value();
  }
  void String(std::string_view key, std::string* out) {
    if (auto* v = Get(key)) {
      if (v->is_string())
        *out = std::string(v->get_string());
      else
        Fail(key, "a string");
    }
  }
  void Int(std::string_view key, int* out) {
    if (auto* v = Get(key)) {
      if (v->is_int64() && v->get_int64() >= INT32_MIN && v->get_int64() <= INT32_MAX) {
        *out = static_cast<int>(v->get_int64());
      } else if (v->is_uint64() && v->get_uint64() <= INT32_MAX) {
        *out = static_cast<int>(v->get_uint64());
      } else {
        Fail(key, "an integer");
      }
    }
  }
  void Int64(std::string_view key, int64_t* out) {
    if (auto* v = Get(key)) {
      if (v->is_int64())
        *out = v->get_int64();
      else if (v->is_uint64())
        *out = static_cast<int64_t>(v->get_uint64());
      else
        Fail(key, "an integer");
    }
  }
  void Number(std::string_view key, double* out) {
    if (auto* v = Get(key)) {
      if (v->is_number())
        *out = v->to_number<double>();
      else
        Fail(key, "a number");
    }
  }
  void Bool(std::string_view key, bool* out) {
    if (auto* v = Get(key)) {
      if (v->is_bool())
        *out = v->get_bool();
      else
        Fail(key, "a boolean");
    }
  }
  void Seconds(std::string_view key, Duration* out) {
    double s = 0;
    if (Get(key)) {
      Number(key, &s);
      *out = FromSeconds(s);
    }
  }
  void OptSeconds(std::string_view key, std::optional<Duration>* out) {
    if (Get(key)) {
      double s = 0;
      Number(key, &s);
      *out = FromSeconds(s);
    } else {
      out->reset();
    }
  }
  void Time(std::string_view key, TimePoint* out) {
    if (auto* v = Get(key)) {
      if (!v->is_string() || !ParseTime(v->get_string(), out)) Fail(key, "an RFC 3339 time");
    }
  }
  void OptTime(std::string_view key, std::optional<TimePoint>* out) {
    if (auto* v = Get(key)) {
      TimePoint t;
      if (!v->is_string() || !ParseTime(v->get_string(), &t))
        Fail(key, "an RFC 3339 time");
      else
        *out = t;
    } else {
      out->reset();
    }
  }
  void Any(std::string_view key, json::value* out) {
    seen_.push_back(key);
    auto it = obj_.find(key);
    if (it != obj_.end()) *out = it->value();
  }
  void Fail(std::string_view key, std::string_view expected) {
    if (status_.ok()) {
      status_ = Status::InvalidArgument(what_ + "." + std::string(key) + ": expected " +
                                        std::string(expected));
    }
  }
  Status Finish() {
    if (!status_.ok()) return status_;
    for (const auto& kv : obj_) {
      bool known = false;
      for (auto s : seen_) known = known || s == kv.key();
      if (!known) {
        return Status::InvalidArgument(what_ + "." + std::string(kv.key()) + ": unknown key");
      }
    }
    return Status::Ok();
  }

 private:
  const json::object& obj_;
  std::string what_;
  std::vector<std::string_view> seen_;
  Status status_;
};

void RetryToJson(const RetryPolicy& r, json::object& o) {
  o["max_attempts"] = r.max_attempts;
  o["delay"] = Seconds(r.delay);
  o["delay_factor"] = r.delay_factor;
  o["max_delay"] = r.max_delay ? json::value(Seconds(*r.max_delay)) : json::value(nullptr);
}

void RetryFromJson(ObjectReader& in, RetryPolicy* r) {
  in.Int("max_attempts", &r->max_attempts);
  in.Seconds("delay", &r->delay);
  in.Number("delay_factor", &r->delay_factor);
  in.OptSeconds("max_delay", &r->max_delay);
}
}  // namespace

std::string_view ToString(RunStatus s) { return kStatusNames[static_cast<size_t>(s)]; }
std::optional<RunStatus> ParseRunStatus(std::string_view s) {
  return ParseEnum<RunStatus>(kStatusNames, s);
}
std::string_view ToString(TaskKind k) { return kKindNames[static_cast<size_t>(k)]; }
std::optional<TaskKind> ParseTaskKind(std::string_view s) {
  return ParseEnum<TaskKind>(kKindNames, s);
}
std::string_view ToString(ConflictMode m) { return kConflictNames[static_cast<size_t>(m)]; }
std::optional<ConflictMode> ParseConflictMode(std::string_view s) {
  return ParseEnum<ConflictMode>(kConflictNames, s);
}

Duration RetryPolicy::DelayBeforeRetry(int retry_number) const {
  // No delay stays no delay: 0 × an infinite factor would be NaN.
  if (delay.count() <= 0) return Duration{0};
  double factor = std::pow(delay_factor, std::max(0, retry_number - 1));
  double micros = static_cast<double>(delay.count()) * factor;
  // Clamp before converting so a large exponent cannot overflow int64; the negated
  // test also sends NaN (from an invalid factor) to the cap.
  double cap = max_delay ? static_cast<double>(max_delay->count()) : 1e17;
  if (!(micros < cap)) micros = cap;
  return Duration{static_cast<int64_t>(micros)};
}

Status RetryPolicy::Validate() const {
  if (max_attempts < 1) return Status::InvalidArgument("max_attempts: must be at least 1");
  if (delay.count() < 0) return Status::InvalidArgument("delay: must not be negative");
  if (!(delay_factor >= 1.0) || !std::isfinite(delay_factor)) {
    return Status::InvalidArgument("delay_factor: must be a finite number >= 1");
  }
  if (max_delay && max_delay->count() < 0) {
    return Status::InvalidArgument("max_delay: must not be negative");
  }
  return Status::Ok();
}

json::value TimeToJson(const std::optional<TimePoint>& t) {
  if (!t) return nullptr;
  return json::value(FormatTime(*t));
}

json::object ToJson(const Attempt& a) {
  json::object o;
  o["number"] = a.number;
  o["runner"] = a.runner;
  o["started_at"] = FormatTime(a.started_at);
  o["finished_at"] = TimeToJson(a.finished_at);
  o["outcome"] = a.outcome;
  o["error"] = a.error;
  o["output"] = a.output;
  return o;
}

json::object ToJson(const Progress& p) {
  return {{"total", p.total}, {"succeeded", p.succeeded}, {"failed", p.failed}};
}

json::object ToJson(const Run& r) {
  json::object o;
  o.reserve(40);
  o["id"] = r.id;
  o["queue"] = r.queue;
  o["function"] = r.function;
  o["task"] = r.task;
  o["status"] = ToString(r.status);
  o["args"] = r.args;
  o["data"] = r.data;
  o["priority"] = r.priority;
  o["account_id"] = r.account_id;
  o["auth_account_id"] = r.auth_account_id;
  o["created_at"] = FormatTime(r.created_at);
  o["run_at"] = FormatTime(r.run_at);
  o["scheduled_at"] = TimeToJson(r.scheduled_at);
  o["started_at"] = TimeToJson(r.started_at);
  o["finished_at"] = TimeToJson(r.finished_at);
  o["lease_until"] = TimeToJson(r.lease_until);
  o["runner"] = r.runner;
  o["attempt"] = r.attempt;
  RetryToJson(r.retry, o);
  o["timeout"] = r.timeout ? json::value(Seconds(*r.timeout)) : json::value(nullptr);
  o["time_to_resolve"] = Seconds(r.time_to_resolve);
  o["result"] = r.result;
  o["error"] = r.error;
  o["error_kind"] = r.error_kind;
  o["progress"] = ToJson(r.progress);
  o["parent_id"] = r.parent_id;
  o["flow_id"] = r.flow_id;
  o["input_file"] = r.input_file;
  o["output_file"] = r.output_file;
  json::array attempts;
  attempts.reserve(r.attempts.size());
  for (const auto& a : r.attempts) attempts.push_back(ToJson(a));
  o["attempts"] = std::move(attempts);
  return o;
}

void AppendJsonString(std::string_view s, std::string* out) {
  // Escapes as boost::json does: the two-character forms for \b \t \n \f \r, \u00XX
  // (lower-case hex) for other control characters, and '"' and '\\'.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string& o = *out;
  o += '"';
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    o.append(s.data() + start, i - start);
    start = i + 1;
    o += '\\';
    switch (c) {
      case '"':
        o += '"';
        break;
      case '\\':
        o += '\\';
        break;
      case '\b':
        o += 'b';
        break;
      case '\t':
        o += 't';
        break;
      case '\n':
        o += 'n';
        break;
      case '\f':
        o += 'f';
        break;
      case '\r':
        o += 'r';
        break;
      default:
        o += "u00";
        o += kHex[c >> 4];
        o += kHex[c & 15];
    }
  }
  o.append(s.data() + start, s.size() - start);
  o += '"';
}

void AppendJsonNumber(double d, std::string* out) {
  // boost::json writes doubles in scientific form ("0E0", "6E1"); people and most
  // tools expect 0, 60, 0.5. std::to_chars gives the shortest text that reads back
  // as the same double, and is as fast as a cache of formatted values was.
  if (!std::isfinite(d)) {  // not JSON; refused on input, so never stored, never written
    *out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  out->append(buf, end);
}

namespace {

// Writes JSON the way boost::json::serialize does, except numbers, written plainly
// (AppendJsonNumber), so that AppendJson matches ToJson under that one rule
// (model_test.cpp compares them).
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(*out) {}

  // The opening of a member: `,"key":` (no comma for the first member of an object).
  // Keys are our own literals (nothing to escape; their length known when compiling):
  // one append, not four. A run has 44 of them.
  template <size_t N>
  JsonWriter& Key(const char (&key)[N]) {
    constexpr size_t kLength = N - 1;
    char buf[kLength + 4];
    size_t n = 0;
    if (!first_) buf[n++] = ',';
    first_ = false;
    buf[n++] = '"';
    std::memcpy(buf + n, key, kLength);
    n += kLength;
    buf[n++] = '"';
    buf[n++] = ':';
    out_.append(buf, n);
    return *this;
  }
  void String(std::string_view s) { AppendJsonString(s, &out_); }
  void Int(int64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, end);
  }
  void Null() { out_ += "null"; }
  // Any value, written here: a small array costs a tenth of boost::json's serializer.
  void Value(const json::value& v) {
    switch (v.kind()) {
      case json::kind::string:
        return String(v.get_string());
      case json::kind::int64:
        return Int(v.get_int64());
      case json::kind::uint64: {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
        out_.append(buf, end);
        return;
      }
      case json::kind::null:
        return Null();
      case json::kind::bool_:
        out_ += v.get_bool() ? "true" : "false";
        return;
      case json::kind::double_:
        return Double(v.get_double());
      case json::kind::array: {
        out_ += '[';
        bool first = true;
        for (const json::value& item : v.get_array()) {
          if (!first) out_ += ',';
          first = false;
          Value(item);
        }
        out_ += ']';
        return;
      }
      case json::kind::object: {
        out_ += '{';
        bool first = true;
        for (const auto& member : v.get_object()) {
          if (!first) out_ += ',';
          first = false;
          String(member.key());
          out_ += ':';
          Value(member.value());
        }
        out_ += '}';
        return;
      }
    }
  }
  void Double(double d) { AppendJsonNumber(d, &out_); }
  void Time(TimePoint t) {
    // RFC 3339 with microseconds, as FormatTime writes it, without its printf.
    auto secs = std::chrono::floor<std::chrono::seconds>(t);
    auto days = std::chrono::floor<std::chrono::days>(secs);
    std::chrono::year_month_day ymd{std::chrono::sys_days(days.time_since_epoch())};
    int year = static_cast<int>(ymd.year());
    if (year < 0 || year > 9999) {
      out_ += '"';
      out_ += FormatTime(t);
      out_ += '"';
      return;
    }
    int64_t of_day = (secs - days).count();
    int64_t micros = (t - secs).count();
    char buf[32];
    auto put = [&buf](int at, int64_t value, int width) {
      for (int i = width - 1; i >= 0; --i, value /= 10)
        buf[at + i] = static_cast<char>('0' + value % 10);
    };
    buf[0] = '"';
    put(1, year, 4);
    buf[5] = '-';
    put(6, static_cast<unsigned>(ymd.month()), 2);
    buf[8] = '-';
    put(9, static_cast<unsigned>(ymd.day()), 2);
    buf[11] = 'T';
    put(12, of_day / 3600, 2);
    buf[14] = ':';
    put(15, of_day / 60 % 60, 2);
    buf[17] = ':';
    put(18, of_day % 60, 2);
    buf[20] = '.';
    put(21, micros, 6);
    buf[27] = 'Z';
    buf[28] = '"';
    out_.append(buf, 29);
  }
  void OptTime(const std::optional<TimePoint>& t) {
    if (t)
      Time(*t);
    else
      Null();
  }
  void OpenObject() {
    out_ += '{';
    first_ = true;
  }
  void CloseObject() {
    out_ += '}';
    first_ = false;
  }
  std::string& out() { return out_; }

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace

void AppendJson(const json::value& value, std::string* out) { JsonWriter(out).Value(value); }

void AppendJson(const Run& r, std::string* out) {
  JsonWriter w(out);
  w.OpenObject();
  w.Key("id").String(r.id);
  w.Key("queue").String(r.queue);
  w.Key("function").String(r.function);
  w.Key("task").String(r.task);
  w.Key("status").String(ToString(r.status));
  w.Key("args").Value(r.args);
  w.Key("data").Value(r.data);
  w.Key("priority").Int(r.priority);
  w.Key("account_id").String(r.account_id);
  w.Key("auth_account_id").String(r.auth_account_id);
  w.Key("created_at").Time(r.created_at);
  w.Key("run_at").Time(r.run_at);
  w.Key("scheduled_at").OptTime(r.scheduled_at);
  w.Key("started_at").OptTime(r.started_at);
  w.Key("finished_at").OptTime(r.finished_at);
  w.Key("lease_until").OptTime(r.lease_until);
  w.Key("runner").String(r.runner);
  w.Key("attempt").Int(r.attempt);
  w.Key("max_attempts").Int(r.retry.max_attempts);
  w.Key("delay").Double(Seconds(r.retry.delay));
  w.Key("delay_factor").Double(r.retry.delay_factor);
  w.Key("max_delay");
  if (r.retry.max_delay)
    w.Double(Seconds(*r.retry.max_delay));
  else
    w.Null();
  w.Key("timeout");
  if (r.timeout)
    w.Double(Seconds(*r.timeout));
  else
    w.Null();
  w.Key("time_to_resolve").Double(Seconds(r.time_to_resolve));
  w.Key("result").Value(r.result);
  w.Key("error").String(r.error);
  w.Key("error_kind").String(r.error_kind);
  w.Key("progress");
  w.OpenObject();
  w.Key("total").Int(r.progress.total);
  w.Key("succeeded").Int(r.progress.succeeded);
  w.Key("failed").Int(r.progress.failed);
  w.CloseObject();
  w.Key("parent_id").String(r.parent_id);
  w.Key("flow_id").String(r.flow_id);
  w.Key("input_file").String(r.input_file);
  w.Key("output_file").String(r.output_file);
  w.Key("attempts");
  w.out() += '[';
  for (size_t i = 0; i < r.attempts.size(); ++i) {
    const Attempt& a = r.attempts[i];
    if (i > 0) w.out() += ',';
    w.OpenObject();
    w.Key("number").Int(a.number);
    w.Key("runner").String(a.runner);
    w.Key("started_at").Time(a.started_at);
    w.Key("finished_at").OptTime(a.finished_at);
    w.Key("outcome").String(a.outcome);
    w.Key("error").String(a.error);
    w.Key("output").String(a.output);
    w.CloseObject();
  }
  w.out() += ']';
  w.CloseObject();
}

namespace {
Result<Attempt> AttemptFromJson(const json::value& v, size_t index) {
  if (!v.is_object()) {
    return Status::InvalidArgument("attempts[" + std::to_string(index) + "]: expected an object");
  }
  Attempt a;
  ObjectReader in(v.get_object(), "attempts[" + std::to_string(index) + "]");
  in.Int("number", &a.number);
  in.String("runner", &a.runner);
  in.Time("started_at", &a.started_at);
  in.OptTime("finished_at", &a.finished_at);
  in.String("outcome", &a.outcome);
  in.String("error", &a.error);
  in.String("output", &a.output);
  TASKMILL_RETURN_IF_ERROR(in.Finish());
  return a;
}
}  // namespace

Result<Run> RunFromJson(const json::value& v) {
  if (!v.is_object()) return Status::InvalidArgument("run: expected a JSON object");
  Run r;
  ObjectReader in(v.get_object(), "run");
  in.String("id", &r.id);
  in.String("queue", &r.queue);
  in.String("function", &r.function);
  in.String("task", &r.task);
  std::string status = "pending";
  in.String("status", &status);
  in.Any("args", &r.args);
  in.Any("data", &r.data);
  in.Int("priority", &r.priority);
  in.String("account_id", &r.account_id);
  in.String("auth_account_id", &r.auth_account_id);
  in.Time("created_at", &r.created_at);
  in.Time("run_at", &r.run_at);
  in.OptTime("scheduled_at", &r.scheduled_at);
  in.OptTime("started_at", &r.started_at);
  in.OptTime("finished_at", &r.finished_at);
  in.OptTime("lease_until", &r.lease_until);
  in.String("runner", &r.runner);
  in.Int("attempt", &r.attempt);
  RetryFromJson(in, &r.retry);
  in.OptSeconds("timeout", &r.timeout);
  in.Seconds("time_to_resolve", &r.time_to_resolve);
  in.Any("result", &r.result);
  in.String("error", &r.error);
  in.String("error_kind", &r.error_kind);
  if (auto* p = in.Get("progress")) {
    if (!p->is_object()) return Status::InvalidArgument("run.progress: expected an object");
    ObjectReader pin(p->get_object(), "run.progress");
    pin.Int64("total", &r.progress.total);
    pin.Int64("succeeded", &r.progress.succeeded);
    pin.Int64("failed", &r.progress.failed);
    TASKMILL_RETURN_IF_ERROR(pin.Finish());
  }
  in.String("parent_id", &r.parent_id);
  in.String("flow_id", &r.flow_id);
  in.String("input_file", &r.input_file);
  in.String("output_file", &r.output_file);
  if (auto* a = in.Get("attempts")) {
    if (!a->is_array()) return Status::InvalidArgument("run.attempts: expected an array");
    size_t i = 0;
    for (const auto& item : a->get_array()) {
      auto attempt = AttemptFromJson(item, i++);
      if (!attempt.ok()) return attempt.status();
      r.attempts.push_back(std::move(*attempt));
    }
  }
  TASKMILL_RETURN_IF_ERROR(in.Finish());
  auto parsed = ParseRunStatus(status);
  if (!parsed) return Status::InvalidArgument("run.status: unknown status '" + status + "'");
  r.status = *parsed;
  return r;
}

json::object ToJson(const TaskDef& t) {
  json::object o;
  o["name"] = t.name;
  o["kind"] = ToString(t.kind);
  o["function"] = t.function;
  json::array command;
  for (const auto& c : t.command) command.emplace_back(c);
  o["command"] = std::move(command);
  o["shell"] = t.shell;
  o["working_dir"] = t.working_dir;
  json::object env;
  for (const auto& [k, v] : t.env) env[k] = v;
  o["env"] = std::move(env);
  o["args"] = t.args;
  o["schedule"] = t.schedule;
  o["timezone"] = t.timezone;
  o["misfire"] = t.misfire;
  o["misfire_max"] = t.misfire_max;
  o["overlap"] = t.overlap;
  o["pause_sec"] = Seconds(t.pause);
  o["time_to_resolve"] = Seconds(t.time_to_resolve);
  o["timeout"] = t.timeout ? json::value(Seconds(*t.timeout)) : json::value(nullptr);
  RetryToJson(t.retry, o);
  o["queue"] = t.queue;
  o["priority"] = t.priority;
  o["enabled"] = t.enabled;
  // Only when set: a task without a cap reads as it did before caps existed.
  if (t.max_concurrency > 0) o["max_concurrency"] = t.max_concurrency;
  return o;
}

Result<TaskDef> TaskDefFromJson(const json::value& v) {
  if (!v.is_object()) return Status::InvalidArgument("task: expected a JSON object");
  TaskDef t;
  ObjectReader in(v.get_object(), "task");
  in.String("name", &t.name);
  std::string kind = "single_shot";
  in.String("kind", &kind);
  in.String("function", &t.function);
  if (auto* c = in.Get("command")) {
    if (!c->is_array()) return Status::InvalidArgument("task.command: expected an array");
    for (const auto& item : c->get_array()) {
      if (!item.is_string()) {
        return Status::InvalidArgument("task.command: expected an array of strings");
      }
      t.command.emplace_back(item.get_string());
    }
  }
  in.Bool("shell", &t.shell);
  in.String("working_dir", &t.working_dir);
  if (auto* e = in.Get("env")) {
    if (!e->is_object()) return Status::InvalidArgument("task.env: expected an object");
    for (const auto& kv : e->get_object()) {
      if (!kv.value().is_string()) {
        return Status::InvalidArgument("task.env." + std::string(kv.key()) + ": expected a string");
      }
      t.env.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
    }
  }
  in.Any("args", &t.args);
  in.String("schedule", &t.schedule);
  in.String("timezone", &t.timezone);
  in.String("misfire", &t.misfire);
  in.Int("misfire_max", &t.misfire_max);
  in.String("overlap", &t.overlap);
  in.Seconds("pause_sec", &t.pause);
  in.Seconds("time_to_resolve", &t.time_to_resolve);
  in.OptSeconds("timeout", &t.timeout);
  RetryFromJson(in, &t.retry);
  in.String("queue", &t.queue);
  in.Int("priority", &t.priority);
  in.Bool("enabled", &t.enabled);
  in.Int("max_concurrency", &t.max_concurrency);
  TASKMILL_RETURN_IF_ERROR(in.Finish());
  auto parsed = ParseTaskKind(kind);
  if (!parsed) return Status::InvalidArgument("task.kind: unknown kind '" + kind + "'");
  t.kind = *parsed;
  return t;
}

bool IsValidQueueName(std::string_view name) {
  if (name.empty() || name.size() > 100) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string NewRunId(TimePoint now) {
  // UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, 74 random bits. The
  // generator is per thread so that id creation never contends on a lock.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t millis = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  uint64_t rand_a = rng();
  uint64_t rand_b = rng();
  uint8_t b[16];
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(millis >> (40 - 8 * i));
  b[6] = static_cast<uint8_t>(0x70 | ((rand_a >> 8) & 0x0f));
  b[7] = static_cast<uint8_t>(rand_a);
  b[8] = static_cast<uint8_t>(0x80 | ((rand_b >> 56) & 0x3f));
  for (int i = 9; i < 16; ++i) b[i] = static_cast<uint8_t>(rand_b >> (8 * (15 - i)));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

}  // namespace taskmill
