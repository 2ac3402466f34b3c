// Co-process bulk functions: the JSON-lines codec, and real child processes — the
// probe script in tests/bulk/ (every answer form, crashes, restarts, protocol errors,
// state, iterators, finish, cancel) and the Python example of examples/bulk/.
#include "bulk/coprocess.h"

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "bulk/bulk_layout.h"
#include "bulk/bulk_test_util.h"
#include "bulk/jsonl_protocol.h"

namespace taskmill::bulk {
namespace {
namespace json = boost::json;
using testing::BulkFixture;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ProgressWatch;
using testing::Table;
using Row = std::vector<std::string>;

const std::string kProbe = std::string(TASKMILL_SOURCE_DIR) + "/tests/bulk/coprocess_probe.py";

// The interpreter itself rather than `python3`, which may be a launcher script (pyenv)
// that costs a second per start; empty when there is no Python.
const std::string& Python() {
  static const std::string path = [] {
    std::string out;
    if (FILE* p = ::popen("python3 -c 'import sys; print(sys.executable)' 2>/dev/null", "r")) {
      char buf[4096];
      while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
      ::pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }();
  return path;
}
const std::string kExample = std::string(TASKMILL_SOURCE_DIR) + "/examples/bulk/import.py";

// ---- the codec ---------------------------------------------------------------------------

TEST(JsonlProtocol, RowRequestsEscapeValuesAndCarryStateOnlyWhenGiven) {
  BulkLayout layout({"e164", "note", "empty"}, {"carrier"});
  std::vector<BulkCell> cells = {{"+1555", true}, {"say \"hi\"\n\t\x01 ok", true}, {"", false}};
  BulkRow row(layout, cells, 7, 6);
  std::string out;
  json::value state = json::object{{"n", 1}};
  AppendRowRequest(out, row, &state);
  AppendRowRequest(out, row, nullptr);
  EXPECT_EQ(
      out,
      R"({"row":{"e164":"+1555","note":"say \"hi\"\n\t\u0001 ok","empty":null},"line":7,"state":{"n":1}})"
      "\n"
      R"({"row":{"e164":"+1555","note":"say \"hi\"\n\t\u0001 ok","empty":null},"line":7})"
      "\n");
  // Every line is JSON that a strict parser accepts, even with bytes that are not UTF-8.
  std::vector<BulkCell> bad = {{"\xff\xfe", true}, {"caf\xc3\xa9", true}, {"", true}};
  out.clear();
  AppendRowRequest(out, BulkRow(layout, bad, 2, 1), nullptr);
  json::value parsed = json::parse(out);
  EXPECT_EQ(parsed.at("row").at("note"), "caf\xc3\xa9");
  EXPECT_EQ(parsed.at("row").at("empty"), "") << "a quoted empty cell is an empty string";

  out.clear();
  json::value null_state;
  AppendIterateRequest(out, &null_state);
  AppendFinishRequest(out, Progress{5, 3, 2}, nullptr);
  EXPECT_EQ(out,
            "{\"row\":null,\"state\":null}\n"
            "{\"finish\":true,\"progress\":{\"total\":5,\"succeeded\":3,\"failed\":2}}\n");
}

TEST(JsonlProtocol, ParsesEveryAnswerForm) {
  auto parse = [](std::string_view line) {
    auto r = ParseAnswer(line);
    EXPECT_TRUE(r.ok()) << line << ": " << r.status().ToString();
    return r.ok() ? std::move(*r) : BulkResult::Ok();
  };
  EXPECT_EQ(parse("\"ok\"").kind(), BulkResult::Kind::kOk);
  EXPECT_EQ(parse("\"stop\"\r").kind(), BulkResult::Kind::kStop);
  EXPECT_EQ(parse(R"({"ok":true})").kind(), BulkResult::Kind::kOk);
  EXPECT_EQ(parse(R"({"stop":true,"state":[1]})").kind(), BulkResult::Kind::kStop);
  BulkResult error = parse(R"({"error":"no such carrier"})");
  EXPECT_EQ(error.kind(), BulkResult::Kind::kError);
  EXPECT_EQ(error.message(), "no such carrier");
  BulkResult row = parse(R"({"row":["a",1,true,null,2.5]})");
  ASSERT_EQ(row.kind(), BulkResult::Kind::kRows);
  EXPECT_THAT(row.rows(), ElementsAre(Row{"a", "1", "true", "", "2.5"}));
  BulkResult rows = parse(R"({"rows":[["a"],[],["b","c"]]})");
  EXPECT_THAT(rows.rows(), ElementsAre(Row{"a"}, Row{}, Row{"b", "c"}));
  BulkResult merge = parse(R"({"merge":{"note":"x","n":3},"state":{"k":"v"}})");
  ASSERT_EQ(merge.kind(), BulkResult::Kind::kMerge);
  EXPECT_THAT(merge.columns(), ElementsAre(std::pair<std::string, std::string>{"note", "x"},
                                           std::pair<std::string, std::string>{"n", "3"}));
  ASSERT_TRUE(merge.state().has_value());
  EXPECT_EQ(json::serialize(*merge.state()), R"({"k":"v"})");
  BulkResult state_only = parse(R"({"state":null})");
  EXPECT_EQ(state_only.kind(), BulkResult::Kind::kOk);
  EXPECT_TRUE(state_only.state().has_value());
  EXPECT_EQ(parse(R"({"file":"/tmp/out.csv"})").path(), "/tmp/out.csv");
}

