#include "runner/cap_slots.h"

#include <gmock/gmock.h>

#include <algorithm>

namespace taskmill {
namespace {
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(CapSlots, ARunThatEndsHandsItsSlotToTheFirstRunWaiting) {
  CapSlots<int> slots;
  slots.Held("q");
  slots.Wait("q", 1);
  slots.Wait("q", 2);
  EXPECT_EQ(slots.Ended("q", /*reusable=*/true), 1);
  EXPECT_EQ(slots.Ended("q", true), 2) << "the run that took the slot holds it in turn";
  EXPECT_EQ(slots.Ended("q", true), std::nullopt);
  EXPECT_THAT(slots.Stranded(), IsEmpty());
}

TEST(CapSlots, ASlotLeftFreeGoesToARunThatArrivesBeforeTheFinishesAreWritten) {
  CapSlots<int> slots;
  slots.Held("q");
  EXPECT_EQ(slots.Ended("q", true), std::nullopt);
  slots.Wait("q", 7);
  EXPECT_THAT(slots.TakeFree(), ElementsAre(7));
  EXPECT_THAT(slots.Stranded(), IsEmpty()) << "7 holds the slot now";

  // Once the finish that freed it is written, the slot is the storage's again.
  slots.Held("r");
  EXPECT_EQ(slots.Ended("r", true), std::nullopt);
  slots.FinishesWritten();
  slots.Wait("r", 8);
  EXPECT_THAT(slots.TakeFree(), IsEmpty());
  EXPECT_THAT(slots.Stranded(), ElementsAre(8)) << "no slot of r will come to it here";
}

TEST(CapSlots, AStoppedAttemptGivesUpItsSlot) {
  CapSlots<int> slots;
  slots.Held("q");
  slots.Wait("q", 1);
  EXPECT_EQ(slots.Ended("q", /*reusable=*/false), std::nullopt);
  EXPECT_THAT(slots.Stranded(), ElementsAre(1));
}

TEST(CapSlots, RunsWaitingInEachQueueAreTakenWhenTheRunnerStops) {
  CapSlots<int> slots;
  slots.Held("q");
  slots.Wait("q", 1);
  slots.Held("r");
  slots.Wait("r", 2);
  std::vector<int> all = slots.TakeAllWaiting();
  std::sort(all.begin(), all.end());
  EXPECT_THAT(all, ElementsAre(1, 2));
  EXPECT_EQ(slots.Ended("q", true), std::nullopt);
}

}  // namespace
}  // namespace taskmill
