// End-to-end: inputs of the `taskmill` client that must reach the server whole, or be
// refused before anything is sent. A real `taskmill serve` in a temp dir.
#include <gtest/gtest.h>

#include <fstream>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;

class CliInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = new Server(dir_->path() / "data");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_TRUE(server_->started()) << "server did not start:\n" << server_->startup_output();
  }
  static CommandResult Run(const std::vector<std::string>& args) {
    return Taskmill(args, server_->url());
  }
  static std::string WriteCsv(const std::string& name, const std::string& text) {
    std::string path = (dir_->path() / name).string();
    std::ofstream(path) << text;
    return path;
  }

  static TempDir* dir_;
  static Server* server_;
};
TempDir* CliInputTest::dir_ = nullptr;
Server* CliInputTest::server_ = nullptr;

TEST_F(CliInputTest, CsvRunsKeepEveryRunOption) {
  std::string csv = WriteCsv("numbers.csv", "e164\n+15550001\n+15550002\n");
  auto r = Run({"create",
                "numbers.import",
                "--input",
                csv,
                "--id",
                "csv-opts",
                "--queue",
                "bulk",
                "--max-attempts",
                "3",
                "--delay",
                "2",
                "--timeout",
                "1",
                "--time-to-resolve",
                "90",
                "--in",
                "60",
                "--priority",
                "4",
                "--args",
                R"([1,"a"])",
                "--data",
                R"({"k":"v"})",
                "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  auto shown = Run({"run", "csv-opts", "--queue", "bulk", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  json::value run = shown.Json();
  ASSERT_TRUE(run.is_object()) << shown.out;
  EXPECT_EQ(run.at("status"), "pending");
  EXPECT_EQ(run.at("max_attempts").to_number<int64_t>(), 3) << shown.out;
  EXPECT_EQ(run.at("priority").to_number<int64_t>(), 4) << shown.out;
  EXPECT_EQ(run.at("args"), (json::array{1, "a"})) << shown.out;
  EXPECT_EQ(run.at("data"), (json::object{{"k", "v"}})) << shown.out;
  EXPECT_EQ(run.at("timeout").to_number<double>(), 1.0) << shown.out;
  EXPECT_EQ(run.at("time_to_resolve").to_number<double>(), 90.0) << shown.out;
  EXPECT_NE(run.at("run_at"), run.at("created_at")) << "--in 60 delays the start";
}

TEST_F(CliInputTest, ACsvFunctionWithoutInputIsRefusedWhenCreated) {
  auto count = [] {
    auto runs = Run({"runs", "--function", "numbers.import", "--json"});
    EXPECT_EQ(runs.exit_code, 0) << runs.err;
    json::value v = runs.Json();
    return v.is_object() ? v.at("runs").as_array().size() : size_t{999};
  };
  size_t before = count();
  auto r = Run({"create", "numbers.import"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--input"), std::string::npos) << r.err;
  EXPECT_EQ(count(), before) << "nothing is stored";
}

TEST_F(CliInputTest, NumbersThatOverflowADoubleAreRefusedBeforeSending) {
  auto r = Run({"create", "demo.echo", "--args", "[1e400]"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--args[0]"), std::string::npos) << r.err;
  auto data = Run({"create", "demo.echo", "--data", R"({"x":{"y":-1e999}})"});
  EXPECT_EQ(data.exit_code, 2) << data.out << data.err;
  EXPECT_NE(data.err.find("--data.x.y"), std::string::npos) << data.err;
}

TEST_F(CliInputTest, DuplicateJsonKeysAreRefusedBeforeSending) {
  auto r = Run({"create", "demo.echo", "--data", R"({"a":1,"a":2})"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("duplicate key \"a\""), std::string::npos) << r.err;
}

TEST_F(CliInputTest, DemoSleepRefusesADurationOutOfRange) {
  auto r = Run({"create", "demo.sleep", "--args", "[1e300]", "--wait", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json::value run = r.Json();
  ASSERT_TRUE(run.is_object()) << r.out;
  EXPECT_EQ(run.at("status"), "failed");
  std::string error(run.at("error").as_string());
  EXPECT_NE(error.find("args[0]"), std::string::npos) << error;
  EXPECT_NE(error.find("from 0 to 1000000000"), std::string::npos) << error;
}

TEST_F(CliInputTest, ADelayOutOfRangeNamesTheField) {
  auto r = Run({"create", "demo.echo", "--in", "1e300"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("delay"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at most 1000000000"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taskmill::testing
