#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace taskmill::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

#ifdef TASKMILL_SOURCE_DIR
const std::string kSourceDir = TASKMILL_SOURCE_DIR;
#else
const std::string kSourceDir = ".";  // the tests run from the repository root
#endif

// The message of a load that must fail; fails the test when it loaded.
std::string ErrorOf(std::string_view yaml) {
  Result<Config> result = LoadString(yaml, "taskmill.yaml");
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << yaml;
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  return result.status().message();
}

Config LoadOk(std::string_view yaml) {
  Result<Config> result = LoadString(yaml, "taskmill.yaml");
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? std::move(result).value() : Config{};
}

// Field-by-field comparison, naming the field that differs. (TaskDef's defaulted
// operator== is unusable while RetryPolicy has none.)
void ExpectSameTask(const TaskDef& actual, const TaskDef& expected) {
  SCOPED_TRACE("task " + expected.name);
  EXPECT_EQ(actual.name, expected.name);
  EXPECT_EQ(actual.kind, expected.kind);
  EXPECT_EQ(actual.function, expected.function);
  EXPECT_EQ(actual.command, expected.command);
  EXPECT_EQ(actual.shell, expected.shell);
  EXPECT_EQ(actual.working_dir, expected.working_dir);
  EXPECT_EQ(actual.env, expected.env);
  EXPECT_EQ(actual.args, expected.args);
  EXPECT_EQ(actual.schedule, expected.schedule);
  EXPECT_EQ(actual.timezone, expected.timezone);
  EXPECT_EQ(actual.misfire, expected.misfire);
  EXPECT_EQ(actual.misfire_max, expected.misfire_max);
  EXPECT_EQ(actual.overlap, expected.overlap);
  EXPECT_EQ(actual.pause, expected.pause);
  EXPECT_EQ(actual.time_to_resolve, expected.time_to_resolve);
  EXPECT_EQ(actual.timeout, expected.timeout);
  EXPECT_EQ(actual.retry.max_attempts, expected.retry.max_attempts);
  EXPECT_EQ(actual.retry.delay, expected.retry.delay);
  EXPECT_EQ(actual.retry.delay_factor, expected.retry.delay_factor);
  EXPECT_EQ(actual.retry.max_delay, expected.retry.max_delay);
  EXPECT_EQ(actual.queue, expected.queue);
  EXPECT_EQ(actual.priority, expected.priority);
  EXPECT_EQ(actual.enabled, expected.enabled);
}