TEST(JsonlProtocol, RejectsWhatIsNotAnAnswerNamingTheProblem) {
  struct Case {
    std::string line;
    std::string says;
  };
  std::vector<Case> cases = {
      {"debug output", "not JSON"},
      {"", "not JSON"},
      {"42", "must be an object"},
      {"\"maybe\"", "must be \"ok\" or \"stop\""},
      {R"({"okay":true})", "unknown key \"okay\""},
      {R"({"ok":true,"error":"x"})", "both \"ok\" and \"error\""},
      {R"({"ok":false})", "\"ok\" must be true"},
      {R"({"error":""})", "\"error\" must be a non-empty string"},
      {R"({"row":"a,b"})", "\"row\" must be an array"},
      {R"({"row":[{"a":1}]})", "cells are strings"},
      {R"({"rows":[["a"],"b"]})", "\"rows\" must be an array of cells"},
      {R"({"merge":[1]})", "\"merge\" must be an object"},
      {R"({"merge":{"a":[1]}})", "\"merge\".a is an object or array"},
  };
  for (const auto& c : cases) {
    auto r = ParseAnswer(c.line);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_THAT(r.status().message(), HasSubstr(c.says)) << c.line;
  }
}

// ---- real processes ----------------------------------------------------------------------

class CoprocessTest : public BulkFixture {
 protected:
  void SetUp() override {
    if (Python().empty()) GTEST_SKIP() << "no python3";
    auto probe = [](std::string name, int pipeline) {
      CoprocessSpec spec;
      spec.info.name = std::move(name);
      spec.info.input = "csv";
      spec.info.mandatory = {"e164"};
      spec.info.optional = {"action"};
      spec.info.output_header = {"note", "count"};
      spec.verifiers["e164"] = R"(\+[0-9]{4,15})";
      spec.argv = {Python(), kProbe};
      spec.pipeline = pipeline;
      spec.max_restarts = 2;
      spec.kill_grace = std::chrono::seconds(2);
      spec.progress_every = 10;
      return spec;
    };
    ASSERT_TRUE(
        RegisterCoprocessFunction(registry(), runtime(), probe("probe.pipelined", 64)).ok());
    ASSERT_TRUE(RegisterCoprocessFunction(registry(), runtime(), probe("probe.lockstep", 1)).ok());
    CoprocessSpec strict = probe("probe.strict", 8);
    strict.stop_on_error = true;
    ASSERT_TRUE(RegisterCoprocessFunction(registry(), runtime(), strict).ok());
    CoprocessSpec missing = probe("probe.missing", 8);
    missing.argv = {"no-such-interpreter-taskmill", kProbe};
    ASSERT_TRUE(RegisterCoprocessFunction(registry(), runtime(), missing).ok());

    CoprocessSpec iterate;
    iterate.info.name = "probe.pages";
    iterate.info.input = "none";
    iterate.info.output_header = {"name"};
    iterate.argv = {Python(), kProbe};
    ASSERT_TRUE(RegisterCoprocessFunction(registry(), runtime(), iterate).ok());

    CoprocessSpec example;
    example.info.name = "pynumbers.import";
    example.info.input = "csv";
    example.info.mandatory = {"e164"};
    example.info.optional = {"account_id", "carrier", "state"};
    example.info.output_header = {"country"};
    example.verifiers["e164"] = R"(\+[0-9]{7,15})";
    example.argv = {Python(), kExample};
    example.progress_every = 1000;
    ASSERT_TRUE(RegisterCoprocessFunction(registry(), runtime(), example).ok());
    Open();
  }

  Run RunCsv(const std::string& function, std::string_view csv) {
    auto created = Create(function, csv);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return RunOnce();
  }

  static std::string Rows(std::initializer_list<std::string> actions) {
    std::string csv = "e164,action\n";
    int i = 0;
    for (const auto& action : actions)
      csv += "+15550" + std::to_string(100 + i++) + "," + action + "\n";
    return csv;
  }
};

