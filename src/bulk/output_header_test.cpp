// A declared output header is written in full and in order, whatever the rows set:
// readers parse a fixed header by position. Only the `error` column taskmill adds to a
// header without one is left out when no row failed.
#include "bulk/bulk_test_util.h"

namespace taskmill::bulk {
namespace {
using testing::BulkFixture;
using ::testing::ElementsAre;
using Row = std::vector<std::string>;

class OutputHeaderTest : public BulkFixture {
 protected:
  void SetUp() override {
    // An iterator with a full header of its own, whose rows never set `x`.
    BulkFunction pages;
    pages.info.name = "test.pages";
    pages.info.input = "none";
    pages.header = {"name", "page", "x", "y"};
    pages.call = [](const BulkCall& call) {
      int64_t page = call.state.is_null() ? 0 : call.state.as_int64();
      if (page == 2) return BulkResult::Stop();
      std::vector<std::vector<std::string>> rows{{"doc", std::to_string(page), "", "7"}};
      return BulkResult::WriteRows(std::move(rows)).WithState(page + 1);
    };
    ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), pages).ok());

    // A CSV function with an extra output column that no row sets.
    BulkFunction extra;
    extra.info.name = "test.extra";
    extra.info.input = "csv";
    extra.info.mandatory = {"e164"};
    extra.info.output_header = {"out"};
    extra.call = [](const BulkCall& call) {
      if (call.row->GetOr("e164") == "bad") throw std::runtime_error("not a number");
      return BulkResult::Ok();
    };
    ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), extra).ok());
    Open();
  }
};

TEST_F(OutputHeaderTest, ADeclaredHeaderKeepsColumnsNoRowSet) {
  Enqueue("test.pages");
  Run run = RunOnce();
  EXPECT_EQ(run.status, RunStatus::kCompleted) << run.error;
  EXPECT_THAT(Output(run), ElementsAre(Row{"name", "page", "x", "y"}, Row{"doc", "0", "", "7"},
                                       Row{"doc", "1", "", "7"}));
}

TEST_F(OutputHeaderTest, AnOutputHeaderColumnNoRowSetIsKept) {
  ASSERT_TRUE(Create("test.extra", "e164\n+15550001\n+15550002\n", "kept").ok());
  Run run = RunOnce();
  EXPECT_EQ(run.status, RunStatus::kCompleted) << run.error;
  EXPECT_THAT(Output(run),
              ElementsAre(Row{"e164", "out"}, Row{"+15550001", ""}, Row{"+15550002", ""}));
}

TEST_F(OutputHeaderTest, TheAddedErrorColumnComesLastWhenARowFailed) {
  ASSERT_TRUE(Create("test.extra", "e164\n+15550001\nbad\n", "failed").ok());
  Run run = RunOnce();
  EXPECT_EQ(run.status, RunStatus::kPartial) << run.error;
  EXPECT_THAT(Output(run), ElementsAre(Row{"e164", "out", "error"}, Row{"+15550001", "", ""},
                                       Row{"bad", "", "not a number"}));
}

}  // namespace
}  // namespace taskmill::bulk
