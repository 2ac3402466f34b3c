// Executing bulk runs: every return form, verifiers, throws, stop, iterators, header
// rules, the final statuses, cancel midway, progress while running, throttling.
#include <atomic>
#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "bulk/bulk_test_util.h"

namespace taskmill::bulk {
namespace {
namespace json = boost::json;
using testing::BulkFixture;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ProgressWatch;
using testing::Table;
using Row = std::vector<std::string>;

bool IsE164(std::string_view v) {
  if (v.size() < 8 || v.size() > 16 || v[0] != '+') return false;
  for (char c : v.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

class BulkAttemptTest : public BulkFixture {
 protected:
  void SetUp() override {
    BulkOptions options;
    options.sleep = [this](const RunContext& context, Duration pause) {
      pauses_.push_back(pause);
      return !context.cancelled();
    };
    SetOptions(options);
    RegisterAll();
    Open();
  }

  void RegisterAll();

  // Creates a run of `function` over `csv` and runs one attempt to its end.
  Run RunCsv(const std::string& function, std::string_view csv) {
    auto created = Create(function, csv);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return RunOnce();
  }

  std::function<BulkResult(const BulkCall&)> behavior_ = [](const BulkCall&) {
    return BulkResult::Ok();
  };
  std::function<BulkResult(const BulkEnd&)> finish_;
  std::atomic<int> calls_{0};
  std::optional<RunStatus> cleanup_status_;
  std::vector<Duration> pauses_;
};

void BulkAttemptTest::RegisterAll() {
  BulkFunction import;
  import.info.name = "test.import";
  import.info.input = "csv";
  import.info.mandatory = {"e164"};
  import.info.optional = {"account_id", "state"};
  import.info.output_header = {"note"};
  import.verifiers["e164"] = IsE164;
  import.verifiers["state"] = [](std::string_view v) {
    if (v == "boom") throw std::runtime_error("verifier exploded");
  return v == "active" || v == "free";
};
import.call = [this](const BulkCall& call) { ++calls_;
return behavior_(call);
};  // namespace
import.finish = [this](const BulkEnd& end) { return finish_ ? finish_(end) : BulkResult::Ok();
};  // namespace taskmill::bulk
import.cleanup = [this](const BulkEnd& end) { cleanup_status_ = end.status;
}
;
import.progress_every = 10;
ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), import).ok());

BulkFunction strict = import;
strict.info.name = "test.strict";
strict.stop_on_error = true;
ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), strict).ok());

BulkFunction replaced = import;
replaced.info.name = "test.replaced";
replaced.info.output_header = {};
replaced.header = {"result", "e164"};
ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), replaced).ok());

BulkFunction slow = import;
slow.info.name = "test.slow";
slow.wait_after_row = std::chrono::milliseconds(250);
ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), slow).ok());

BulkFunction list;
list.info.name = "test.list";
list.info.input = "none";
list.info.output_header = {"e164", "state"};
list.call = [this](const BulkCall& call) {
  ++calls_;
  return behavior_(call);
};
list.cleanup = [this](const BulkEnd& end) { cleanup_status_ = end.status; };
list.progress_every = 10;
ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), list).ok());
}

// ---- input runs ------------------------------------------------------------------------

TEST_F(BulkAttemptTest, OkWritesEveryInputRowAndCompletes) {
  Run run = RunCsv("test.import",
                   "e164,state,extra\n+15550001,active,a\n+15550002,,\"b,c\"\n+15550003,free,\n");
  EXPECT_EQ(run.status, RunStatus::kCompleted) << run.error;
  EXPECT_EQ(run.error, "");
  EXPECT_EQ(run.progress, (Progress{3, 3, 0}));
  EXPECT_EQ(calls_, 3);
  // The declared `note` is kept though no row set it; the `error` column taskmill adds
  // goes, as no row failed; the extra column passes through.
  EXPECT_THAT(
      Output(run),
      ElementsAre(Row{"e164", "state", "extra", "note"}, Row{"+15550001", "active", "a", ""},
                  Row{"+15550002", "", "b,c", ""}, Row{"+15550003", "free", "", ""}));
  EXPECT_EQ(json::serialize(run.result),
            R"({"rows":3,"succeeded":3,"failed":0,"written":3,"output_file":")" + run.output_file +
                R"("})");
  EXPECT_EQ(cleanup_status_, RunStatus::kCompleted);
}

