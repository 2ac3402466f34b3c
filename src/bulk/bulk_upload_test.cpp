// Creating bulk runs: validation before anything is stored, the file and the run
// stored together, limits, the JSON records form.
#include <boost/json.hpp>
#include <sstream>

#include "bulk/bulk_test_util.h"

namespace taskmill::bulk {
namespace {
namespace json = boost::json;
using testing::BulkFixture;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class BulkUploadTest : public BulkFixture {
 protected:
  void SetUp() override { RegisterAndOpen({}); }

  void RegisterAndOpen(BulkOptions options) {
    SetOptions(options);
    BulkFunction import;
    import.info.name = "test.import";
    import.info.input = "csv";
    import.info.mandatory = {"e164"};
    import.info.optional = {"account_id", "state"};
    import.call = [](const BulkCall&) { return BulkResult::Ok();
  };
  ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), import).ok());
  BulkFunction list;
  list.info.name = "test.list";
  list.info.input = "none";
  list.info.output_header = {"e164"};
  list.call = [](const BulkCall&) { return BulkResult::Stop(); };
  ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), list).ok());
  ASSERT_TRUE(registry().Register("test.json", [](RunContext&) {}).ok());
  Open();
}

  // Nothing of a rejected upload remains: no run, no staged file.
  void ExpectNothingStored() {
  EXPECT_EQ(RunCount(), 0);
  EXPECT_EQ(StagedFiles(), 0) << "a staged upload was left behind";
}
};  // namespace

TEST_F(BulkUploadTest, StoresTheRunAndItsInputTogether) {
  std::string csv = "e164,state,extra\n+15550001,active,x\n+15550002,,y\n";
  auto run = Create("test.import", csv, "upload-1");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->id, "upload-1");
  EXPECT_EQ(run->function, "test.import");
  EXPECT_EQ(run->status, RunStatus::kPending);
  EXPECT_EQ(run->progress, (Progress{2, 0, 0})) << "total = data rows";
  ASSERT_FALSE(run->input_file.empty());

  Run stored = Get("upload-1");
  EXPECT_EQ(stored.input_file, run->input_file);
  EXPECT_EQ(stored.progress.total, 2);
  auto file = storage().FileGet(run->input_file);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->run_id, "upload-1") << "the upload belongs to the run";
  EXPECT_EQ(file->name, "numbers.csv");
  EXPECT_EQ(ReadFile(stored, BulkFileStream::Which::kInput), csv) << "the input as uploaded";
  EXPECT_EQ(StagedFiles(), 0);
}

TEST_F(BulkUploadTest, StreamsALargeUploadInChunks) {
  std::string csv = "e164,state\n";
  for (int i = 0; i < 40000; ++i) csv += "+1555" + std::to_string(1000000 + i) + ",active\n";
  ASSERT_GT(csv.size(), 2 * runtime()->options().chunk_size);
  auto upload = BulkUpload::Start(engine(), {.run = {.function = "test.import"}});
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  // Pieces of odd sizes, as a network delivers them.
  for (size_t at = 0; at < csv.size(); at += 7919) {
    ASSERT_TRUE((*upload)->Append(std::string_view(csv).substr(at, 7919)).ok());
  }
  EXPECT_EQ((*upload)->bytes(), static_cast<int64_t>(csv.size()));
  auto run = (*upload)->Finish();
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->progress.total, 40000);
  auto file = storage().FileGet(run->input_file);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->size, static_cast<int64_t>(csv.size()));
  EXPECT_EQ(file->chunks, static_cast<int64_t>((csv.size() + runtime()->options().chunk_size - 1) /
                                               runtime()->options().chunk_size));
  EXPECT_EQ(ReadFile(*run, BulkFileStream::Which::kInput), csv);

  std::istringstream stream(csv);
  auto from_stream = CreateBulkRun(engine(), {.run = {.function = "test.import"}}, stream);
  ASSERT_TRUE(from_stream.ok()) << from_stream.status().ToString();
  EXPECT_EQ(ReadFile(*from_stream, BulkFileStream::Which::kInput), csv);
}

TEST_F(BulkUploadTest, RejectsEveryProblemAtOnceAndStoresNothing) {
  auto run = Create("test.import",
                    "e164,state\n"
                    "+15550001,active\n"
                    ",free\n"
                    "+15550003\n"
                    "+15550004,a,b\n"
                    "\"\",x\n");
  ASSERT_FALSE(run.ok());
  const Status& status = run.status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "the CSV is not a valid input for test.import:\n"
            "line 3: no value in the mandatory column e164\n"
            "line 4: the row has 1 cell; the header has 2\n"
            "line 5: the row has 3 cells; the header has 2\n"
            "line 6: no value in the mandatory column e164");
  const json::object& details = status.details().as_object();
  EXPECT_EQ(details.at("code"), "invalid_csv");
  EXPECT_EQ(details.at("error_count"), 4);
  const json::array& errors = details.at("errors").as_array();
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(json::serialize(errors[0]),
            R"({"line":3,"column":1,"message":"no value in the mandatory column e164"})");
  ExpectNothingStored();
}