void ExpectSameConfig(const Config& actual, const Config& expected) {
  EXPECT_EQ(actual.server, expected.server);
  ASSERT_EQ(actual.tasks.size(), expected.tasks.size());
  for (size_t i = 0; i < expected.tasks.size(); ++i) {
    ExpectSameTask(actual.tasks[i], expected.tasks[i]);
  }
  EXPECT_EQ(actual.task_ttr, expected.task_ttr);
  EXPECT_EQ(actual.task_log_max_size, expected.task_log_max_size);
  EXPECT_EQ(actual.runner_capacity, expected.runner_capacity);
  EXPECT_EQ(actual.runner_prefetch, expected.runner_prefetch);
  EXPECT_EQ(actual.runner_output_limit, expected.runner_output_limit);
  EXPECT_EQ(actual.kill_grace, expected.kill_grace);
  EXPECT_EQ(actual.source, expected.source);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A file in the temp directory, removed when the test ends.
class TempFile {
 public:
  TempFile(const std::string& name, const std::string& text)
      : path_((std::filesystem::temp_directory_path() /
               ("taskmill_config_test_" + std::to_string(getpid()) + "_" + name))
                  .string()) {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---- valid files -------------------------------------------------------------------

TEST(ConfigLoad, FullConfigFillsEveryField) {
  Config config = LoadOk(R"(
server:
  listen: "0.0.0.0:9090"
  data_dir: /var/lib/taskmill
  storage: "sqlite:///var/lib/taskmill/x.db"
  synchronous: normal
  roles: [runner, api]
task_storage:
  task_ttr: 90
  task_log_max_size: 500
task_runner:
  capacity: 4
  prefetch: 0
  output_limit: 4096
  kill_grace_sec: 2.5
tasks:
  nightly-report:
    kind: periodical
    command: ["sh", "examples/scripts/nightly-report.sh"]
    shell: false
    working_dir: /srv
    env: { REPORT_DIR: /tmp, LEVEL: 3 }
    args: ["x", 2, 1.5, true, ~, "12", {k: [v]}]
    time_to_resolve: 0.5
    timeout: 30
    max_attempts: 5
    delay: 8
    delay_factor: 1.5
    max_delay: 3600
    pause_sec: 0
    schedule: "0 30 2 * * *"
    timezone: Europe/Berlin
    misfire: run_all
    misfire_max: 3
    overlap: allow
    queue: reports
    priority: -2
    enabled: false
  echo:
    kind: continuous
    func_name: demo.echo
    pause_sec: 12
)");

  Config expected;
  expected.source = "taskmill.yaml";
  expected.server.listen = "0.0.0.0:9090";
  expected.server.data_dir = "/var/lib/taskmill";
  expected.server.storage = "sqlite:///var/lib/taskmill/x.db";
  expected.server.synchronous = "normal";
  expected.server.roles = {"runner", "api"};
  expected.task_ttr = seconds(90);
  expected.task_log_max_size = 500;
  expected.runner_capacity = 4;
  expected.runner_prefetch = 0;
  expected.runner_output_limit = 4096;
  expected.kill_grace = milliseconds(2500);

  TaskDef report;
  report.name = "nightly-report";
  report.kind = TaskKind::kPeriodical;
  report.function = "task.nightly-report";
  report.command = {"sh", "examples/scripts/nightly-report.sh"};
  report.shell = false;
  report.working_dir = "/srv";
  report.env = {{"REPORT_DIR", "/tmp"}, {"LEVEL", "3"}};
  report.args = boost::json::parse(R"(["x", 2, 1.5, true, null, "12", {"k": ["v"]}])");
  report.time_to_resolve = milliseconds(500);
  report.timeout = seconds(30);
  report.retry.max_attempts = 5;
  report.retry.delay = seconds(8);
  report.retry.delay_factor = 1.5;
  report.retry.max_delay = seconds(3600);
  report.pause = seconds(0);
  report.schedule = "0 30 2 * * *";
  report.timezone = "Europe/Berlin";
  report.misfire = "run_all";
  report.misfire_max = 3;
  report.overlap = "allow";
  report.queue = "reports";
  report.priority = -2;
  report.enabled = false;

  TaskDef echo;
  echo.name = "echo";
  echo.kind = TaskKind::kContinuous;
  echo.function = "demo.echo";
  echo.pause = seconds(12);
  echo.time_to_resolve = seconds(90);  // task_storage.task_ttr

  expected.tasks = {report, echo};

  ExpectSameConfig(config, expected);
}

TEST(ConfigLoad, EmptyDocumentGivesEveryDefault) {
  Result<Config> result = LoadString("");
  ASSERT_TRUE(result.ok()) << result.status().message();
  Config expected;
  expected.source = "<string>";
  ExpectSameConfig(*result, expected);
  EXPECT_EQ(result->server.listen, "127.0.0.1:8080");
  EXPECT_EQ(result->server.data_dir, "./taskmill-data");
  EXPECT_EQ(result->server.storage, "");
  EXPECT_EQ(result->server.synchronous, "full");
  EXPECT_EQ(result->server.roles, (std::vector<std::string>{"api", "scheduler", "runner"}));
  EXPECT_EQ(result->task_ttr, seconds(60));
  EXPECT_EQ(result->task_log_max_size, 100);
  EXPECT_EQ(result->runner_capacity, 16);
  EXPECT_EQ(result->runner_output_limit, 1048576u);
  EXPECT_EQ(result->kill_grace, seconds(5));
  EXPECT_TRUE(result->tasks.empty());
}

TEST(ConfigLoad, ApiSectionSetsLimitsAndRules) {
  Config config = LoadOk(
      "api:\n  threads: 4\n  max_json_body: 2048\n  max_header: 4096\n"
      "  request_timeout_sec: 5\n  idle_timeout_sec: 7\n  max_connections: 10\n"
      "  max_wait_sec: 0\n  allow_command_tasks: true\n");
  EXPECT_EQ(config.api.threads, 4);
  EXPECT_EQ(config.api.max_json_body, 2048u);
  EXPECT_EQ(config.api.max_header, 4096u);
  EXPECT_EQ(config.api.request_timeout, seconds(5));
  EXPECT_EQ(config.api.idle_timeout, seconds(7));
  EXPECT_EQ(config.api.max_connections, 10);
  EXPECT_EQ(config.api.max_wait, seconds(0));
  EXPECT_TRUE(config.api.allow_command_tasks);
  EXPECT_EQ(LoadOk("").api, ApiSection{});
  EXPECT_EQ(ErrorOf("api:\n  max_json_body: 10\n"),
            "taskmill.yaml:2: api.max_json_body: must be at least 1024, got 10");
}

TEST(ConfigLoad, QueuesSectionSetsConcurrencyCaps) {
  Config config =
      LoadOk("queues:\n  mail: {max_concurrency: 4}\n  bulk:\n    max_concurrency: 0\n");
  EXPECT_EQ(config.queue_caps, (std::map<std::string, int>{{"mail", 4}, {"bulk", 0}}));
  EXPECT_EQ(ErrorOf("queues:\n  mail: {max_concurrency: -1}\n"),
            "taskmill.yaml:2: queues.mail.max_concurrency: must be at least 0, got -1");
  EXPECT_NE(ErrorOf("queues:\n  'bad name': {max_concurrency: 1}\n").find("invalid queue name"),
            std::string::npos);
  EXPECT_NE(ErrorOf("queues:\n  mail: {max_concurency: 1}\n").find("max_concurrency"),
            std::string::npos)
      << "an unknown key suggests the known one";
}

TEST(ConfigLoad, EmptySectionsAndNullValuesKeepDefaults) {
  Config config = LoadOk("server:\ntask_storage:\ntask_runner: {capacity: ~}\ntasks:\n");
  Config expected;
  expected.source = "taskmill.yaml";
  ExpectSameConfig(config, expected);
}

TEST(ConfigLoad, MinimalTaskHasTaskDefDefaults) {
  Config config = LoadOk("tasks:\n  hello:\n    func_name: demo.echo\n");
  ASSERT_EQ(config.tasks.size(), 1u);
  TaskDef expected;
  expected.name = "hello";
  expected.function = "demo.echo";
  ExpectSameTask(config.tasks[0], expected);
  EXPECT_EQ(config.tasks[0].kind, TaskKind::kSingleShot);
  EXPECT_EQ(config.tasks[0].args, boost::json::value(boost::json::array()));
  EXPECT_FALSE(config.tasks[0].timeout.has_value());
}

TEST(ConfigLoad, TaskTtrAppliesToTasksAboveIt) {
  // task_storage comes after tasks: the default still reaches the task.
  Config config = LoadOk(R"(
tasks:
  a: {func_name: demo.echo}
  b: {func_name: demo.echo, time_to_resolve: 5}
task_storage: {task_ttr: 300}
)");
  ASSERT_EQ(config.tasks.size(), 2u);
  EXPECT_EQ(config.tasks[0].time_to_resolve, seconds(300));
  EXPECT_EQ(config.tasks[1].time_to_resolve, seconds(5));
}

TEST(ConfigLoad, TasksKeepFileOrder) {
  Config config = LoadOk(
      "tasks:\n  zeta: {func_name: a.b}\n  alpha: {func_name: a.b}\n"
      "  mid: {func_name: a.b}\n");
  ASSERT_EQ(config.tasks.size(), 3u);
  EXPECT_EQ(config.tasks[0].name, "zeta");
  EXPECT_EQ(config.tasks[1].name, "alpha");
  EXPECT_EQ(config.tasks[2].name, "mid");
}

TEST(ConfigLoad, StringCommandWithShell) {
  Config config = LoadOk("tasks:\n  pipe:\n    command: \"ls | wc -l\"\n    shell: true\n");
  ASSERT_EQ(config.tasks.size(), 1u);
  EXPECT_EQ(config.tasks[0].command, std::vector<std::string>{"ls | wc -l"});
  EXPECT_TRUE(config.tasks[0].shell);
  EXPECT_EQ(config.tasks[0].function, "task.pipe");
}

TEST(ConfigLoad, ArgsMayBeAnyJsonValue) {
  Config config = LoadOk(R"(
tasks:
  a: {func_name: x.y, args: {rows: 10, name: "n", big: 18446744073709551615, f: 1e3}}
  b: {func_name: x.y, args: "007"}
  c: {func_name: x.y, args: 007}
)");
  ASSERT_EQ(config.tasks.size(), 3u);
  EXPECT_EQ(config.tasks[0].args,
            boost::json::parse(R"({"rows":10,"name":"n","big":18446744073709551615,"f":1000.0})"));
  EXPECT_EQ(config.tasks[1].args, boost::json::value("007"));
  EXPECT_EQ(config.tasks[2].args, boost::json::value(7));
}

// ---- errors: each names the file, the line and the key path ------------------------

TEST(ConfigErrors, UnknownKeySuggestsTheClosest) {
  // The misspelt schedule also leaves the periodical task without one; the task's own
  // line comes first because errors are sorted by line.
  EXPECT_EQ(ErrorOf("tasks:\n  nightly:\n    kind: periodical\n    func_name: a.b\n"
                    "    shedule: \"* * * * * *\"\n"),
            "taskmill.yaml:2: tasks.nightly: periodical tasks need a schedule\n"
            "taskmill.yaml:5: tasks.nightly.shedule: unknown key (did you mean 'schedule'?)");
}

TEST(ConfigErrors, UnknownKeyWithSuggestion) {
  EXPECT_EQ(ErrorOf("tasks:\n  nightly:\n    func_name: a.b\n    timout: 5\n"),
            "taskmill.yaml:4: tasks.nightly.timout: unknown key (did you mean 'timeout'?)");
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    func_name: a.b\n    pause: 5\n"),
            "taskmill.yaml:4: tasks.x.pause: unknown key (did you mean 'pause_sec'?)");
  EXPECT_EQ(ErrorOf("server:\n  Listen: \"127.0.0.1:1\"\n"),
            "taskmill.yaml:2: server.Listen: unknown key (did you mean 'listen'?)");
}

TEST(ConfigErrors, UnknownKeyWithoutSuggestionListsAcceptedKeys) {
  EXPECT_EQ(
      ErrorOf("logging: {level: debug}\n"),
      "taskmill.yaml:1: logging: unknown key; accepted keys: server, api, task_storage, "
      "task_runner, scheduler, tasks, queues, triggers, bulk, functions, remote_functions, flows");
}

TEST(ConfigErrors, WrongTypes) {
  EXPECT_EQ(ErrorOf("task_runner:\n  capacity: lots\n"),
            "taskmill.yaml:2: task_runner.capacity: expected an integer, got 'lots'");
  EXPECT_EQ(ErrorOf("task_runner:\n  capacity: 2.5\n"),
            "taskmill.yaml:2: task_runner.capacity: expected an integer, got '2.5'");
  EXPECT_EQ(ErrorOf("task_runner:\n  capacity: [1]\n"),
            "taskmill.yaml:2: task_runner.capacity: expected an integer, got a list");
  EXPECT_EQ(ErrorOf("task_storage:\n  task_ttr: 5m\n"),
            "taskmill.yaml:2: task_storage.task_ttr: expected a number of seconds, got '5m'");
  EXPECT_EQ(ErrorOf("tasks:\n  a:\n    func_name: a.b\n    enabled: yes\n"),
            "taskmill.yaml:4: tasks.a.enabled: expected true or false, got 'yes'");
  EXPECT_EQ(ErrorOf("tasks:\n  a:\n    func_name: {x: 1}\n"),
            "taskmill.yaml:3: tasks.a.func_name: expected a string, got a mapping");
  EXPECT_EQ(ErrorOf("server: 8080\n"), "taskmill.yaml:1: server: expected a mapping, got '8080'");
  EXPECT_EQ(ErrorOf("tasks: [a, b]\n"),
            "taskmill.yaml:1: tasks: expected a mapping of task names to task definitions, got "
            "a list");
  EXPECT_EQ(ErrorOf("tasks:\n  a: demo.echo\n"),
            "taskmill.yaml:2: tasks.a: expected a mapping of task settings, got 'demo.echo'");
  EXPECT_EQ(ErrorOf("just a string\n"),
            "taskmill.yaml:1: (top level): expected a mapping, got 'just a string'");
  EXPECT_EQ(ErrorOf("task_runner:\n  capacity: 99999999999999999999\n"),
            "taskmill.yaml:2: task_runner.capacity: must be between 1 and 4096, got "
            "99999999999999999999");
}

TEST(ConfigErrors, FunctionOrCommandIsRequired) {
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    kind: single_shot\n"),
            "taskmill.yaml:2: tasks.x: one of func_name or command is required");
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n"),
            "taskmill.yaml:2: tasks.x: one of func_name or command is required");
}

