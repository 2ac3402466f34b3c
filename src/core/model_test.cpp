#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <taskmill/clock.h>
#include <taskmill/model.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace taskmill {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr TimePoint kT0{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

std::string Time(TimePoint t) { return FormatTime(t); }
std::string Time(const std::optional<TimePoint>& t) { return t ? FormatTime(*t) : "null"; }
std::string Micros(const std::optional<Duration>& d) {
  return d ? std::to_string(d->count()) + "us" : "null";
}

// Field by field, so that a failure names the field. (Run::operator== is defaulted, but
// it is deleted while RetryPolicy has no operator==.)
void ExpectSameRetry(const RetryPolicy& a, const RetryPolicy& b) {
  EXPECT_EQ(a.max_attempts, b.max_attempts);
  EXPECT_EQ(a.delay.count(), b.delay.count());
  EXPECT_EQ(a.delay_factor, b.delay_factor);
  EXPECT_EQ(Micros(a.max_delay), Micros(b.max_delay));
}

void ExpectSameRun(const Run& a, const Run& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.function, b.function);
  EXPECT_EQ(a.task, b.task);
  EXPECT_EQ(ToString(a.status), ToString(b.status));
  EXPECT_EQ(a.args, b.args);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.account_id, b.account_id);
  EXPECT_EQ(a.auth_account_id, b.auth_account_id);
  EXPECT_EQ(Time(a.created_at), Time(b.created_at));
  EXPECT_EQ(Time(a.run_at), Time(b.run_at));
  EXPECT_EQ(Time(a.scheduled_at), Time(b.scheduled_at));
  EXPECT_EQ(Time(a.started_at), Time(b.started_at));
  EXPECT_EQ(Time(a.finished_at), Time(b.finished_at));
  EXPECT_EQ(Time(a.lease_until), Time(b.lease_until));
  EXPECT_EQ(a.runner, b.runner);
  EXPECT_EQ(a.attempt, b.attempt);
  ExpectSameRetry(a.retry, b.retry);
  EXPECT_EQ(Micros(a.timeout), Micros(b.timeout));
  EXPECT_EQ(a.time_to_resolve.count(), b.time_to_resolve.count());
  EXPECT_EQ(a.result, b.result);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.error_kind, b.error_kind);
  EXPECT_TRUE(a.progress == b.progress);
  EXPECT_EQ(a.parent_id, b.parent_id);
  EXPECT_EQ(a.flow_id, b.flow_id);
  EXPECT_EQ(a.input_file, b.input_file);
  EXPECT_EQ(a.output_file, b.output_file);
  ASSERT_EQ(a.attempts.size(), b.attempts.size());
  for (size_t i = 0; i < a.attempts.size(); ++i) {
    EXPECT_TRUE(a.attempts[i] == b.attempts[i])
        << "attempt " << i << ": " << json::serialize(ToJson(a.attempts[i])) << " vs "
        << json::serialize(ToJson(b.attempts[i]));
  }
}

void ExpectSameTask(const TaskDef& a, const TaskDef& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(ToString(a.kind), ToString(b.kind));
  EXPECT_EQ(a.function, b.function);
  EXPECT_EQ(a.command, b.command);
  EXPECT_EQ(a.shell, b.shell);
  EXPECT_EQ(a.working_dir, b.working_dir);
  EXPECT_EQ(a.env, b.env);
  EXPECT_EQ(a.args, b.args);
  EXPECT_EQ(a.schedule, b.schedule);
  EXPECT_EQ(a.timezone, b.timezone);
  EXPECT_EQ(a.misfire, b.misfire);
  EXPECT_EQ(a.misfire_max, b.misfire_max);
  EXPECT_EQ(a.overlap, b.overlap);
  EXPECT_EQ(a.pause.count(), b.pause.count());
  EXPECT_EQ(a.time_to_resolve.count(), b.time_to_resolve.count());
  EXPECT_EQ(Micros(a.timeout), Micros(b.timeout));
  ExpectSameRetry(a.retry, b.retry);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.enabled, b.enabled);
}