// A row the function leaves as it is, without quoted cells, is copied from the input in
// one piece: the bytes must still be those the cell-by-cell appender writes, whatever
// the input's line breaks, quotes and byte order mark.
TEST_F(BulkAttemptTest, UnchangedRowsAreWrittenAsTheAppenderWritesThem) {
  behavior_ = [](const BulkCall& call) {
    std::string_view e164 = call.row->GetOr("e164");
    if (e164 == "+15550004") return BulkResult::Merge({{"note", "n"}});
    if (e164 == "+15550005") return BulkResult::Error("no");
    return BulkResult::Ok();
  };
  Run run = RunCsv("test.import",
                   "\xEF\xBB\xBF"
                   "e164,state,extra\r\n"
                   "+15550001,active,a\r\n"
                   "+15550002,\"free\",\"b,c\"\r\n"
                   "+15550003,,\r\n"
                   "+15550004,active,\"\"\n"
                   "+15550005,free,x\r"
                   "+15550006,active,last");
  EXPECT_EQ(run.progress, (Progress{6, 5, 1}));
  // Every column got a value: the output is read back as it is stored.
  EXPECT_EQ(ReadFile(run, BulkFileStream::Which::kOutput),
            "e164,state,extra,note,error\n"
            "+15550001,active,a,,\n"
            "+15550002,free,\"b,c\",,\n"
            "+15550003,,,,\n"
            "+15550004,active,,n,\n"
            "+15550005,free,x,,no\n"
            "+15550006,active,last,,\n");
}

TEST_F(BulkAttemptTest, TheFunctionSeesTheRowAsAMap) {
  std::vector<std::string> seen;
  behavior_ = [&](const BulkCall& call) {
    const BulkRow& row = *call.row;
    seen.push_back(json::serialize(row.ToJson()) + " line " + std::to_string(row.line()) + " #" +
                   std::to_string(row.number()) + " state=" +
                   (row.Get("state") ? "'" + std::string(*row.Get("state")) + "'" : "undefined") +
                   " account=" + std::string(row.GetOr("account_id", "none")));
    return BulkResult::Ok();
  };
  RunCsv("test.import",
         "e164,state,extra\n+15550001,,x\n+15550002,\"\",\"two\nlines\"\n+15550003,free,z\n");
  // account_id is declared but absent from the file: undefined. An unquoted empty
  // cell is undefined; a quoted "" is the empty string.
  EXPECT_THAT(
      seen,
      ElementsAre(
          R"({"e164":"+15550001","state":null,"extra":"x","account_id":null} line 2 #1 state=undefined account=none)",
          R"({"e164":"+15550002","state":"","extra":"two\nlines","account_id":null} line 3 #2 state='' account=none)",
          R"({"e164":"+15550003","state":"free","extra":"z","account_id":null} line 5 #3 state='free' account=none)"));
}

TEST_F(BulkAttemptTest, EveryReturnFormIsWrittenAndCounted) {
  behavior_ = [](const BulkCall& call) -> BulkResult {
    std::string action(call.row->GetOr("action"));
    if (action == "ok") return BulkResult::Ok();
    if (action == "error") return BulkResult::Error("no such carrier");
    if (action == "merge") return BulkResult::Merge({{"note", "imported"}, {"state", "free"}});
    if (action == "merge-error") return BulkResult::Merge({{"error", "merge says no"}});
    if (action == "row") return BulkResult::WriteRow({"+1999", "active", "row", "written"});
    if (action == "rows") {
      return BulkResult::WriteRows(
          {{"+1001", "", "rows", "first"}, {"+1002", "", "rows", "", "second failed"}});
    }
    if (action == "unknown-column") return BulkResult::Merge({{"colour", "red"}});
    if (action == "too-wide") return BulkResult::WriteRow({"1", "2", "3", "4", "5", "6"});
    if (action == "file") return BulkResult::File("/etc/hostname");
    return BulkResult::Error("unexpected action " + action);
  };
  Run run = RunCsv("test.import",
                   "e164,state,action\n"
                   "+15550001,active,ok\n"
                   "+15550002,active,error\n"
                   "+15550003,active,merge\n"
                   "+15550004,active,merge-error\n"
                   "+15550005,active,row\n"
                   "+15550006,active,rows\n"
                   "+15550007,active,unknown-column\n"
                   "+15550008,active,too-wide\n"
                   "+15550009,active,file\n");
  EXPECT_EQ(run.status, RunStatus::kPartial);
  // Rows count as one row, failed because one of the rows written has an error.
  EXPECT_EQ(run.progress, (Progress{9, 3, 6}));
  EXPECT_EQ(run.error, "6 of 9 rows failed; the output's error column says why");
  EXPECT_THAT(
      Output(run),
      ElementsAre(
          Row{"e164", "state", "action", "note", "error"}, Row{"+15550001", "active", "ok", "", ""},
          Row{"+15550002", "active", "error", "", "no such carrier"},
          Row{"+15550003", "free", "merge", "imported", ""},
          Row{"+15550004", "active", "merge-error", "", "merge says no"},
          Row{"+1999", "active", "row", "written", ""}, Row{"+1001", "", "rows", "first", ""},
          Row{"+1002", "", "rows", "", "second failed"},
          Row{"+15550007", "active", "unknown-column", "",
              "the function returned column 'colour', which is not in the output header"},
          Row{"+15550008", "active", "too-wide", "",
              "the function returned a row of 6 cells; the output header has 5"},
          Row{"+15550009", "active", "file", "",
              "the function returned a file; only functions without input may"}));
}