TEST(ConfigErrors, FunctionAndCommandAreExclusive) {
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    func_name: a.b\n    command: [ls]\n"),
            "taskmill.yaml:2: tasks.x: func_name and command are mutually exclusive; give only "
            "one");
}

TEST(ConfigErrors, PeriodicalNeedsSchedule) {
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    kind: periodical\n    func_name: a.b\n"),
            "taskmill.yaml:2: tasks.x: periodical tasks need a schedule");
}

TEST(ConfigErrors, ScheduleOnlyForPeriodical) {
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    func_name: a.b\n    schedule: \"@daily\"\n"),
            "taskmill.yaml:4: tasks.x.schedule: only periodical tasks have a schedule (this "
            "task's kind is single_shot)");
}

TEST(ConfigErrors, NumbersOutOfRange) {
  const char* task = "tasks:\n  x:\n    func_name: a.b\n";
  EXPECT_EQ(ErrorOf(std::string(task) + "    pause_sec: -1\n"),
            "taskmill.yaml:4: tasks.x.pause_sec: must be at least 0, got -1");
  EXPECT_EQ(ErrorOf(std::string(task) + "    delay: -0.5\n"),
            "taskmill.yaml:4: tasks.x.delay: must be at least 0, got -0.5");
  EXPECT_EQ(ErrorOf(std::string(task) + "    delay_factor: 0.5\n"),
            "taskmill.yaml:4: tasks.x.delay_factor: must be at least 1, got 0.5");
  EXPECT_EQ(ErrorOf(std::string(task) + "    max_attempts: 0\n"),
            "taskmill.yaml:4: tasks.x.max_attempts: must be at least 1, got 0");
  EXPECT_EQ(ErrorOf(std::string(task) + "    max_delay: -3\n"),
            "taskmill.yaml:4: tasks.x.max_delay: must be at least 0, got -3");
  EXPECT_EQ(ErrorOf(std::string(task) + "    time_to_resolve: 0\n"),
            "taskmill.yaml:4: tasks.x.time_to_resolve: must be greater than 0, got 0");
  EXPECT_EQ(ErrorOf(std::string(task) + "    timeout: 0\n"),
            "taskmill.yaml:4: tasks.x.timeout: must be greater than 0, got 0");
  EXPECT_EQ(ErrorOf(std::string(task) + "    misfire_max: 0\n"),
            "taskmill.yaml:4: tasks.x.misfire_max: must be at least 1, got 0");
  EXPECT_EQ(ErrorOf(std::string(task) + "    timeout: 1e12\n"),
            "taskmill.yaml:4: tasks.x.timeout: must be at most 1000000000, got 1e12");
  EXPECT_EQ(ErrorOf("task_runner:\n  capacity: 0\n"),
            "taskmill.yaml:2: task_runner.capacity: must be at least 1, got 0");
  EXPECT_EQ(ErrorOf("task_runner:\n  output_limit: -1\n"),
            "taskmill.yaml:2: task_runner.output_limit: must be at least 0, got -1");
  EXPECT_EQ(ErrorOf("task_runner:\n  kill_grace_sec: -1\n"),
            "taskmill.yaml:2: task_runner.kill_grace_sec: must be at least 0, got -1");
  EXPECT_EQ(ErrorOf("task_storage:\n  task_ttr: 0\n"),
            "taskmill.yaml:2: task_storage.task_ttr: must be greater than 0, got 0");
  EXPECT_EQ(ErrorOf("task_storage:\n  task_log_max_size: 0\n"),
            "taskmill.yaml:2: task_storage.task_log_max_size: must be at least 1, got 0");
}