TEST_F(BulkUploadTest, RejectsEachKindOfBadFileAndStoresNothing) {
  struct Case {
    std::string csv;
    std::string expected;  // a line of the message
  };
  std::vector<Case> cases = {
      {"", "line 1: the file is empty"},
      {"e164,state\n", "line 1: the file has a header but no rows"},
      {"number,state\n+1,x\n", "line 1: the header lacks the mandatory column e164"},
      {"e164,,state\n+1,,x\n", "line 1: header cell 2 is empty"},
      {"e164,state\n+1,x,y\n", "line 2: the row has 3 cells; the header has 2"},
      {"e164,state\n,x\n", "line 2: no value in the mandatory column e164"},
      {"e164,state\n+1,\"open\n", "line 2: unterminated quoted field"},
      {"e164,state\n+1,a\"b\n", "line 2: quote in unquoted field at column 5"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.csv);
    auto run = Create("test.import", c.csv);
    ASSERT_FALSE(run.ok());
    EXPECT_EQ(run.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(run.status().message(), HasSubstr(c.expected));
    ExpectNothingStored();
  }
}

// The limit belongs to the runtime of the function.
class BulkUploadLimitTest : public BulkUploadTest {
 protected:
  void SetUp() override {
    BulkOptions options;
    options.max_file_size = 4096;
    options.chunk_size = 1024;
    RegisterAndOpen(options);
  }
};

TEST_F(BulkUploadLimitTest, RejectsAFileOverTheSizeLimitAndStoresNothing) {
  auto upload = BulkUpload::Start(engine(), {.run = {.function = "test.import"}});
  ASSERT_TRUE(upload.ok());
  std::string row = "+15550001,active\n";
  Status st;
  int64_t sent = 0;
  while (st.ok() && sent < 10000) {
    st = (*upload)->Append(row);
    sent += static_cast<int64_t>(row.size());
  }
  EXPECT_EQ(st.code(), StatusCode::kTooLarge) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("limit of 4 KiB (bulk max_file_size)"));
  EXPECT_EQ((*upload)->Finish().status().code(), StatusCode::kFailedPrecondition);
  ExpectNothingStored();

  std::string fits = "e164\n";
  while (fits.size() + 10 <= 4096) fits += "+15550001\n";
  EXPECT_TRUE(Create("test.import", fits).ok()) << "a file of the limit's size is accepted";
}

TEST_F(BulkUploadTest, RejectsFunctionsThatTakeNoCsv) {
  for (std::string function : {"test.list", "test.json"}) {
    auto run = Create(function, "e164\n+1\n");
    ASSERT_FALSE(run.ok()) << function;
    EXPECT_EQ(run.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(run.status().details().at("code"), "not_a_csv_function");
    EXPECT_THAT(run.status().message(), HasSubstr(function));
  }
  auto unknown = Create("test.nope", "e164\n+1\n");
  EXPECT_EQ(unknown.status().details().at("code"), "unknown_function");
  ExpectNothingStored();
}

TEST_F(BulkUploadTest, ADuplicateIdIsAConflictAndTheUploadIsRemoved) {
  ASSERT_TRUE(Create("test.import", "e164\n+1\n", "same").ok());
  auto again = Create("test.import", "e164\n+2\n", "same");
  EXPECT_EQ(again.status().code(), StatusCode::kConflict) << again.status().ToString();
  EXPECT_EQ(RunCount(), 1);
  EXPECT_EQ(StagedFiles(), 0);

  BulkCreateRequest ignore;
  ignore.run.function = "test.import";
  ignore.run.id = "same";
  ignore.conflict = ConflictMode::kIgnore;
  auto kept = CreateBulkRun(engine(), ignore, "e164\n+3\n");
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(ReadFile(*kept, BulkFileStream::Which::kInput), "e164\n+1\n");
  EXPECT_EQ(StagedFiles(), 0);
}

TEST_F(BulkUploadTest, ConvertsJsonRecordsToCsv) {
  json::value records = json::parse(R"([
    {"e164": "+15550001", "state": "active"},
    {"e164": "+15550002", "account_id": null, "note": "a,\"b\""},
    {"e164": 15550003, "state": true}
  ])");
  auto run = CreateBulkRunFromRecords(engine(), {.run = {.function = "test.import"}}, records);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->progress.total, 3);
  EXPECT_EQ(ReadFile(*run, BulkFileStream::Which::kInput),
            "e164,state,account_id,note\n"
            "+15550001,active,,\n"
            "+15550002,,,\"a,\"\"b\"\"\"\n"
            "15550003,true,,\n");
  EXPECT_EQ(storage().FileGet(run->input_file)->name, "records.csv");

  auto missing = CreateBulkRunFromRecords(engine(), {.run = {.function = "test.import"}},
                                          json::parse(R"([{"state":"x"}])"));
  EXPECT_THAT(missing.status().message(), HasSubstr("lacks the mandatory column e164"));
  auto nested = CreateBulkRunFromRecords(engine(), {.run = {.function = "test.import"}},
                                         json::parse(R"([{"e164":"+1"},{"e164":{"a":1}}])"));
  EXPECT_EQ(nested.status().details().at("field"), "records[1].e164");
  EXPECT_EQ(
      CreateBulkRunFromRecords(engine(), {.run = {.function = "test.import"}}, json::parse("[]"))
          .status()
          .details()
          .at("field"),
      "records");
  EXPECT_EQ(RunCount(), 1);
  EXPECT_EQ(StagedFiles(), 0);
}

}  // namespace taskmill::bulk
}  // namespace taskmill::bulk