TEST_F(BulkAttemptTest, VerifiersRejectBadCellsWithoutCallingTheFunction) {
  Run run = RunCsv("test.import",
                   "e164,state,account_id\n"
                   "+15550001,active,anything\n"  // fine: account_id has no verifier
                   "12345,active,\n"              // bad e164
                   "+15550003,dormant,\n"         // bad state
                   "oops,boom,\n"                 // both; the state verifier throws
                   "+15550005,,\n"                // empty optional passes
                   "+15550006,\"\",\n");          // quoted empty optional passes too
  EXPECT_EQ(calls_, 3);
  EXPECT_EQ(run.status, RunStatus::kPartial);
  EXPECT_EQ(run.progress, (Progress{6, 3, 3}));
  // The declared `note` stays, empty: a declared header is written in full.
  EXPECT_THAT(Output(run),
              ElementsAre(Row{"e164", "state", "account_id", "note", "error"},
                          Row{"+15550001", "active", "anything", "", ""},
                          Row{"12345", "active", "", "", "bad field(s) e164"},
                          Row{"+15550003", "dormant", "", "", "bad field(s) state"},
                          Row{"oops", "boom", "", "", "bad field(s) e164, state"},
                          Row{"+15550005", "", "", "", ""}, Row{"+15550006", "", "", "", ""}));
}

TEST_F(BulkAttemptTest, AThrowingFunctionFailsItsRowAndTheRunGoesOn) {
  behavior_ = [](const BulkCall& call) -> BulkResult {
    if (call.row->number() == 2) throw std::runtime_error("database unavailable");
    if (call.row->number() == 3) throw 42;
    return BulkResult::Ok();
  };
  Run run = RunCsv("test.import", "e164\n+15550001\n+15550002\n+15550003\n+15550004\n");
  EXPECT_EQ(calls_, 4);
  EXPECT_EQ(run.status, RunStatus::kPartial);
  EXPECT_EQ(run.progress, (Progress{4, 2, 2}));
  EXPECT_THAT(Output(run), ElementsAre(Row{"e164", "note", "error"}, Row{"+15550001", "", ""},
                                       Row{"+15550002", "", "database unavailable"},
                                       Row{"+15550003", "", "the function threw an exception"},
                                       Row{"+15550004", "", ""}));
}

TEST_F(BulkAttemptTest, StopOnErrorEndsTheRunAtTheThrowingRow) {
  behavior_ = [](const BulkCall& call) -> BulkResult {
    if (call.row->number() == 2) throw std::runtime_error("database unavailable");
    return BulkResult::Ok();
  };
  Run run = RunCsv("test.strict", "e164\n+15550001\n+15550002\n+15550003\n");
  EXPECT_EQ(calls_, 2);
  EXPECT_EQ(run.status, RunStatus::kPartial);
  EXPECT_EQ(run.progress, (Progress{3, 1, 1}));
  EXPECT_EQ(run.error, "stopped at line 3: database unavailable (stop_on_error)");
  EXPECT_THAT(Output(run), ElementsAre(Row{"e164", "note", "error"}, Row{"+15550001", "", ""},
                                       Row{"+15550002", "", "database unavailable"}));
}