TEST(ConfigErrors, UnknownChoices) {
  const char* task = "tasks:\n  x:\n    func_name: a.b\n";
  EXPECT_EQ(ErrorOf(std::string(task) + "    kind: perodical\n"),
            "taskmill.yaml:4: tasks.x.kind: unknown kind 'perodical'; expected single_shot, "
            "periodical or continuous (did you mean 'periodical'?)");
  EXPECT_EQ(ErrorOf(std::string(task) + "    kind: cron\n"),
            "taskmill.yaml:4: tasks.x.kind: unknown kind 'cron'; expected single_shot, "
            "periodical or continuous");
  EXPECT_EQ(ErrorOf(std::string(task) + "    misfire: runonce\n"),
            "taskmill.yaml:4: tasks.x.misfire: unknown misfire policy 'runonce'; expected skip, "
            "run_once or run_all (did you mean 'run_once'?)");
  EXPECT_EQ(ErrorOf(std::string(task) + "    overlap: queue\n"),
            "taskmill.yaml:4: tasks.x.overlap: unknown overlap policy 'queue'; expected skip or "
            "allow");
  EXPECT_EQ(ErrorOf("server:\n  synchronous: off\n"),
            "taskmill.yaml:2: server.synchronous: unknown synchronous mode 'off'; expected full "
            "or normal");
  EXPECT_EQ(ErrorOf("server:\n  roles: [api, worker]\n"),
            "taskmill.yaml:2: server.roles[1]: unknown role 'worker'; expected api, scheduler "
            "or runner");
}

TEST(ConfigErrors, Roles) {
  EXPECT_EQ(ErrorOf("server:\n  roles: []\n"),
            "taskmill.yaml:2: server.roles: at least one role is required; choose from api, "
            "scheduler or runner");
  EXPECT_EQ(ErrorOf("server:\n  roles:\n    - api\n    - api\n"),
            "taskmill.yaml:4: server.roles[1]: role 'api' is listed twice");
  EXPECT_EQ(ErrorOf("server:\n  roles: api\n"),
            "taskmill.yaml:2: server.roles: expected a list of roles (api, scheduler, runner), "
            "got 'api'");
}

TEST(ConfigErrors, ListenAddress) {
  EXPECT_EQ(ErrorOf("server:\n  listen: 8080\n"),
            "taskmill.yaml:2: server.listen: expected host:port (e.g. 127.0.0.1:8080), got "
            "'8080'");
  EXPECT_EQ(ErrorOf("server:\n  listen: \"localhost:99999\"\n"),
            "taskmill.yaml:2: server.listen: expected host:port (e.g. 127.0.0.1:8080), got "
            "'localhost:99999'");
  EXPECT_EQ(LoadOk("server:\n  listen: \"[::1]:0\"\n").server.listen, "[::1]:0");
}

TEST(ConfigErrors, YamlSyntaxErrorCarriesTheLine) {
  EXPECT_EQ(ErrorOf("server:\n  roles: [api, runner\ntasks: {}\n"),
            "taskmill.yaml:3: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(ErrorOf("server:\n  listen: a\n data_dir: b\n"),
            "taskmill.yaml:3: invalid YAML: end of map not found");
}

TEST(ConfigErrors, UnquotedCronStartingWithStarIsASyntaxError) {
  // `*` starts a YAML alias; the docs tell users to quote schedules.
  std::string message = ErrorOf(
      "tasks:\n  x:\n    kind: periodical\n    func_name: a.b\n    schedule: */5 * * * *\n");
  EXPECT_EQ(message.rfind("taskmill.yaml:5: invalid YAML: ", 0), 0u) << message;
}

TEST(ConfigErrors, FunctionNameShape) {
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    func_name: echo\n"),
            "taskmill.yaml:3: tasks.x.func_name: expected a function name category.action "
            "(lower-case letters, digits, '_' and '-', one dot), got 'echo'");
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    func_name: Demo.Echo\n"),
            "taskmill.yaml:3: tasks.x.func_name: expected a function name category.action "
            "(lower-case letters, digits, '_' and '-', one dot), got 'Demo.Echo'");
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    func_name: a.b.c\n"),
            "taskmill.yaml:3: tasks.x.func_name: expected a function name category.action "
            "(lower-case letters, digits, '_' and '-', one dot), got 'a.b.c'");
}

TEST(ConfigErrors, TaskNames) {
  EXPECT_EQ(ErrorOf("tasks:\n  \"bad name\":\n    func_name: a.b\n"),
            "taskmill.yaml:2: tasks.bad name: invalid task name 'bad name'; use letters, "
            "digits, '_', '.' and '-'");
  // Function tasks may use any allowed name; command tasks become `task.<name>`.
  EXPECT_EQ(LoadOk("tasks:\n  Report.v2:\n    func_name: a.b\n").tasks.at(0).name, "Report.v2");
  EXPECT_EQ(ErrorOf("tasks:\n  Report:\n    command: [ls]\n"),
            "taskmill.yaml:2: tasks.Report: a command task's name must be lower-case letters, "
            "digits, '_' and '-' (it is registered as the function 'task.Report')");
}

