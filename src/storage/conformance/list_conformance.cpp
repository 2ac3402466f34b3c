// Conformance tests of RunList: its filters, newest-first order and cursors that
// visit every run once. Written against the Storage interface alone, so every
// backend that instantiates StorageConformance runs them.
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kListSubject = 0;

namespace {
using namespace std::chrono_literals;
using ::testing::ElementsAre;

// ---- RunList --------------------------------------------------------------------------

// Six runs that differ in every filtered field, each created a second after the previous.
std::vector<Run> RunsToFilter() {
  std::vector<Run> runs;
  auto add = [&](std::string id, std::string task, std::string function, std::string queue,
                 std::string account, std::string parent, RunStatus status) {
    Run r;
    r.id = std::move(id);
    r.task = std::move(task);
    r.function = std::move(function);
    r.queue = std::move(queue);
    r.account_id = std::move(account);
    r.parent_id = std::move(parent);
    r.status = status;
    r.created_at = At(static_cast<int64_t>(runs.size()));
    r.run_at = r.created_at;
    if (IsFinal(status)) r.finished_at = r.created_at + 1s;
    runs.push_back(std::move(r));
  };
  add("r1", "t1", "task.t1", "qa", "acc1", "", RunStatus::kPending);
  add("r2", "t1", "task.t1", "qb", "acc2", "p1", RunStatus::kPending);
  add("r3", "", "fn.x", "qa", "acc1", "p1", RunStatus::kCompleted);
  add("r4", "t2", "task.t2", "qa", "acc2", "", RunStatus::kFailed);
  add("r5", "", "fn.y", "qb", "acc1", "", RunStatus::kPending);
  add("r6", "t1", "task.t1", "qa", "acc1", "p2", RunStatus::kCompleted);
  return runs;
}

TEST_P(StorageConformance, RunListFiltersAndListsNewestFirst) {
  for (const Run& r : RunsToFilter()) Put({r});
  auto list = [&](RunFilter filter) { return Ids(ListAll(std::move(filter))); };

  EXPECT_THAT(list({}), ElementsAre("r6", "r5", "r4", "r3", "r2", "r1"));
  RunFilter f;
  f.status = RunStatus::kCompleted;
  EXPECT_THAT(list(f), ElementsAre("r6", "r3"));
  f = {};
  f.status = RunStatus::kRunning;
  EXPECT_THAT(list(f), ElementsAre());
  f = {};
  f.task = "t1";
  EXPECT_THAT(list(f), ElementsAre("r6", "r2", "r1"));
  f = {};
  f.function = "fn.x";
  EXPECT_THAT(list(f), ElementsAre("r3"));
  f = {};
  f.queue = "qb";
  EXPECT_THAT(list(f), ElementsAre("r5", "r2"));
  f = {};
  f.account_id = "acc2";
  EXPECT_THAT(list(f), ElementsAre("r4", "r2"));
  f = {};
  f.parent_id = "p1";
  EXPECT_THAT(list(f), ElementsAre("r3", "r2"));
  // Filters combine with AND.
  f = {};
  f.queue = "qa";
  f.account_id = "acc1";
  f.status = RunStatus::kCompleted;
  EXPECT_THAT(list(f), ElementsAre("r6", "r3"));
  f = {};
  f.task = "t1";
  f.queue = "qb";
  f.status = RunStatus::kPending;
  EXPECT_THAT(list(f), ElementsAre("r2"));
  f = {};
  f.task = "no-such-task";
  EXPECT_THAT(list(f), ElementsAre());
}

TEST_P(StorageConformance, RunListReturnsRunsWithTheirAttempts) {
  Put({FullCompletedRun("with-attempts")});
  RunPage page = Unwrap(storage().RunList({}));
  ASSERT_EQ(page.runs.size(), 1u);
  EXPECT_RUN_EQ(page.runs[0], FullCompletedRun("with-attempts"));
}

TEST_P(StorageConformance, RunListCursorVisitsEveryRunExactlyOnce) {
  std::vector<Run> runs;
  for (int i = 0; i < 25; ++i) {
    Run r = NewTaskRun("page-" + std::to_string(100 + i), i % 2 ? "odd" : "even");
    r.created_at = At(i);
    runs.push_back(std::move(r));
  }
  Put(runs);
  std::vector<std::string> newest_first;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) newest_first.push_back(it->id);

  for (int limit : {1, 5, 7, 24, 25, 26, 1000}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    RunFilter filter;
    filter.limit = limit;
    std::vector<std::string> seen;
    size_t pages = 0;
    for (;;) {
      RunPage page = Unwrap(storage().RunList(filter));
      ++pages;
      ASSERT_LE(page.runs.size(), static_cast<size_t>(limit));
      for (const auto& r : page.runs) seen.push_back(r.id);
      if (page.next_cursor.empty()) break;
      ASSERT_EQ(page.runs.size(), static_cast<size_t>(limit)) << "a short page with a cursor";
      ASSERT_LE(pages, 30u) << "the cursor does not advance";
      filter.cursor = page.next_cursor;
    }
    EXPECT_EQ(seen, newest_first);
    // When the last page is full there must not be a cursor to an empty page.
    EXPECT_EQ(pages, (runs.size() + limit - 1) / limit);
  }

  // With a filter, pages hold only matching runs.
  RunFilter odd;
  odd.task = "odd";
  odd.limit = 4;
  std::vector<std::string> odd_ids = Ids(ListAll(odd));
  std::vector<std::string> expected_odd;
  for (const auto& id : newest_first) {
    if ((std::stoi(id.substr(5)) - 100) % 2) expected_odd.push_back(id);
  }
  EXPECT_EQ(odd_ids, expected_odd);
}

TEST_P(StorageConformance, RunListCursorIsStableWhenRunsArriveBetweenPages) {
  std::vector<Run> runs;
  for (int i = 0; i < 10; ++i) {
    Run r = NewRun("stable-" + std::to_string(i));
    r.created_at = At(i);
    runs.push_back(std::move(r));
  }
  Put(runs);
  RunFilter filter;
  filter.limit = 4;
  RunPage first = Unwrap(storage().RunList(filter));
  ASSERT_EQ(first.runs.size(), 4u);
  ASSERT_FALSE(first.next_cursor.empty());

  Run late = NewRun("late-arrival");
  late.created_at = At(100);
  Put({late});

  filter.cursor = first.next_cursor;
  std::vector<Run> rest = ListAll(filter);
  std::vector<std::string> seen = Ids(first.runs);
  for (const auto& id : Ids(rest)) seen.push_back(id);
  EXPECT_THAT(seen, ElementsAre("stable-9", "stable-8", "stable-7", "stable-6", "stable-5",
                                "stable-4", "stable-3", "stable-2", "stable-1", "stable-0"));
}

TEST_P(StorageConformance, RunListRejectsABadCursor) {
  Put({NewRun("one")});
  for (std::string cursor : {"not a cursor", "%%%", "-1"}) {
    RunFilter filter;
    filter.cursor = cursor;
    auto page = storage().RunList(filter);
    ASSERT_FALSE(page.ok()) << "cursor '" << cursor << "' was accepted";
    EXPECT_EQ(page.status().code(), StatusCode::kInvalidArgument) << page.status().ToString();
  }
}

}  // namespace
}  // namespace taskmill::conformance