// Every field set to something other than its default, with awkward values: sub-second
// instants and durations, negative priority, large counters, characters that need
// escaping.
Run FullRun() {
  Run r;
  r.id = "0194a3b2-7c00-7abc-8def-0123456789ab";
  r.queue = "imports";
  r.function = "numbers.import";
  r.task = "nightly-import";
  r.status = RunStatus::kPartial;
  r.args = json::array{1, "two", json::object{{"three", 3.25}}, nullptr, false};
  r.data = json::object{{"customer", "acme \"quoted\"\n"}, {"ids", json::array{1, 2, 3}}};
  r.priority = -12;
  r.account_id = "account-7";
  r.auth_account_id = "admin-1";
  r.created_at = kT0 + 1us;
  r.run_at = kT0 + 5s + 250us;
  r.scheduled_at = kT0 + 5s;
  r.started_at = kT0 + 20s + 7us;
  r.finished_at = kT0 + 25s + 999'999us;
  r.lease_until = kT0 + 80s + 1us;
  r.runner = "runner-b";
  r.attempt = 2;
  r.retry.max_attempts = 4;
  r.retry.delay = 1500ms + 1us;
  r.retry.delay_factor = 2.5;
  r.retry.max_delay = 90s + 3us;
  r.timeout = 45s + 5us;
  r.time_to_resolve = 2min + 1us;
  r.result = json::object{{"rows", 12}, {"ok", true}};
  r.error = "row 7: bad field(s) number";
  r.error_kind = "user";
  r.progress = {int64_t{1} << 40, (int64_t{1} << 40) - 3, 3};
  r.parent_id = "flow-step-1";
  r.flow_id = "flow-1";
  r.input_file = "file-in-1";
  r.output_file = "file-out-1";
  r.attempts = {
      Attempt{1, "runner-a", kT0 + 6s + 1us, kT0 + 8s, "failed", "exit status 3", "line 1\nline 2"},
      Attempt{2, "runner-b", kT0 + 20s + 7us, std::nullopt, "running", "", ""},
  };
  return r;
}

TaskDef FullTask() {
  TaskDef t;
  t.name = "nightly";
  t.kind = TaskKind::kContinuous;
  t.function = "task.nightly";
  t.command = {"/usr/bin/env", "python3", "-c", "print('hi')"};
  t.shell = true;
  t.working_dir = "/srv/work";
  t.env = {{"LANG", "C.UTF-8"}, {"MODE", "fast"}};
  t.args = json::array{"--verbose", json::object{{"limit", 10}}};
  t.schedule = "*/15 * * * * *";
  t.timezone = "Europe/Berlin";
  t.misfire = "run_all";
  t.misfire_max = 3;
  t.overlap = "allow";
  t.pause = 90s + 1us;
  t.time_to_resolve = 5min;
  t.timeout = 250ms;
  t.retry = RetryPolicy{5, 2s, 3.0, 1h};
  t.queue = "reports";
  t.priority = 4;
  t.enabled = false;
  return t;
}

// Through text as well, as the API and the CLI do.
// The rule AppendJson follows, written the slow way: json::serialize's bytes for
// everything but numbers, which are the shortest text that reads back the same
// (std::to_chars) instead of Boost.JSON's exponent form ("0E0", "6E1").
std::string SerializePlain(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_: {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
      return std::string(buf, end);
    }
    case json::kind::array: {
      std::string out = "[";
      for (const json::value& item : v.get_array()) {
        if (out.size() > 1) out += ',';
        out += SerializePlain(item);
      }
      return out + "]";
    }
    case json::kind::object: {
      std::string out = "{";
      for (const auto& member : v.get_object()) {
        if (out.size() > 1) out += ',';
        out +=
            json::serialize(json::string_view(member.key())) + ":" + SerializePlain(member.value());
      }
      return out + "}";
    }
    default:
      return json::serialize(v);
  }
}

json::value Reparse(const json::object& o) { return json::parse(json::serialize(o)); }

// ---- Run JSON -------------------------------------------------------------------------

class RunJson : public ::testing::Test {
 protected:
  using Run = ::taskmill::Run;  // testing::Test::Run() would hide it in test bodies
};