TEST(ConfigErrors, DuplicateKeys) {
  EXPECT_EQ(ErrorOf("tasks:\n  a: {func_name: a.b}\n  a: {func_name: c.d}\n"),
            "taskmill.yaml:3: tasks.a: duplicate key (first given on line 2)");
  EXPECT_EQ(ErrorOf("task_runner:\n  capacity: 1\n  capacity: 2\n"),
            "taskmill.yaml:3: task_runner.capacity: duplicate key (first given on line 2)");
}

TEST(ConfigErrors, CommandShapes) {
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    command: \"ls -l\"\n"),
            "taskmill.yaml:3: tasks.x.command: a command given as one string needs shell: "
            "true; otherwise give a list [program, arg, ...]");
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    command: []\n"),
            "taskmill.yaml:3: tasks.x.command: the first element must name the program to run");
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    command: [ls, [a]]\n"),
            "taskmill.yaml:3: tasks.x.command[1]: expected a string, got a list");
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    command: [ls]\n    env: {1X: a}\n"),
            "taskmill.yaml:4: tasks.x.env.1X: invalid environment variable name; use letters, "
            "digits and '_', not starting with a digit");
}

TEST(ConfigErrors, CommandKeysOnAFunctionTask) {
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    func_name: a.b\n    working_dir: /tmp\n"),
            "taskmill.yaml:4: tasks.x.working_dir: only command tasks use this key (this task "
            "has func_name)");
}

TEST(ConfigErrors, MoreThanOneDocument) {
  EXPECT_EQ(ErrorOf("server: {}\n---\ntasks: {}\n"),
            "taskmill.yaml:3: expected one YAML document, found more than one (remove the "
            "'---' separators)");
}

// yaml-cpp 0.7 loops forever in LoadAll, and Load returns an empty root, when a
// document starts with a stray ','. The loader must report it, not hang or load
// an all-defaults configuration.
TEST(ConfigErrors, StrayCommaAtDocumentStartIsASyntaxError) {
  EXPECT_EQ(ErrorOf(","), "taskmill.yaml:1: invalid YAML: unexpected ','");
  EXPECT_EQ(ErrorOf("# header\n, stray text\nserver: {}\n"),
            "taskmill.yaml:2: invalid YAML: unexpected ','");
  EXPECT_EQ(ErrorOf("{server: {}}\n, x\n"), "taskmill.yaml:2: invalid YAML: unexpected ','");
}

TEST(ConfigErrors, AllErrorsAtOnceInLineOrder) {
  Result<Config> result = LoadString(R"(tasks:
  x:
    kind: periodical
    func_name: demo.echo
    max_attempts: 0
task_runner:
  capacity: lots
  kill_grace: 5
)",
                                     "taskmill.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "taskmill.yaml:2: tasks.x: periodical tasks need a schedule\n"
            "taskmill.yaml:5: tasks.x.max_attempts: must be at least 1, got 0\n"
            "taskmill.yaml:7: task_runner.capacity: expected an integer, got 'lots'\n"
            "taskmill.yaml:8: task_runner.kill_grace: unknown key (did you mean "
            "'kill_grace_sec'?)");
  const boost::json::array& errors = result.status().details().at("errors").as_array();
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[2], boost::json::parse(R"({"file": "taskmill.yaml", "line": 7,
      "path": "task_runner.capacity", "message": "expected an integer, got 'lots'"})"));
}

// ---- scheduling ----------------------------------------------------------------------

TEST(ConfigErrors, InvalidCronExpressionNamesTheFieldKeyAndLine) {
  EXPECT_EQ(ErrorOf("tasks:\n"
                    "  nightly:\n"
                    "    kind: periodical\n"
                    "    func_name: a.b\n"
                    "    timezone: Europe/Berlin\n"
                    "    misfire: run_once\n"
                    "    schedule: \"30 2 1 13 *\"\n"),
            "taskmill.yaml:7: tasks.nightly.schedule: field 4 (month): 13 is out of range 1-12");
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    kind: periodical\n    func_name: a.b\n"
                    "    schedule: \"x5 * * * * *\"\n"),
            "taskmill.yaml:5: tasks.x.schedule: field 1 (second): 'x5' is not a number or name");
}

TEST(ConfigErrors, ScheduleIsParsedWhicheverOrderTheKeysCome) {
  // The kind comes after the schedule: the expression is still checked.
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    schedule: \"0 0 25 * * *\"\n    func_name: a.b\n"
                    "    kind: periodical\n"),
            "taskmill.yaml:3: tasks.x.schedule: field 3 (hour): 25 is out of range 0-23");
}

TEST(ConfigErrors, UnknownTimeZone) {
  EXPECT_EQ(ErrorOf("tasks:\n  x:\n    kind: periodical\n    func_name: a.b\n"
                    "    schedule: \"@daily\"\n    timezone: Mars/Olympus_Mons\n"),
            "taskmill.yaml:6: tasks.x.timezone: unknown time zone 'Mars/Olympus_Mons'; expected "
            "an IANA name such as UTC or Europe/Berlin");
}

TEST(ConfigErrors, BadSchedulingInputIsReportedAllAtOnce) {
  std::string message = ErrorOf(R"(tasks:
  nightly:
    kind: periodical
    func_name: a.b
    schedule: "0 0 12 ? * MON#6"
    timezone: Europe/Berlinn
    misfire: sometimes
  consumer:
    kind: continuous
    func_name: a.c
    pause_sec: -2
)");
  EXPECT_EQ(message,
            "taskmill.yaml:5: tasks.nightly.schedule: field 6 (day-of-week): occurrence 6 in "
            "'MON#6' is out of range 1-5\n"
            "taskmill.yaml:6: tasks.nightly.timezone: unknown time zone 'Europe/Berlinn'; "
            "expected an IANA name such as UTC or Europe/Berlin\n"
            "taskmill.yaml:7: tasks.nightly.misfire: unknown misfire policy 'sometimes'; "
            "expected skip, run_once or run_all\n"
            "taskmill.yaml:11: tasks.consumer.pause_sec: must be at least 0, got -2");
}

TEST(ConfigErrors, TriggerTaskNamesAreReserved) {
  EXPECT_EQ(ErrorOf("tasks:\n  trigger.hourly:\n    func_name: a.b\n"),
            "taskmill.yaml:2: tasks.trigger.hourly: task names starting with 'trigger.' are "
            "reserved for the headless triggers");
}