TEST_F(BulkAttemptTest, StopEndsTheRunWithoutWritingOrCountingItsRow) {
  behavior_ = [](const BulkCall& call) {
    return call.row->number() == 3 ? BulkResult::Stop() : BulkResult::Ok();
  };
  Run run = RunCsv("test.import", "e164\n+15550001\n+15550002\n+15550003\n+15550004\n");
  EXPECT_EQ(calls_, 3);
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.progress, (Progress{4, 2, 0}));
  EXPECT_THAT(Output(run),
              ElementsAre(Row{"e164", "note"}, Row{"+15550001", ""}, Row{"+15550002", ""}));
}

TEST_F(BulkAttemptTest, TheFinalStatusFollowsTheCounters) {
  behavior_ = [](const BulkCall& call) {
    return call.row->Get("state") == "free" ? BulkResult::Error("taken") : BulkResult::Ok();
  };
  Run completed = RunCsv("test.import", "e164,state\n+15550001,active\n+15550002,active\n");
  EXPECT_EQ(completed.status, RunStatus::kCompleted);
  EXPECT_EQ(completed.error_kind, "");

  Run failed = RunCsv("test.import", "e164,state\n+15550001,free\n+15550002,free\n");
  EXPECT_EQ(failed.status, RunStatus::kFailed);
  EXPECT_EQ(failed.error, "2 of 2 rows failed; the output's error column says why");
  EXPECT_EQ(failed.error_kind, "rows");
  EXPECT_EQ(failed.progress, (Progress{2, 0, 2}));

  Run partial = RunCsv("test.import", "e164,state\n+15550001,free\n+15550002,active\n");
  EXPECT_EQ(partial.status, RunStatus::kPartial);
  EXPECT_EQ(cleanup_status_, RunStatus::kPartial);
}

TEST_F(BulkAttemptTest, AReplacementHeaderMapsInputColumnsByName) {
  behavior_ = [](const BulkCall& call) {
    if (call.row->number() == 2) return BulkResult::WriteRow({"custom", "+1000"});
    return BulkResult::Merge({{"result", "ok"}});
  };
  Run run = RunCsv("test.replaced", "e164,state\n+15550001,active\n+15550002,free\n");
  EXPECT_THAT(Output(run),
              ElementsAre(Row{"result", "e164"}, Row{"ok", "+15550001"}, Row{"custom", "+1000"}));
}

TEST_F(BulkAttemptTest, StateGoesFromRowToRowAndFinishCanWriteASummary) {
  behavior_ = [](const BulkCall& call) {
    int64_t seen = call.state.is_null() ? 0 : call.state.as_int64();
    return BulkResult::Merge({{"note", std::to_string(seen)}}).WithState(seen + 1);
  };
  finish_ = [](const BulkEnd& end) {
    return BulkResult::WriteRow({"total", "", std::to_string(end.state.as_int64()), ""});
  };
  Run run = RunCsv("test.import", "e164,state\n+15550001,active\n+15550002,active\n+15550003,\n");
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.progress, (Progress{3, 3, 0})) << "the summary row is not counted";
  EXPECT_THAT(Output(run),
              ElementsAre(Row{"e164", "state", "note"}, Row{"+15550001", "active", "0"},
                          Row{"+15550002", "active", "1"}, Row{"+15550003", "", "2"},
                          Row{"total", "", "3"}));
}

TEST_F(BulkAttemptTest, ACsvFunctionWithoutItsInputIsRefusedWhenCreated) {
  EnqueueRequest request;
  request.function = "test.import";
  auto run = engine().Enqueue(request);
  ASSERT_FALSE(run.ok());
  EXPECT_TRUE(run.status().IsInvalidArgument());
  EXPECT_EQ(run.status().details().at("code"), "csv_input_required");
  EXPECT_THAT(run.status().message(), HasSubstr("--input FILE"));
  EXPECT_EQ(RunCount(), 0);
  EXPECT_EQ(calls_, 0);
}

// ---- cancel, progress, throttle -----------------------------------------------------------