TEST_F(RunJson, FixtureSetsEveryFieldToANonDefaultValue) {
  json::object full = ToJson(FullRun());
  json::object plain = ToJson(Run{});
  EXPECT_EQ(full.size(), plain.size());
  for (const auto& kv : plain) {
    ASSERT_TRUE(full.contains(kv.key())) << kv.key();
    EXPECT_NE(full.at(kv.key()), kv.value()) << "FullRun leaves '" << kv.key() << "' default";
  }
  json::object attempt = ToJson(FullRun().attempts[0]);
  for (const auto& kv : ToJson(Attempt{})) {
    EXPECT_NE(attempt.at(kv.key()), kv.value()) << "attempt field '" << kv.key() << "'";
  }
}

TEST_F(RunJson, RoundTripKeepsEveryField) {
  Run original = FullRun();
  auto direct = RunFromJson(ToJson(original));
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  ExpectSameRun(*direct, original);

  auto through_text = RunFromJson(Reparse(ToJson(original)));
  ASSERT_TRUE(through_text.ok()) << through_text.status().ToString();
  ExpectSameRun(*through_text, original);
  EXPECT_EQ(json::serialize(ToJson(*through_text)), json::serialize(ToJson(original)));
}

TEST_F(RunJson, RoundTripOfADefaultRun) {
  Run original;
  original.id = "plain";
  auto parsed = RunFromJson(Reparse(ToJson(original)));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ExpectSameRun(*parsed, original);
  json::object o = ToJson(original);
  EXPECT_TRUE(o.at("finished_at").is_null());
  EXPECT_TRUE(o.at("timeout").is_null());
  EXPECT_TRUE(o.at("max_delay").is_null());
  EXPECT_EQ(o.at("status"), "pending");
}

TEST_F(RunJson, EveryStatusRoundTrips) {
  for (RunStatus status : kAllRunStatuses) {
    Run run;
    run.status = status;
    auto parsed = RunFromJson(Reparse(ToJson(run)));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->status, status) << ToString(status);
  }
}

// AppendJson is the API's fast path for the same text: it must match byte for byte,
// numbers aside, which it writes plainly (SerializePlain).
TEST_F(RunJson, AppendJsonWritesWhatSerializingToJsonWritesWithPlainNumbers) {
  std::vector<Run> runs = {Run{}, FullRun()};
  Run awkward = FullRun();
  // Every character JSON escapes, a DEL and UTF-8 (neither escaped), in strings at the
  // top level, in args and in an attempt.
  std::string text = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f é ✓";
  awkward.id = text;
  awkward.error = text;
  awkward.args = json::array{text,
                             1.5,
                             -0.0,
                             1e-7,
                             12345678901234.5,
                             true,
                             nullptr,
                             uint64_t{18446744073709551615u},
                             int64_t{-42}};
  // More distinct doubles than the writer keeps formatted, each one twice.
  for (int i = 0; i < 40; ++i) awkward.args.as_array().push_back(i * 0.37 - 3);
  for (int i = 0; i < 40; ++i) awkward.args.as_array().push_back(i * 0.37 - 3);
  awkward.data = json::object{{"nested", json::object{{"k", json::array{}}}}, {"s", text}};
  awkward.result = 0.1;
  awkward.attempts[0].output = text;
  awkward.retry = RetryPolicy{3, 1500ms, 2.5, std::nullopt};
  awkward.timeout = 1us;
  awkward.time_to_resolve = 0s;
  runs.push_back(awkward);
  // Instants before the epoch, at its very start and far ahead.
  Run times = FullRun();
  times.created_at = TimePoint{} - 1us;
  times.run_at = TimePoint{};
  times.started_at = TimePoint{} + std::chrono::hours(24 * 365 * 7000);
  times.lease_until = TimePoint{} - std::chrono::hours(24 * 365 * 1969) - 1s;
  runs.push_back(times);
  for (RunStatus status : kAllRunStatuses) {
    Run run;
    run.status = status;
    run.priority = -3;
    runs.push_back(run);
  }
  for (const Run& run : runs) {
    std::string appended = "prefix:";
    AppendJson(run, &appended);
    EXPECT_EQ(appended, "prefix:" + SerializePlain(ToJson(run)));
  }
}