TEST(ConfigLoad, TriggersBindFunctionsInOrder) {
  Config config = LoadOk(R"(
triggers:
  minutely: [demo.echo]
  hourly: [reports.refresh, cache.warm]
  daily: []
  each_account: [accounts.audit]
  browse_interval_sec: 3600
)");
  EXPECT_EQ(config.triggers.minutely, (std::vector<std::string>{"demo.echo"}));
  EXPECT_EQ(config.triggers.hourly, (std::vector<std::string>{"reports.refresh", "cache.warm"}));
  EXPECT_TRUE(config.triggers.daily.empty());
  EXPECT_EQ(config.triggers.each_account, (std::vector<std::string>{"accounts.audit"}));
  EXPECT_EQ(config.triggers.browse_interval, seconds(3600));
  EngineOptions options = ToEngineOptions(config);
  EXPECT_EQ(options.scheduler_options.triggers.hourly, config.triggers.hourly);
  EXPECT_EQ(options.scheduler_options.triggers.browse_interval, seconds(3600));
}

TEST(ConfigLoad, NoTriggersByDefault) {
  Config config = LoadOk("");
  EXPECT_TRUE(config.triggers.empty());
  EXPECT_EQ(config.triggers.browse_interval, std::chrono::hours(24));
}

TEST(ConfigErrors, Triggers) {
  EXPECT_EQ(ErrorOf("triggers:\n  hourly: demo.echo\n"),
            "taskmill.yaml:2: triggers.hourly: expected a list of function names, got "
            "'demo.echo'");
  EXPECT_EQ(ErrorOf("triggers:\n  hourly: [demo.echo, Demo]\n"),
            "taskmill.yaml:2: triggers.hourly[1]: expected a function name category.action "
            "(lower-case letters, digits, '_' and '-', one dot), got 'Demo'");
  EXPECT_EQ(ErrorOf("triggers:\n  daily:\n    - a.b\n    - a.b\n"),
            "taskmill.yaml:4: triggers.daily[1]: function 'a.b' is bound twice");
  EXPECT_EQ(ErrorOf("triggers:\n  daily: [trigger.hourly]\n"),
            "taskmill.yaml:2: triggers.daily[0]: 'trigger.hourly' is a trigger; bind the "
            "functions it calls instead");
  EXPECT_EQ(ErrorOf("triggers:\n  hourlly: [a.b]\n"),
            "taskmill.yaml:2: triggers.hourlly: unknown key (did you mean 'hourly'?)");
  EXPECT_EQ(ErrorOf("triggers:\n  browse_interval_sec: 0\n"),
            "taskmill.yaml:2: triggers.browse_interval_sec: must be greater than 0, got 0");
}

// ---- functions and bulk --------------------------------------------------------------

TEST(ConfigLoad, CoprocessFunctions) {
  Config config = LoadOk(R"(
functions:
  pynumbers.import:
    description: Tags numbers with their country
    doc: A Python co-process.
    input: csv
    mandatory: [e164]
    optional: [carrier, state]
    output_header: [country]
    verify:
      e164: '\+[0-9]{7,15}'
    process: ["python3", "examples/bulk/import.py"]
    protocol: jsonl
    working_dir: .
    env: {LANG: C.UTF-8, EMPTY: }
    pipeline: 32
    max_restarts: 5
    kill_grace_sec: 1.5
    stop_on_error: true
    progress_every: 500
    wait_after_row_ms: 20
  pynumbers.list:
    input: none
    header: [e164, owner]
    process: [./list.sh]
bulk:
  max_file_size: 1048576
  max_record_size: 65536
  progress_every: 250
  wait_after_row_ms: 5
)");
  ASSERT_EQ(config.functions.size(), 2u);
  const CoprocessSpec& import = config.functions[0];
  EXPECT_EQ(import.info.name, "pynumbers.import");
  EXPECT_EQ(import.info.description, "Tags numbers with their country");
  EXPECT_EQ(import.info.doc, "A Python co-process.");
  EXPECT_EQ(import.info.input, "csv");
  EXPECT_EQ(import.info.mandatory, (std::vector<std::string>{"e164"}));
  EXPECT_EQ(import.info.optional, (std::vector<std::string>{"carrier", "state"}));
  EXPECT_EQ(import.info.output_header, (std::vector<std::string>{"country"}));
  ASSERT_EQ(import.verifiers.size(), 1u);
  EXPECT_EQ(import.verifiers.at("e164"), "\\+[0-9]{7,15}");
  EXPECT_EQ(import.argv, (std::vector<std::string>{"python3", "examples/bulk/import.py"}));
  EXPECT_EQ(import.working_dir, ".");
  EXPECT_EQ(import.env,
            (std::vector<std::pair<std::string, std::string>>{{"LANG", "C.UTF-8"}, {"EMPTY", ""}}));
  EXPECT_EQ(import.pipeline, 32);
  EXPECT_EQ(import.max_restarts, 5);
  EXPECT_EQ(import.kill_grace, milliseconds(1500));
  EXPECT_TRUE(import.stop_on_error);
  EXPECT_EQ(import.progress_every, 500);
  EXPECT_EQ(import.wait_after_row, milliseconds(20));
  const CoprocessSpec& list = config.functions[1];
  EXPECT_EQ(list.info.input, "none");
  EXPECT_EQ(list.header, (std::vector<std::string>{"e164", "owner"}));
  EXPECT_EQ(list.pipeline, 64) << "default";
  EXPECT_FALSE(list.progress_every.has_value());
  EXPECT_EQ(config.bulk.max_file_size, 1048576);
  EXPECT_EQ(config.bulk.max_record_size, 65536u);
  EXPECT_EQ(config.bulk.progress_every, 250);
  EXPECT_EQ(config.bulk.wait_after_row, milliseconds(5));
}

TEST(ConfigLoad, NoFunctionsAndDefaultBulkOptions) {
  Config config = LoadOk("");
  EXPECT_TRUE(config.functions.empty());
  EXPECT_EQ(config.bulk.max_file_size, int64_t{1} << 30);
  EXPECT_EQ(config.bulk.progress_every, 1000);
  EXPECT_EQ(config.bulk.wait_after_row, milliseconds(0));
}