TEST_F(BulkAttemptTest, CancelStopsBetweenRowsAndKeepsTheOutputSoFar) {
  std::string csv = "e164\n";
  for (int i = 0; i < 50; ++i) csv += "+1555000" + std::to_string(1000 + i) + "\n";
  ASSERT_TRUE(Create("test.import", csv, "to-cancel").ok());
  Run claimed = Claim();
  auto token = std::make_shared<CancellationToken>();
  behavior_ = [&](const BulkCall& call) {
    if (call.row->number() == 23) {
      // What Engine::Cancel does: the run is stopped in storage, the attempt told.
      EXPECT_TRUE(engine().storage().RunCancel("to-cancel", "", clock().Now()).ok());
      token->Cancel("stopped by an operator");
    }
    return BulkResult::Ok();
  };
  HandlerOutcome outcome = Execute(claimed, token);
  EXPECT_FALSE(FinishAttempt(claimed, outcome)) << "the stopped run is final already";
  EXPECT_EQ(calls_, 23);
  Run run = Get("to-cancel");
  EXPECT_EQ(run.status, RunStatus::kStopped);
  EXPECT_EQ(run.progress, (Progress{50, 23, 0}));
  Table output = Output(run);
  ASSERT_EQ(output.size(), 24u) << "header and the 23 rows done";
  EXPECT_EQ(output[23], (Row{"+15550001022", ""}));
  EXPECT_EQ(cleanup_status_, RunStatus::kStopped);
}

TEST_F(BulkAttemptTest, CountersAndOutputArePersistedWhileTheRunGoes) {
  std::string csv = "e164\n";
  for (int i = 0; i < 40; ++i) csv += "+1555000" + std::to_string(1000 + i) + "\n";
  ASSERT_TRUE(Create("test.import", csv, "watched").ok());
  ProgressWatch watch(engine().events());
  std::optional<Run> midway;
  std::string midway_output;
  behavior_ = [&](const BulkCall& call) {
    if (call.row->number() == 25) {
      // progress_every is 10. The checkpoint due at row 10 is always saved; later ones
      // coalesce while a save is in flight, so only "10 or more" is certain here.
      watch.WaitFor(10);
      midway = Get("watched");
      midway_output = ReadFile(*midway, BulkFileStream::Which::kOutput);
    }
    return BulkResult::Ok();
  };
  Run run = RunOnce();
  ASSERT_TRUE(midway.has_value());
  EXPECT_EQ(midway->status, RunStatus::kRunning);
  EXPECT_GE(midway->progress.succeeded, 10);
  EXPECT_LT(midway->progress.succeeded, 25);
  EXPECT_EQ(midway->progress.total, 40);
  Table partial = testing::ParseCsv(midway_output);
  EXPECT_EQ(static_cast<int64_t>(partial.size()), midway->progress.succeeded + 1)
      << "the output saved matches the counters saved";
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(Output(run).size(), 41u);
}

TEST_F(BulkAttemptTest, WaitAfterRowPausesAfterEachRow) {
  // The pause goes through BulkOptions::sleep, which this fixture records.
  Run run = RunCsv("test.slow", "e164\n+15550001\n+15550002\n+15550003\n");
  EXPECT_EQ(run.status, RunStatus::kCompleted) << run.error;
  EXPECT_THAT(pauses_, ElementsAre(std::chrono::milliseconds(250), std::chrono::milliseconds(250),
                                   std::chrono::milliseconds(250)));
  EXPECT_TRUE(RunCsv("test.import", "e164\n+15550001\n").status == RunStatus::kCompleted);
  EXPECT_EQ(pauses_.size(), 3u) << "no pause by default";
}

// ---- no-input functions: iterators ---------------------------------------------------------

TEST_F(BulkAttemptTest, AnIteratorIsCalledWithInitThenItsStateUntilStop) {
  std::vector<std::string> states;
  behavior_ = [&](const BulkCall& call) -> BulkResult {
    EXPECT_EQ(call.row, nullptr);
    states.push_back(json::serialize(call.state));
    if (call.state.is_null()) return BulkResult::Ok().WithState(0);  // init: nothing written
    int64_t page = call.state.as_int64();
    if (page == 3) return BulkResult::Stop();
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < 4; ++i) rows.push_back({"+1555" + std::to_string(page * 10 + i), "free"});
    return BulkResult::WriteRows(std::move(rows)).WithState(page + 1);
  };
  Enqueue("test.list");
  Run run = RunOnce();
  EXPECT_THAT(states, ElementsAre("null", "0", "1", "2", "3"));
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.progress, (Progress{12, 12, 0}));
  Table output = Output(run);
  ASSERT_EQ(output.size(), 13u);
  EXPECT_EQ(output[0], (Row{"e164", "state"}));
  EXPECT_EQ(output[1], (Row{"+15550", "free"}));
  EXPECT_EQ(output[12], (Row{"+155523", "free"}));
  EXPECT_EQ(cleanup_status_, RunStatus::kCompleted);
}