TEST(JsonNumber, NumbersAreWrittenPlainly) {
  std::string out;
  for (double d : {0.0, 60.0, 0.5, -2.0, 1e-7, 1e300, 12345678901234.5}) {
    AppendJsonNumber(d, &out);
    out += ' ';
  }
  EXPECT_EQ(out, "0 60 0.5 -2 1e-07 1e+300 12345678901234.5 ");
  taskmill::Run run;
  run.retry = RetryPolicy{3, 0s, 2.0, std::nullopt};
  run.time_to_resolve = 60s;
  std::string text;
  AppendJson(run, &text);
  EXPECT_NE(text.find(R"("delay":0,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("time_to_resolve":60,)"), std::string::npos) << text;
  EXPECT_EQ(text.find("E0"), std::string::npos) << text;
}

TEST(JsonString, AppendJsonStringWritesWhatSerializingTheStringWrites) {
  // Every byte below 0x80 (each control character, quote and backslash among them),
  // then UTF-8 and invalid UTF-8, which boost::json writes through as they are.
  std::string every;
  for (int c = 0; c < 0x80; ++c) every += static_cast<char>(c);
  for (std::string text :
       {std::string(), every, std::string("caf\u00e9 \u2713"), std::string("\xff\xfe end")}) {
    std::string appended = "prefix:";
    AppendJsonString(text, &appended);
    EXPECT_EQ(appended, "prefix:" + json::serialize(json::string_view(text.data(), text.size())));
  }
}

TEST_F(RunJson, MissingKeysTakeTheirDefaults) {
  auto parsed = RunFromJson(json::parse(R"({"id": "minimal", "function": "a.b"})"));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  Run expected;
  expected.id = "minimal";
  expected.function = "a.b";
  ExpectSameRun(*parsed, expected);
}

TEST_F(RunJson, UnknownKeysAreErrorsNamingTheKey) {
  json::object o = ToJson(FullRun());
  o["colour"] = "blue";
  auto parsed = RunFromJson(o);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("colour"));

  o = ToJson(FullRun());
  o["progress"].as_object()["skipped"] = 1;
  parsed = RunFromJson(o);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("progress.skipped"));

  o = ToJson(FullRun());
  o["attempts"].as_array()[1].as_object()["exit_code"] = 3;
  parsed = RunFromJson(o);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("attempts[1]"));
  EXPECT_THAT(parsed.status().message(), HasSubstr("exit_code"));
}

TEST_F(RunJson, WrongTypesAreErrorsNamingTheField) {
  struct Case {
    std::string key;
    json::value value;
    std::string mentions;
  };
  std::vector<Case> cases = {
      {"id", 5, "id"},
      {"priority", "high", "priority"},
      {"priority", 1.5, "priority"},
      {"priority", 1e12, "priority"},
      {"attempt", "2", "attempt"},
      {"created_at", 1767225600, "created_at"},
      {"run_at", "yesterday", "run_at"},
      {"finished_at", "2026-13-01T00:00:00Z", "finished_at"},
      {"status", "sleeping", "status"},
      {"status", 3, "status"},
      {"max_attempts", "3", "max_attempts"},
      {"delay", "1s", "delay"},
      {"delay_factor", "double", "delay_factor"},
      {"timeout", true, "timeout"},
      {"time_to_resolve", "1m", "time_to_resolve"},
      {"progress", 5, "progress"},
      {"attempts", json::object{}, "attempts"},
      {"attempts", json::array{5}, "attempts[0]"},
  };
  for (const auto& c : cases) {
    json::object o = ToJson(FullRun());
    o[c.key] = c.value;
    auto parsed = RunFromJson(o);
    ASSERT_FALSE(parsed.ok()) << c.key << " = " << c.value << " was accepted";
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.mentions)) << c.key << " = " << c.value;
  }
  json::object o = ToJson(FullRun());
  o["progress"].as_object()["total"] = "many";
  auto parsed = RunFromJson(o);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("progress.total"));

  o = ToJson(FullRun());
  o["attempts"].as_array()[0].as_object()["started_at"] = "soon";
  parsed = RunFromJson(o);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("started_at"));

  EXPECT_FALSE(RunFromJson(json::array{}).ok());
  EXPECT_FALSE(RunFromJson(json::value("run")).ok());
}

