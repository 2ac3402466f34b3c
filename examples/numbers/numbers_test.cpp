// The numbers example end to end: a real Engine with its runner, the sample file
// examples/data/numbers-10k.csv imported, listed and partly released.
#include "examples/numbers/numbers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <taskmill/bulk.h>
#include <taskmill/engine.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "csv/csv_reader.h"

namespace taskmill::examples {
namespace {
using ::testing::HasSubstr;
using Table = std::vector<std::vector<std::string>>;

Table ParseCsv(std::string_view text) {
  Table out;
  auto reader = csv::Reader::FromString(text);
  for (;;) {
    auto more = reader.Next();
    if (!more.ok() || !*more) return out;
    std::vector<std::string> row;
    for (const auto& f : reader.record().fields) row.emplace_back(f.value);
    out.push_back(std::move(row));
  }
}

class NumbersTest : public ::testing::Test {
 protected:
  // testing::Test::Run() would otherwise hide taskmill::Run inside the tests.
  using Run = ::taskmill::Run;

  void SetUp() override {
    char pattern[] = "/tmp/taskmill-numbers-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto runtime = std::make_shared<BulkRuntime>();
    auto registry = std::make_shared<FunctionRegistry>();
    ASSERT_TRUE(RegisterNumberFunctions(*registry, runtime,
                                        {.database = dir_ + "/data/numbers.db", .list_page = 1000})
                    .ok());
    EngineOptions options;
    options.storage.url = dir_ + "/taskmill.db?synchronous=normal";
    options.scheduler = false;
    // Bulk uploads do not wake the runner (they are stored directly); poll often.
    options.runner_options.poll_interval = std::chrono::milliseconds(10);
    auto engine = Engine::Open(options, registry);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    runtime->Attach(*engine_);
    ASSERT_TRUE(engine_->Start().ok());
  }

  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  Run Finished(const Run& run) {
    auto done = engine_->WaitFinished(run.id, run.queue, std::chrono::seconds(120));
    EXPECT_TRUE(done.ok()) << done.status().ToString();
    return done.ok() ? *done : Run{};
  }

  Run ImportCsv(std::string_view csv) {
    auto created =
        CreateBulkRun(*engine_, {.run = {.function = "numbers.import"}, .file_name = "n.csv"}, csv);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return Finished(*created);
  }

  Table Output(const Run& run) {
    auto stream = BulkFileStream::Open(engine_->storage(), run, BulkFileStream::Which::kOutput);
    EXPECT_TRUE(stream.ok()) << stream.status().ToString();
    std::string text;
    for (;;) {
      auto piece = (*stream)->Next();
      if (!piece.ok() || piece->empty()) break;
      text += *piece;
    }
    return ParseCsv(text);
  }