TEST_F(CoprocessTest, EveryAnswerFormPipelinedOrInLockStep) {
  std::string csv = Rows({"ok", "error", "merge", "rows", "summary"}) + "12345,ok\n";
  for (std::string function : {"probe.pipelined", "probe.lockstep"}) {
    SCOPED_TRACE(function);
    Run run = RunCsv(function, csv);
    EXPECT_EQ(run.status, RunStatus::kPartial) << run.error;
    EXPECT_EQ(run.progress, (Progress{6, 4, 2})) << "the finish row is not counted";
    EXPECT_THAT(
        Output(run),
        ElementsAre(
            Row{"e164", "action", "note", "count", "error"}, Row{"+15550100", "ok", "", "", ""},
            Row{"+15550101", "error", "", "", "rejected line 3"},
            Row{"+15550102", "merge", "merged", "7", ""}, Row{"r1", "", "rows", "", ""},
            Row{"r2", "", "rows", "second", ""}, Row{"+15550104", "summary", "", "", ""},
            Row{"12345", "ok", "", "", "bad field(s) e164"}, Row{"finish", "4", "", "", ""}));
  }
}

TEST_F(CoprocessTest, ACrashFailsItsRowAndTheRestartedProcessGoesOnWithTheLatestState) {
  Run run = RunCsv("probe.pipelined",
                   Rows({"state", "state", "crash", "echo-state", "ok", "garbage", "echo-state"}));
  EXPECT_EQ(run.status, RunStatus::kPartial) << run.error;
  EXPECT_EQ(run.progress, (Progress{7, 5, 2}));
  Table output = Output(run);
  ASSERT_EQ(output.size(), 8u);
  // The declared `count` stays though no row set it: e164, action, note, count, error.
  ASSERT_EQ(output[0], (Row{"e164", "action", "note", "count", "error"}));
  EXPECT_THAT(output[3][4], HasSubstr("exited with code 3 before answering: "
                                      "about to crash on +15550102"));
  // The second process started from the state the first one returned last.
  EXPECT_EQ(output[4][2], R"({"counter": 2})");
  // A line that is not an answer fails its row and costs the process its life too.
  EXPECT_THAT(output[6][4], HasSubstr("co-process protocol error: the answer is not JSON"));
  EXPECT_THAT(output[6][4], HasSubstr("(answer: debug output)"));
  EXPECT_EQ(output[7][2], R"({"counter": 2})") << "third process, same saved state";
  EXPECT_THAT(last_outcome_.output, HasSubstr("about to crash on +15550102"))
      << "stderr is the attempt's output";
}

TEST_F(CoprocessTest, AProcessThatKeepsCrashingFailsTheAttempt) {
  Run run = RunCsv("probe.pipelined", Rows({"ok", "crash", "crash", "crash", "ok", "ok"}));
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.error_kind, "user");
  EXPECT_THAT(run.error, HasSubstr("failed 3 times in a row (max_restarts 2)"));
  EXPECT_EQ(run.progress, (Progress{6, 1, 3})) << "the rows after it are left for a retry";
  EXPECT_EQ(Output(run).size(), 5u);
}

TEST_F(CoprocessTest, StopOnErrorEndsTheRunAtTheCrash) {
  Run run = RunCsv("probe.strict", Rows({"ok", "crash", "ok"}));
  EXPECT_EQ(run.status, RunStatus::kPartial);
  EXPECT_THAT(run.error, HasSubstr("stopped at line 3: co-process "));
  EXPECT_EQ(run.progress, (Progress{3, 1, 1}));
}

TEST_F(CoprocessTest, StopEndsTheRun) {
  Run run = RunCsv("probe.pipelined", Rows({"ok", "stop", "ok"}));
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.progress, (Progress{3, 1, 0}));
  EXPECT_EQ(Output(run).size(), 2u);
}

TEST_F(CoprocessTest, AProgramThatCannotStartFailsTheAttemptClearly) {
  Run run = RunCsv("probe.missing", Rows({"ok"}));
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.error, "co-process command not found: no-such-interpreter-taskmill");
}

TEST_F(CoprocessTest, AnIteratorProcessWritesPagesUntilStop) {
  Enqueue("probe.pages");
  Run run = RunOnce();
  EXPECT_EQ(run.status, RunStatus::kCompleted) << run.error;
  EXPECT_THAT(Output(run), ElementsAre(Row{"name"}, Row{"p0-a"}, Row{"p0-b"}, Row{"p1-a"},
                                       Row{"p1-b"}, Row{"p2-a"}, Row{"p2-b"}));
  EXPECT_EQ(run.progress, (Progress{6, 6, 0}));
}