// ---- TaskDef JSON ---------------------------------------------------------------------

TEST(TaskDefJson, RoundTripKeepsEveryField) {
  json::object full = ToJson(FullTask());
  for (const auto& kv : ToJson(TaskDef{})) {
    EXPECT_NE(full.at(kv.key()), kv.value()) << "FullTask leaves '" << kv.key() << "' default";
  }
  auto parsed = TaskDefFromJson(Reparse(full));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ExpectSameTask(*parsed, FullTask());

  TaskDef plain;
  plain.name = "plain";
  auto parsed_plain = TaskDefFromJson(Reparse(ToJson(plain)));
  ASSERT_TRUE(parsed_plain.ok()) << parsed_plain.status().ToString();
  ExpectSameTask(*parsed_plain, plain);
}

TEST(TaskDefJson, ErrorsNameTheField) {
  json::object o = ToJson(FullTask());
  o["scheduel"] = "* * * * *";
  auto parsed = TaskDefFromJson(o);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("scheduel"));

  o = ToJson(FullTask());
  o["kind"] = "weekly";
  parsed = TaskDefFromJson(o);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("kind"));
  EXPECT_THAT(parsed.status().message(), HasSubstr("weekly"));

  o = ToJson(FullTask());
  o["env"].as_object()["PORT"] = 8080;
  parsed = TaskDefFromJson(o);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("env.PORT"));

  o = ToJson(FullTask());
  o["enabled"] = "yes";
  parsed = TaskDefFromJson(o);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("enabled"));
}

// ---- RetryPolicy ----------------------------------------------------------------------

TEST(RetryPolicy, DelayGrowsByTheFactor) {
  RetryPolicy policy{5, 1s, 2.0, std::nullopt};
  EXPECT_EQ(policy.DelayBeforeRetry(1), Duration(1s));
  EXPECT_EQ(policy.DelayBeforeRetry(2), Duration(2s));
  EXPECT_EQ(policy.DelayBeforeRetry(3), Duration(4s));
  EXPECT_EQ(policy.DelayBeforeRetry(4), Duration(8s));
  EXPECT_EQ(policy.DelayBeforeRetry(0), Duration(1s)) << "retry numbers start at 1";

  RetryPolicy constant{5, 1500ms, 1.0, std::nullopt};
  EXPECT_EQ(constant.DelayBeforeRetry(1), Duration(1500ms));
  EXPECT_EQ(constant.DelayBeforeRetry(10), Duration(1500ms));
  EXPECT_EQ(RetryPolicy{}.DelayBeforeRetry(3), Duration(0));
}

TEST(RetryPolicy, MaxDelayCapsTheDelay) {
  RetryPolicy policy{10, 1s, 2.0, 5s};
  EXPECT_EQ(policy.DelayBeforeRetry(3), Duration(4s));
  EXPECT_EQ(policy.DelayBeforeRetry(4), Duration(5s));
  EXPECT_EQ(policy.DelayBeforeRetry(60), Duration(5s));
  EXPECT_EQ(policy.DelayBeforeRetry(std::numeric_limits<int>::max()), Duration(5s));
}

TEST(RetryPolicy, HugeExponentsDoNotOverflow) {
  RetryPolicy unbounded{10, 1s, 2.0, std::nullopt};
  Duration previous{0};
  for (int retry : {1, 10, 50, 63, 64, 100, 1024, 1025, 100000, std::numeric_limits<int>::max()}) {
    Duration d = unbounded.DelayBeforeRetry(retry);
    EXPECT_GE(d, previous) << "retry " << retry;
    EXPECT_GT(d.count(), 0) << "retry " << retry;
    previous = d;
  }
  // The cap without max_delay is still far beyond any sensible delay.
  EXPECT_GE(previous, Duration(std::chrono::hours(24 * 365)));

  RetryPolicy huge_factor{10, 1s, 1e300, std::nullopt};
  EXPECT_GT(huge_factor.DelayBeforeRetry(3).count(), 0);
  // 0 s × ∞ must be 0, not NaN (whose conversion to an integer is undefined).
  RetryPolicy no_delay{10, 0s, 2.0, std::nullopt};
  EXPECT_EQ(no_delay.DelayBeforeRetry(5000), Duration(0));
  RetryPolicy no_delay_capped{10, 0s, 2.0, 1min};
  EXPECT_EQ(no_delay_capped.DelayBeforeRetry(5000), Duration(0));
}