  std::string dir_;
  std::unique_ptr<Engine> engine_;
};

std::string ReadSample() {
  std::ifstream in(std::string(TASKMILL_SOURCE_DIR) + "/examples/data/numbers-10k.csv");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_F(NumbersTest, ImportsTheSampleFileListsAndReleases) {
  std::string sample = ReadSample();
  ASSERT_FALSE(sample.empty());
  // What the verifiers and the table must say, computed from the file itself.
  Table input = ParseCsv(sample);
  ASSERT_EQ(input.size(), 10001u);
  const std::regex e164(R"(\+[0-9]{7,15})");
  const std::regex account(R"([0-9a-fA-F]{32})");
  const std::set<std::string> states = {"available", "reserved", "in_service", "port_in",
                                        "port_out"};
  std::map<std::string, int64_t> expected_errors;
  std::set<std::string> imported;
  for (size_t i = 1; i < input.size(); ++i) {
    const auto& r = input[i];
    std::vector<std::string> bad;
    if (!std::regex_match(r[0], e164)) bad.push_back("e164");
    if (!r[1].empty() && !std::regex_match(r[1], account)) bad.push_back("account_id");
    if (!r[3].empty() && !states.count(r[3])) bad.push_back("state");
    if (!bad.empty()) {
      std::string message = "bad field(s) " + bad[0];
      for (size_t k = 1; k < bad.size(); ++k) message += ", " + bad[k];
      ++expected_errors[message];
    } else if (!imported.insert(r[0]).second) {
      ++expected_errors["number " + r[0] + " already exists"];
    }
  }
  int64_t failed = 10000 - static_cast<int64_t>(imported.size());
  ASSERT_GT(failed, 100) << "the sample has some bad rows";

  Run run = ImportCsv(sample);
  EXPECT_EQ(run.status, RunStatus::kPartial) << run.error;
  EXPECT_EQ(run.progress, (Progress{10000, static_cast<int64_t>(imported.size()), failed}));
  Table output = Output(run);
  ASSERT_EQ(output.size(), 10001u);
  EXPECT_EQ(output[0],
            (std::vector<std::string>{"e164", "account_id", "carrier", "state", "error"}));
  std::map<std::string, int64_t> errors;
  for (size_t i = 1; i < output.size(); ++i) {
    if (!output[i][4].empty()) {
      ++errors[output[i][4]];
    } else {
      EXPECT_FALSE(output[i][3].empty()) << "a missing state is filled in, line " << i + 1;
    }
  }
  EXPECT_EQ(errors, expected_errors);

  // numbers.list: every number, in order, 1,000 per step.
  EnqueueRequest list;
  list.function = "numbers.list";
  Run listed = Finished(*engine_->Enqueue(list));
  EXPECT_EQ(listed.status, RunStatus::kCompleted) << listed.error;
  Table numbers = Output(listed);
  ASSERT_EQ(numbers.size(), imported.size() + 1);
  EXPECT_EQ(numbers[0], (std::vector<std::string>{"e164", "account_id", "carrier", "state"}));
  auto expected = imported.begin();
  for (size_t i = 1; i < numbers.size(); ++i, ++expected) EXPECT_EQ(numbers[i][0], *expected);

  // numbers.release: two known numbers and an unknown one.
  auto first = imported.begin();
  std::string release = "e164\n" + *first + "\n" + *std::next(first) + "\n+19999999999\n";
  auto created = CreateBulkRun(*engine_, {.run = {.function = "numbers.release"}}, release);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  Run released = Finished(*created);
  EXPECT_EQ(released.status, RunStatus::kPartial);
  EXPECT_EQ(released.progress, (Progress{3, 2, 1}));
  EXPECT_EQ(Output(released)[3][1], "no number +19999999999");
  Run relisted = Finished(*engine_->Enqueue(list));
  EXPECT_EQ(Output(relisted).size(), imported.size() - 1);
}

TEST_F(NumbersTest, AFileWithoutAStateColumnGetsTheDefaultStateInItsOutput) {
  Run run = ImportCsv("e164,carrier\n+14155550100,acme\n12,acme\n+14155550102,acme\n");
  EXPECT_EQ(run.status, RunStatus::kPartial) << run.error;
  EXPECT_EQ(run.progress, (Progress{3, 2, 1}));
  Table output = Output(run);
  ASSERT_EQ(output.size(), 4u);
  EXPECT_EQ(output[0], (std::vector<std::string>{"e164", "carrier", "state", "error"}));
  EXPECT_EQ(output[1], (std::vector<std::string>{"+14155550100", "acme", "available", ""}));
  EXPECT_EQ(output[2][3], "bad field(s) e164");
  EXPECT_EQ(output[3][2], "available");
}

TEST_F(NumbersTest, RejectsAFileWithoutTheMandatoryColumn) {
  auto created = CreateBulkRun(*engine_, {.run = {.function = "numbers.import"}},
                               "number,state\n+15550001,available\n");
  ASSERT_FALSE(created.ok());
  EXPECT_THAT(created.status().message(), HasSubstr("lacks the mandatory column e164"));
}

}  // namespace
}  // namespace taskmill::examples