TEST(ConfigErrors, Functions) {
  const std::string ok = "    mandatory: [e164]\n    process: [python3, x.py]\n";
  EXPECT_EQ(ErrorOf("functions:\n  Numbers:\n" + ok),
            "taskmill.yaml:2: functions.Numbers: invalid function name 'Numbers'; expected "
            "category.action (lower-case letters, digits, '_' and '-', one dot)");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n    mandatory: [e164]\n"),
            "taskmill.yaml:2: functions.a.b: process is required: the program to start, e.g. "
            "[\"python3\", \"my.py\"]");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n" + ok + "    protocol: grpc\n"),
            "taskmill.yaml:5: functions.a.b.protocol: unknown protocol 'grpc'; expected jsonl");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n" + ok + "    procss: [x]\n"),
            "taskmill.yaml:5: functions.a.b.procss: unknown key (did you mean 'process'?)");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n" + ok + "    input: json\n"),
            "taskmill.yaml:5: functions.a.b.input: unknown input 'json'; expected csv or none");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n" + ok + "    verify: {e164: '[0-9'}\n"),
            "taskmill.yaml:5: functions.a.b.verify.e164: not a valid regular expression "
            "(ECMAScript): [0-9");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n" + ok + "    verify:\n      e146: 'x'\n"),
            "taskmill.yaml:6: functions.a.b.verify.e146: not a mandatory or optional column "
            "(did you mean 'e164'?)");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n" + ok + "    pipeline: 0\n"),
            "taskmill.yaml:5: functions.a.b.pipeline: must be at least 1, got 0");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n    process: [x]\n"),
            "taskmill.yaml:2: functions.a.b: bulk function 'a.b': a CSV function needs at least "
            "one mandatory or optional column");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n    input: none\n    process: [x]\n"),
            "taskmill.yaml:2: functions.a.b: bulk function 'a.b': a function without input "
            "must name its output columns (output_header or header)");
  EXPECT_EQ(ErrorOf("functions:\n  a.b:\n    mandatory: [x, x]\n    process: [x]\n"),
            "taskmill.yaml:2: functions.a.b: bulk function 'a.b': column 'x' is declared twice");
  EXPECT_EQ(ErrorOf("functions: [a.b]\n"),
            "taskmill.yaml:1: functions: expected a mapping of function names to definitions, "
            "got a list");
  EXPECT_EQ(ErrorOf("bulk:\n  max_file_size: 10\n"),
            "taskmill.yaml:2: bulk.max_file_size: must be at least 1024, got 10");
  EXPECT_EQ(ErrorOf("bulk:\n  progress_evry: 10\n"),
            "taskmill.yaml:2: bulk.progress_evry: unknown key (did you mean 'progress_every'?)");
}

// ---- remote runners ------------------------------------------------------------------

TEST(ConfigLoad, RunnerQueuesAndRemoteFunctions) {
  Config config = LoadOk(R"(
task_runner:
  queues: [default, reports]
tasks:
  add-later:
    func_name: py.add
    args: [1, 2]
  add-elsewhere:
    func_name: py.add
    queue: other
remote_functions:
  py.add: {queue: remote, description: "sums its args", doc: "runner.py"}
  py.fail:
    queue: remote
)");
  EXPECT_EQ(config.runner_queues, (std::vector<std::string>{"default", "reports"}));
  ASSERT_EQ(config.remote_functions.size(), 2u);
  EXPECT_EQ(config.remote_functions[0].name, "py.add");
  EXPECT_EQ(config.remote_functions[0].queue, "remote");
  EXPECT_EQ(config.remote_functions[0].description, "sums its args");
  EXPECT_EQ(config.remote_functions[0].doc, "runner.py");
  EXPECT_EQ(config.remote_functions[0].handler_kind, "remote");
  EXPECT_EQ(config.remote_functions[1].name, "py.fail");
  // A task of a remote function goes to the function's queue unless it names one.
  ASSERT_EQ(config.tasks.size(), 2u);
  EXPECT_EQ(config.tasks[0].queue, "remote");
  EXPECT_EQ(config.tasks[1].queue, "other");
  EXPECT_EQ(ToEngineOptions(config).runner_options.queues,
            (std::vector<std::string>{"default", "reports"}));
  EXPECT_TRUE(CheckRemoteQueues(config).ok());
}

TEST(ConfigLoad, RunnerServesEveryQueueByDefault) {
  Config config = LoadOk("");
  EXPECT_TRUE(config.runner_queues.empty());
  EXPECT_TRUE(config.remote_functions.empty());
  EXPECT_TRUE(ToEngineOptions(config).runner_options.queues.empty());
}

TEST(ConfigErrors, RemoteFunctions) {
  EXPECT_EQ(ErrorOf("task_runner:\n  queues: []\n"),
            "taskmill.yaml:2: task_runner.queues: at least one queue is required; omit the key "
            "to serve every queue");
  EXPECT_EQ(ErrorOf("task_runner:\n  queues: [a, b, a]\n"),
            "taskmill.yaml:2: task_runner.queues[2]: queue 'a' is listed twice");
  EXPECT_EQ(ErrorOf("task_runner:\n  queues:\n    - ok\n    - 'no spaces'\n"),
            "taskmill.yaml:4: task_runner.queues[1]: invalid queue name 'no spaces'; use 1-100 "
            "of letters, digits, '_', '.', ':', '-'");
  EXPECT_EQ(ErrorOf("task_runner:\n  queues: default\n"),
            "taskmill.yaml:2: task_runner.queues: expected a list of strings, got 'default'");

  const std::string local = "task_runner: {queues: [default]}\n";
  EXPECT_EQ(ErrorOf(local + "remote_functions:\n  py.add: {description: x}\n"),
            "taskmill.yaml:3: remote_functions.py.add: queue is required: the queue the remote "
            "runners take this function's runs from");
  EXPECT_EQ(ErrorOf(local + "remote_functions:\n  py.add:\n    queue: remote\n    qeue: x\n"),
            "taskmill.yaml:5: remote_functions.py.add.qeue: unknown key (did you mean 'queue'?)");
  EXPECT_EQ(ErrorOf(local + "remote_functions:\n  PyAdd: {queue: remote}\n"),
            "taskmill.yaml:3: remote_functions.PyAdd: invalid function name 'PyAdd'; expected "
            "category.action (lower-case letters, digits, '_' and '-', one dot)");
  EXPECT_EQ(ErrorOf(local + "remote_functions:\n  py.add: remote\n"),
            "taskmill.yaml:3: remote_functions.py.add: expected a mapping with at least queue, "
            "got 'remote'");
  EXPECT_EQ(ErrorOf(local + "remote_functions:\n  py.add: {queue: 'a b'}\n"),
            "taskmill.yaml:3: remote_functions.py.add.queue: invalid queue name 'a b'; use 1-100 "
            "of letters, digits, '_', '.', ':', '-'");
  EXPECT_EQ(ErrorOf(local + "remote_functions:\n  a.b: {queue: remote}\nfunctions:\n  a.b:\n"
                            "    mandatory: [x]\n    process: [x]\n"),
            "taskmill.yaml:3: remote_functions.a.b: also declared under functions; declare it "
            "once");

  // The local runner must not take the remote workers' runs.
  EXPECT_EQ(ErrorOf("remote_functions:\n  py.add:\n    queue: remote\n"),
            "taskmill.yaml:3: remote_functions.py.add.queue: queue 'remote' would also be served "
            "by this process's runner, which cannot run remote functions; list the local queues "
            "in task_runner.queues (e.g. [default]) or leave out the runner role");
  EXPECT_NE(ErrorOf("task_runner: {queues: [default, remote]}\n"
                    "remote_functions:\n  py.add: {queue: remote}\n")
                .find("taskmill.yaml:3: remote_functions.py.add.queue: queue 'remote' would also"),
            std::string::npos);
  // Without the runner role there is no local runner to worry about, until --roles adds it.
  Config api_only =
      LoadOk("server: {roles: [api, scheduler]}\nremote_functions:\n  py.add: {queue: remote}\n");
  EXPECT_TRUE(CheckRemoteQueues(api_only).ok());
  api_only.server.roles.push_back("runner");
  Status served = CheckRemoteQueues(api_only);
  EXPECT_TRUE(served.IsInvalidArgument());
  EXPECT_NE(served.message().find("remote function py.add: queue 'remote'"), std::string::npos)
      << served.message();
}