TEST_F(CoprocessTest, CancelReachesAProcessThatDoesNotAnswer) {
  std::string csv = "e164,action\n";
  for (int i = 0; i < 30; ++i) csv += "+1555000" + std::to_string(100 + i) + ",ok\n";
  csv += "+15550999,sleep\n";
  ASSERT_TRUE(Create("probe.lockstep", csv, "sleepy").ok());
  Run claimed = Claim();
  auto token = std::make_shared<CancellationToken>();
  ProgressWatch watch(engine().events());
  std::thread canceller([&] {
    watch.WaitFor(10);
    token->Cancel("timeout");
  });
  HandlerOutcome outcome = Execute(claimed, token);
  canceller.join();
  EXPECT_EQ(outcome.error_kind, "stopped");
  Run run = Get("sleepy");
  EXPECT_GE(run.progress.succeeded, 10);
  EXPECT_LE(run.progress.succeeded, 30);
  EXPECT_EQ(static_cast<int64_t>(Output(run).size()), run.progress.succeeded + 1)
      << "the output written up to the stop is kept";
}

// ---- the example of examples/bulk/import.py ------------------------------------------------

TEST_F(CoprocessTest, ThePythonExampleTagsNumbersAndRejectsBadOnes) {
  std::string csv =
      "e164,carrier,state,account_id\n"
      "+14155550100, ACME ,,a1\n"
      "+442071838750,,in_service,\n"
      "+4930123456,Telekom,dormant,\n"
      "+99912345678,,,\n"
      "not-a-number,,,\n";
  Run run = RunCsv("pynumbers.import", csv);
  EXPECT_EQ(run.status, RunStatus::kPartial) << run.error;
  EXPECT_EQ(run.progress, (Progress{5, 2, 3}));
  EXPECT_THAT(
      Output(run),
      ElementsAre(Row{"e164", "carrier", "state", "account_id", "country", "error"},
                  Row{"+14155550100", "acme", "available", "a1", "US", ""},
                  Row{"+442071838750", "", "in_service", "", "GB", ""},
                  Row{"+4930123456", "Telekom", "dormant", "", "",
                      "unknown state 'dormant'; expected one of available, reserved, in_service, "
                      "port_in, port_out"},
                  Row{"+99912345678", "", "", "", "", "no known country for +99912345678"},
                  Row{"not-a-number", "", "", "", "", "bad field(s) e164"}));
  // The finish answer's state is saved with the last checkpoint.
  auto checkpoint = storage().RunCheckpointGet(run.id, run.queue);
  ASSERT_TRUE(checkpoint.ok() && checkpoint->has_value());
  EXPECT_THAT((*checkpoint)->state, HasSubstr(R"("state":{"US":1,"GB":1})"));
  EXPECT_THAT(last_outcome_.output, HasSubstr("imported 2 numbers"));
}

TEST_F(CoprocessTest, ThePythonExampleHandlesManyRows) {
  std::string csv = "e164,state\n";
  for (int i = 0; i < 20000; ++i) {
    csv += "+4420" + std::to_string(70000000 + i) + (i % 1000 == 7 ? ",bogus\n" : ",\n");
  }
  Run run = RunCsv("pynumbers.import", csv);
  EXPECT_EQ(run.status, RunStatus::kPartial);
  EXPECT_EQ(run.progress, (Progress{20000, 19980, 20}));
  Table output = Output(run);
  ASSERT_EQ(output.size(), 20001u);
  EXPECT_EQ(output[20000], (Row{"+442070019999", "available", "GB", ""}));
}

}  // namespace
}  // namespace taskmill::bulk

namespace taskmill::bulk {
namespace {

// Found by the config fuzzer: a verifier with a huge repetition count overflowed an int
// inside std::regex's parser (undefined behaviour) instead of being refused.
TEST(CompileVerifiers, AHugeRepetitionCountIsRefusedNamingTheColumn) {
  auto huge = CompileVerifiers({{"e164", "\\+[0-9]{99999999999}"}});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(huge.status().message().find("column 'e164'"), std::string::npos);
  EXPECT_NE(huge.status().message().find("99999999999"), std::string::npos);
  // A pattern long enough to nest deeply is refused too.
  EXPECT_FALSE(CompileVerifiers({{"deep", std::string(300, '(') + std::string(300, ')')}}).ok());
  // Counts up to the bound, and escaped braces, are accepted.
  auto fine = CompileVerifiers({{"e164", "\\+[0-9]{8,15}"}, {"brace", "\\{123456\\}"}});
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_TRUE(fine->at("e164")("+4930123456"));
  EXPECT_TRUE(fine->at("brace")("{123456}"));
}

}  // namespace
}  // namespace taskmill::bulk