TEST(RetryPolicy, ValidateNamesTheOffendingField) {
  EXPECT_TRUE(RetryPolicy{}.Validate().ok());
  EXPECT_TRUE((RetryPolicy{3, 1s, 2.0, 1min}.Validate().ok()));

  struct Case {
    RetryPolicy policy;
    std::string field;
  };
  std::vector<Case> cases = {
      {{0, 1s, 2.0, std::nullopt}, "max_attempts"},
      {{-1, 1s, 2.0, std::nullopt}, "max_attempts"},
      {{3, -1s, 2.0, std::nullopt}, "delay"},
      {{3, 1s, 0.5, std::nullopt}, "delay_factor"},
      {{3, 1s, std::nan(""), std::nullopt}, "delay_factor"},
      {{3, 1s, std::numeric_limits<double>::infinity(), std::nullopt}, "delay_factor"},
      {{3, 1s, 2.0, -1s}, "max_delay"},
  };
  for (const auto& c : cases) {
    Status status = c.policy.Validate();
    ASSERT_FALSE(status.ok()) << c.field;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), ::testing::StartsWith(c.field + ":")) << status.message();
  }
}

// ---- enums ----------------------------------------------------------------------------

TEST(RunStatusNames, EveryStatusHasAStableName) {
  std::vector<std::string> names;
  for (RunStatus status : kAllRunStatuses) {
    names.emplace_back(ToString(status));
    EXPECT_EQ(ParseRunStatus(ToString(status)), status) << ToString(status);
  }
  EXPECT_THAT(names, ::testing::ElementsAre("pending", "running", "completed", "partial", "failed",
                                            "lost", "stopped", "did_not_start", "unknown_task"));
  for (std::string bad : {"", "PENDING", "done", "success", "pending "}) {
    EXPECT_EQ(ParseRunStatus(bad), std::nullopt) << "'" << bad << "'";
  }
  EXPECT_FALSE(IsFinal(RunStatus::kPending));
  EXPECT_FALSE(IsFinal(RunStatus::kRunning));
  for (RunStatus status : kAllRunStatuses) {
    if (status != RunStatus::kPending && status != RunStatus::kRunning) {
      EXPECT_TRUE(IsFinal(status)) << ToString(status);
    }
  }
}

TEST(EnumNames, TaskKindsAndConflictModesRoundTrip) {
  for (TaskKind kind : {TaskKind::kSingleShot, TaskKind::kPeriodical, TaskKind::kContinuous}) {
    EXPECT_EQ(ParseTaskKind(ToString(kind)), kind);
  }
  EXPECT_EQ(ToString(TaskKind::kSingleShot), "single_shot");
  EXPECT_EQ(ParseTaskKind("cron"), std::nullopt);
  for (ConflictMode mode :
       {ConflictMode::kError, ConflictMode::kIgnore, ConflictMode::kOverwrite}) {
    EXPECT_EQ(ParseConflictMode(ToString(mode)), mode);
  }
  EXPECT_EQ(ToString(ConflictMode::kOverwrite), "overwrite");
  EXPECT_EQ(ParseConflictMode("replace"), std::nullopt);
}

// ---- run ids --------------------------------------------------------------------------

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