TEST_F(BulkAttemptTest, AnIteratorsStatusFollowsItsFailures) {
  auto run_iterator = [&](std::vector<BulkResult> script) {
    auto shared = std::make_shared<std::vector<BulkResult>>(std::move(script));
    behavior_ = [shared](const BulkCall& call) {
      size_t i = call.state.is_null() ? 0 : static_cast<size_t>(call.state.as_int64());
      if (i >= shared->size()) return BulkResult::Stop();
      BulkResult r = (*shared)[i];
      return std::move(r).WithState(static_cast<int64_t>(i + 1));
    };
    Enqueue("test.list");
    return RunOnce();
  };
  Run none = run_iterator({BulkResult::Ok()});
  EXPECT_EQ(none.status, RunStatus::kCompleted) << "nothing failed";
  EXPECT_EQ(none.progress, (Progress{0, 0, 0}));

  Run only_failures = run_iterator({BulkResult::Error("a"), BulkResult::Error("b")});
  EXPECT_EQ(only_failures.status, RunStatus::kFailed);
  // The declared columns stay, empty, beside the error column.
  EXPECT_THAT(Output(only_failures),
              ElementsAre(Row{"e164", "state", "error"}, Row{"", "", "a"}, Row{"", "", "b"}));

  Run mixed = run_iterator({BulkResult::WriteRow({"+1555", "free"}), BulkResult::Error("c"),
                            BulkResult::Merge({{"state", "free"}, {"error", "d"}})});
  EXPECT_EQ(mixed.status, RunStatus::kPartial);
  EXPECT_EQ(mixed.progress, (Progress{3, 1, 2}));
  EXPECT_THAT(Output(mixed), ElementsAre(Row{"e164", "state", "error"}, Row{"+1555", "free", ""},
                                         Row{"", "", "c"}, Row{"", "free", "d"}));
}

TEST_F(BulkAttemptTest, AThrowingIteratorEndsTheRun) {
  behavior_ = [](const BulkCall& call) -> BulkResult {
    if (call.state.is_null()) return BulkResult::WriteRow({"+1555", "free"}).WithState(1);
    throw std::runtime_error("cursor lost");
  };
  Enqueue("test.list");
  Run run = RunOnce();
  EXPECT_EQ(calls_, 2);
  EXPECT_EQ(run.status, RunStatus::kPartial);
  EXPECT_EQ(run.error, "stopped after the function failed: cursor lost");
  EXPECT_THAT(Output(run), ElementsAre(Row{"e164", "state", "error"}, Row{"+1555", "free", ""},
                                       Row{"", "", "cursor lost"}));
}

TEST_F(BulkAttemptTest, AnIteratorCanAttachAFileAsTheOutput) {
  conformance::TempDir dir;
  std::string path = (dir.path() / "report.csv").string();
  std::string content = "number,owner\n";
  for (int i = 0; i < 5000; ++i) content += "+1555" + std::to_string(i) + ",acme\n";
  std::ofstream(path) << content;
  behavior_ = [&](const BulkCall& call) {
    if (call.state.is_null()) return BulkResult::WriteRow({"+1", "x"}).WithState(1);
    return BulkResult::File(path);
  };
  Enqueue("test.list");
  Run run = RunOnce();
  EXPECT_EQ(run.status, RunStatus::kCompleted) << run.error;
  EXPECT_EQ(ReadFile(run, BulkFileStream::Which::kOutput), content)
      << "the file replaces what was written before";

  behavior_ = [](const BulkCall&) { return BulkResult::File("/no/such/file.csv"); };
  Enqueue("test.list");
  Run missing = RunOnce();
  EXPECT_EQ(missing.status, RunStatus::kFailed);
  Table output = Output(missing);
  ASSERT_EQ(output.size(), 2u);
  EXPECT_THAT(output[1].back(), HasSubstr("cannot read the file /no/such/file.csv"));
}

}  // namespace
}  // namespace taskmill::bulk