// ---- files -------------------------------------------------------------------------

TEST(ConfigFile, ExampleConfigLoads) {
  std::string path = kSourceDir + "/examples/taskmill.yaml";
  Result<Config> result = LoadFile(path);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const Config& config = *result;
  EXPECT_EQ(config.source, path);
  EXPECT_EQ(config.server.listen, "127.0.0.1:8080");
  ASSERT_EQ(config.tasks.size(), 2u);

  const TaskDef& report = config.tasks[0];
  EXPECT_EQ(report.name, "nightly-report");
  EXPECT_EQ(report.kind, TaskKind::kSingleShot);
  EXPECT_EQ(report.function, "task.nightly-report");
  EXPECT_EQ(report.command, (std::vector<std::string>{"sh", "examples/scripts/nightly-report.sh"}));
  EXPECT_TRUE(std::filesystem::exists(kSourceDir + "/" + report.command[1]));

  const TaskDef& echo = config.tasks[1];
  EXPECT_EQ(echo.name, "echo");
  EXPECT_EQ(echo.function, "demo.echo");
  EXPECT_EQ(echo.args, boost::json::parse(R"(["hello from a task"])"));
}

// The commented scheduler examples must stay valid for users who uncomment them.
TEST(ConfigFile, ExampleSchedulerBlockLoadsWhenUncommented) {
  std::istringstream in(ReadText(kSourceDir + "/examples/taskmill.yaml"));
  std::string text;
  std::string line;
  bool inside = false;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.find("--- scheduler examples: begin ---") != std::string::npos) {
      inside = found = true;
    } else if (line.find("--- scheduler examples: end ---") != std::string::npos) {
      inside = false;
    } else if (inside && line.rfind("  #", 0) == 0) {
      line = line.size() > 4 ? "  " + line.substr(4) : "";  // drop "# "
    }
    text += line + "\n";
  }
  ASSERT_TRUE(found);
  Result<Config> result = LoadString(text, "examples/taskmill.yaml (uncommented)");
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(result->tasks.size(), 6u);
  EXPECT_EQ(result->tasks[2].kind, TaskKind::kPeriodical);
  EXPECT_EQ(result->tasks[2].schedule, "*/10 * * * * *");
  EXPECT_EQ(result->tasks[3].function, "task.nightly-report-cron");
  EXPECT_EQ(result->tasks[4].retry.max_attempts, 4);
  EXPECT_EQ(result->tasks[5].kind, TaskKind::kContinuous);
  EXPECT_EQ(result->tasks[5].pause, seconds(10));
}

TEST(ConfigFile, RemoteRunnerExampleConfigLoads) {
  std::string path = kSourceDir + "/examples/remote-runner/taskmill.yaml";
  Result<Config> result = LoadFile(path);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->runner_queues, (std::vector<std::string>{"default"}));
  ASSERT_GE(result->remote_functions.size(), 2u);
  for (const FunctionInfo& info : result->remote_functions) {
    EXPECT_EQ(info.queue, "remote") << info.name;
    EXPECT_FALSE(info.description.empty()) << info.name;
  }
}

TEST(ConfigFile, ErrorsNameThePath) {
  TempFile file("errors.yaml", "task_runner:\n  capacity: lots\n");
  Result<Config> result = LoadFile(file.path());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            file.path() + ":2: task_runner.capacity: expected an integer, got 'lots'");
}

TEST(ConfigFile, MissingFileIsNotFound) {
  Result<Config> result = LoadFile("/nonexistent/taskmill.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(), "/nonexistent/taskmill.yaml: no such file");
}

TEST(ConfigFile, DirectoryIsRejected) {
  Result<Config> result = LoadFile(std::filesystem::temp_directory_path().string());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
}

// ---- wiring into the engine ----------------------------------------------------------

TEST(ConfigEngineOptions, MapsSectionsAndRoles) {
  Config config = LoadOk(R"(
server: {data_dir: /data, synchronous: normal, roles: [api, runner]}
task_storage: {task_ttr: 30, task_log_max_size: 7}
task_runner: {capacity: 3, output_limit: 100, kill_grace_sec: 1}
)");
  EngineOptions options = ToEngineOptions(config);
  EXPECT_EQ(options.storage.url, "/data/taskmill.db?synchronous=normal");
  EXPECT_TRUE(options.runner);
  EXPECT_FALSE(options.scheduler);
  EXPECT_EQ(options.runner_options.capacity, 3);
  EXPECT_EQ(options.runner_options.output_limit, 100u);
  EXPECT_EQ(options.runner_options.kill_grace, seconds(1));
  EXPECT_EQ(options.scheduler_options.task_log_max_size, 7);
  EXPECT_EQ(options.default_time_to_resolve, seconds(30));
  EXPECT_TRUE(HasRole(config.server, "api"));
  EXPECT_FALSE(HasRole(config.server, "scheduler"));
}

TEST(ConfigEngineOptions, ExplicitStorageUrlWins) {
  ServerSection server;
  EXPECT_EQ(StorageUrl(server), "./taskmill-data/taskmill.db");
  server.storage = "postgresql://db/taskmill";
  EXPECT_EQ(StorageUrl(server), "postgresql://db/taskmill");
}

}  // namespace
}  // namespace taskmill::config
