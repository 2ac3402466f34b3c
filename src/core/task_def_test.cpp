// TaskDef::Validate: the rules of a task definition, whoever supplies it.
#include <gtest/gtest.h>
#include <taskmill/model.h>

#include <algorithm>

namespace taskmill {
namespace {

TaskDef FunctionTask() {
  TaskDef task;
  task.name = "report";
  task.function = "reports.daily";
  return task;
}

bool HasProblem(const TaskDef& task, const std::string& key, const std::string& part) {
  auto problems = task.Problems();
  return std::any_of(problems.begin(), problems.end(), [&](const TaskProblem& p) {
    return p.key == key && p.message.find(part) != std::string::npos;
  });
}

TEST(TaskDefValidate, AFunctionTaskWithDefaultsIsValid) {
  EXPECT_TRUE(FunctionTask().Validate().ok());
  TaskDef command;
  command.name = "backup";
  command.command = {"tar", "czf", "x.tgz", "."};
  command.function = "task.backup";
  EXPECT_TRUE(command.Validate().ok()) << command.Validate().message();
}

TEST(TaskDefValidate, NamesFollowTheRule) {
  TaskDef task = FunctionTask();
  task.name = "bad name";
  EXPECT_TRUE(HasProblem(task, "", "invalid task name 'bad name'"));
  task.name = "trigger.hourly";
  EXPECT_TRUE(HasProblem(task, "", "reserved for the headless triggers"));
}

TEST(TaskDefValidate, ExactlyOneOfFunctionAndCommand) {
  TaskDef task = FunctionTask();
  task.function.clear();
  EXPECT_TRUE(HasProblem(task, "", "one of func_name or command is required"));
  task = FunctionTask();
  task.command = {"ls"};
  EXPECT_TRUE(HasProblem(task, "", "mutually exclusive"));
}

TEST(TaskDefValidate, CommandKeysBelongToCommandTasks) {
  TaskDef task = FunctionTask();
  task.working_dir = "/tmp";
  EXPECT_TRUE(HasProblem(task, "working_dir", "only command tasks use this key"));
}

TEST(TaskDefValidate, ScheduleRules) {
  TaskDef task = FunctionTask();
  task.kind = TaskKind::kPeriodical;
  EXPECT_TRUE(HasProblem(task, "", "periodical tasks need a schedule"));
  task.schedule = "0 0 25 * * *";
  EXPECT_TRUE(HasProblem(task, "schedule", "25 is out of range 0-23"));
  task.kind = TaskKind::kSingleShot;
  task.schedule = "@daily";
  EXPECT_TRUE(HasProblem(task, "schedule", "only periodical tasks have a schedule"));
  task = FunctionTask();
  task.timezone = "Mars/Olympus_Mons";
  EXPECT_TRUE(HasProblem(task, "timezone", "expected an IANA name"));
}

TEST(TaskDefValidate, PoliciesDurationsRetryAndQueue) {
  TaskDef task = FunctionTask();
  task.misfire = "sometimes";
  task.overlap = "never";
  task.time_to_resolve = Duration::zero();
  task.retry.max_attempts = 0;
  task.queue = "no spaces";
  EXPECT_TRUE(HasProblem(task, "misfire", "unknown misfire policy 'sometimes'"));
  EXPECT_TRUE(HasProblem(task, "overlap", "unknown overlap policy 'never'"));
  EXPECT_TRUE(HasProblem(task, "time_to_resolve", "must be greater than 0"));
  EXPECT_TRUE(HasProblem(task, "", "max_attempts: must be at least 1"));
  EXPECT_TRUE(HasProblem(task, "queue", "invalid queue name 'no spaces'"));
}

TEST(TaskDefValidate, TheStatusSaysWhatAndWhere) {
  TaskDef task = FunctionTask();
  task.timeout = Duration::zero();
  Status status = task.Validate();
  ASSERT_TRUE(status.IsInvalidArgument());
  EXPECT_EQ(status.message(), "task 'report': timeout: must be greater than 0");
  EXPECT_EQ(status.details().as_object().at("task"), "report");
  EXPECT_EQ(status.details().as_object().at("problems").as_array().size(), 1u);
}

}  // namespace
}  // namespace taskmill