TEST(NewRunId, IsAVersion7Uuid) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewRunId(kT0);
    ASSERT_EQ(id.size(), 36u) << id;
    for (size_t pos = 0; pos < id.size(); ++pos) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
        EXPECT_EQ(id[pos], '-') << id;
      } else {
        EXPECT_TRUE(IsLowerHex(id[pos])) << id << " at " << pos;
      }
    }
    EXPECT_EQ(id[14], '7') << "version nibble: " << id;
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b')
        << "variant 10xx: " << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u) << "ids of the same millisecond collide";

  // The first 48 bits are the Unix time in milliseconds.
  std::string id = NewRunId(kT0 + 123ms + 456us);
  int64_t millis =
      std::chrono::duration_cast<std::chrono::milliseconds>((kT0 + 123ms).time_since_epoch())
          .count();
  std::string hex = id.substr(0, 8) + id.substr(9, 4);
  EXPECT_EQ(std::stoll(hex, nullptr, 16), millis) << id;
}

TEST(NewRunId, IdsOfLaterMillisecondsSortLater) {
  std::vector<std::string> ids;
  for (int i = 0; i < 2000; ++i) ids.push_back(NewRunId(kT0 + std::chrono::milliseconds(i)));
  ids.push_back(NewRunId(kT0 + std::chrono::hours(24 * 365 * 100)));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
}

// ---- time text ------------------------------------------------------------------------

TEST(TimeText, FormatIsRfc3339UtcWithMicroseconds) {
  EXPECT_EQ(FormatTime(kT0), "2026-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatTime(kT0 + 1us), "2026-01-01T00:00:00.000001Z");
  EXPECT_EQ(FormatTime(kT0 - 1us), "2025-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatTime(TimePoint{}), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatTime(TimePoint{} - 500ms), "1969-12-31T23:59:59.500000Z");
  EXPECT_EQ(FormatTime(std::chrono::sys_days{std::chrono::year{2024} / 2 / 29} + 13h + 14min + 15s +
                       161718us),
            "2024-02-29T13:14:15.161718Z");
}

TEST(TimeText, ParseInvertsFormat) {
  for (TimePoint t : {kT0, kT0 + 1us, kT0 - 1us, TimePoint{}, TimePoint{} - 500ms,
                      kT0 + 86400s * 365 * 50 + 999'999us}) {
    TimePoint parsed;
    ASSERT_TRUE(ParseTime(FormatTime(t), &parsed)) << FormatTime(t);
    EXPECT_EQ(FormatTime(parsed), FormatTime(t));
    EXPECT_TRUE(parsed == t) << FormatTime(t);
  }
}

TEST(TimeText, ParseAcceptsOffsetsAndShortForms) {
  auto parse = [](std::string_view text) {
    TimePoint t;
    EXPECT_TRUE(ParseTime(text, &t)) << text;
    return FormatTime(t);
  };
  const std::string t0 = "2026-01-01T00:00:00.000000Z";
  EXPECT_EQ(parse("2026-01-01T00:00:00Z"), t0);
  EXPECT_EQ(parse("2026-01-01T01:00:00+01:00"), t0);
  EXPECT_EQ(parse("2025-12-31T19:00:00-05:00"), t0);
  EXPECT_EQ(parse("2026-01-01T05:30:00+05:30"), t0);
  EXPECT_EQ(parse("2026-01-01T00:00:00+00:00"), t0);
  EXPECT_EQ(parse("2026-01-01t00:00:00z"), t0);
  EXPECT_EQ(parse("2026-01-01 00:00:00Z"), t0);
  EXPECT_EQ(parse("2026-01-01T00:00:00.5Z"), "2026-01-01T00:00:00.500000Z");
  EXPECT_EQ(parse("2026-01-01T00:00:00.123Z"), "2026-01-01T00:00:00.123000Z");
  EXPECT_EQ(parse("2026-01-01T00:00:00.1234567Z"), "2026-01-01T00:00:00.123456Z");
  EXPECT_EQ(parse("2026-01-01T02:00:00.25+02:00"), "2026-01-01T00:00:00.250000Z");
}

TEST(TimeText, ParseRejectsMalformedText) {
  for (std::string bad :
       {"", "2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00Z", "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00+01", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00Zjunk",
        "2026/01/01T00:00:00Z", "yesterday", "2026-01-01T00:00:00 Z"}) {
    TimePoint t = kT0;
    EXPECT_FALSE(ParseTime(bad, &t)) << "'" << bad << "' was accepted";
  }
}

}  // namespace
}  // namespace taskmill
