// Conformance tests of the runners' beats (RunnerBeat, RunnerList): every node of a
// cluster lists every runner. Written against the Storage interface alone.
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table (helpers.h).
const int kRunnersSubject = 0;

namespace {
using namespace std::chrono_literals;

RunnerInfo Runner(std::string id, TimePoint last_seen) {
  RunnerInfo runner;
  runner.id = std::move(id);
  runner.kind = "local";
  runner.host = "node-1";
  runner.pid = 4242;
  runner.queues = {"default", "mail"};
  runner.capacity = 16;
  runner.running = 3;
  runner.last_seen = last_seen;
  return runner;
}

std::vector<std::string> IdsOf(const std::vector<RunnerInfo>& runners) {
  std::vector<std::string> ids;
  for (const auto& runner : runners) ids.push_back(runner.id);
  return ids;
}

TEST_P(StorageConformance, RunnerBeatStoresEveryFieldAndReplacesTheLastBeat) {
  RunnerInfo runner = Runner("node-1:4242:a", kT0);
  Unwrap(storage().RunnerBeat(runner));
  std::vector<RunnerInfo> listed = Unwrap(storage().RunnerList(kT0, 60s));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], runner);

  runner.running = 16;
  runner.queues = {};
  runner.last_seen = At(5);
  Unwrap(storage().RunnerBeat(runner));
  listed = Unwrap(storage().RunnerList(At(5), 60s));
  ASSERT_EQ(listed.size(), 1u) << "one row per runner";
  EXPECT_EQ(listed[0], runner) << "the latest beat, empty queues (every queue) included";

  RunnerInfo remote;
  remote.id = "worker-1";
  remote.kind = "remote";
  remote.capacity = 1;
  remote.last_seen = At(6);
  Unwrap(storage().RunnerBeat(remote));
  listed = Unwrap(storage().RunnerList(At(6), 60s));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1], remote);
}

TEST_P(StorageConformance, RunnerListLeavesOutRunnersSilentForLongerThanForgetAfter) {
  Unwrap(storage().RunnerBeat(Runner("c-runner", kT0)));
  Unwrap(storage().RunnerBeat(Runner("a-runner", At(30))));
  Unwrap(storage().RunnerBeat(Runner("b-runner", At(50))));
  EXPECT_THAT(IdsOf(Unwrap(storage().RunnerList(At(55), 60s))),
              ::testing::ElementsAre("a-runner", "b-runner", "c-runner"))
      << "by id";
  EXPECT_THAT(IdsOf(Unwrap(storage().RunnerList(At(61), 60s))),
              ::testing::ElementsAre("a-runner", "b-runner"))
      << "c-runner was last seen 61 s ago";
  EXPECT_THAT(IdsOf(Unwrap(storage().RunnerList(At(91), 60s))), ::testing::ElementsAre("b-runner"));
  // A runner that beats again is listed again.
  Unwrap(storage().RunnerBeat(Runner("c-runner", At(100))));
  EXPECT_THAT(IdsOf(Unwrap(storage().RunnerList(At(100), 60s))),
              ::testing::ElementsAre("b-runner", "c-runner"));
  EXPECT_THAT(IdsOf(Unwrap(storage().RunnerList(At(100), 1h))),
              ::testing::ElementsAre("a-runner", "b-runner", "c-runner"))
      << "silent runners are still stored within the hour";
}

}  // namespace
}  // namespace taskmill::conformance
