#include "cli/client_commands.h"

#include <taskmill/model.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/json_body.h"
#include "cli/bulk_commands.h"
#include "cli/client.h"
#include "cli/global_options.h"
#include "cli/status_line.h"

namespace taskmill::cli {
namespace json = boost::json;

namespace {

// Long-poll length of --wait. On a terminal the poll is short so that the progress
// line moves; otherwise one request per 30 s is enough.
constexpr int kWaitSecondsQuiet = 30;
constexpr int kWaitSecondsTty = 1;

// --server and --json are global options (cli/global_options.h), read when the command
// runs.
struct CommonOptions {
  std::string server() const { return DefaultServer(); }
  bool json() const { return JsonRequested(); }
};

// A JSON answer with the exact text the server sent (printed by --json).
struct Answer {
  json::value value;
  std::string raw;
};

Result<Answer> Call(HttpClient& client, std::string_view method, const std::string& target,
                    const std::optional<json::value>& body = std::nullopt,
                    Duration timeout = std::chrono::seconds(30)) {
  std::string text = body ? json::serialize(*body) : std::string();
  auto response = client.Send(method, target, text, "application/json", timeout);
  if (!response.ok()) return response.status();
  if (response->status < 200 || response->status >= 300) return StatusFromApiError(*response);
  Answer answer;
  answer.raw = std::move(response->body);
  if (!answer.raw.empty()) {
    boost::system::error_code ec;
    answer.value = json::parse(answer.raw, ec);
    if (ec) return Status::Internal("the server answered with invalid JSON: " + ec.message());
  }
  return answer;
}

// The member `key` of an answer, of the kind a command prints. An answer without it
// (another program on the port, a server of another version) is the server's fault,
// reported with what was missing: never an abort.
Result<const json::value*> MemberOf(const Answer& answer, std::string_view key, json::kind kind) {
  const json::value* member =
      answer.value.is_object() ? answer.value.get_object().if_contains(key) : nullptr;
  if (member && member->kind() == kind) return member;
  std::string shown = answer.raw.size() > 200 ? answer.raw.substr(0, 200) + "…" : answer.raw;
  return Status::Internal("the server's answer has no \"" + std::string(key) + "\" " +
                          (kind == json::kind::array ? "array" : "object") + ": " + shown);
}

// The server's JSON rules, checked before sending: no duplicate keys, no number
// beyond a double's range (it would be stored as something that is not JSON).
Result<json::value> ParseJsonOption(std::string_view option, const std::string& text) {
  api::JsonProblem problem;
  auto value = api::ParseStrictJson(text, &problem);
  if (!value) {
    if (problem.kind == api::JsonProblem::Kind::kSyntax) {
      return Status::InvalidArgument(std::string(option) + " is not valid JSON (" +
                                     problem.message + " at column " +
                                     std::to_string(problem.column) + "): " + text);
    }
    std::string field = problem.field.starts_with('[') || problem.field.empty()
                            ? std::string(option) + problem.field
                            : std::string(option) + "." + problem.field;
    return Status::InvalidArgument(field + ": " + problem.message);
  }
  return std::move(*value);
}

// --- formatting ----------------------------------------------------------------

std::string Str(const json::value* v) {
  if (!v || v->is_null()) return "";
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_double()) {
    // Boost.JSON writes 1.0 as "1E0"; people read "1".
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v->get_double());
    return buffer;
  }
  return json::serialize(*v);
}

std::string Field(const json::object& o, std::string_view key) { return Str(o.if_contains(key)); }

// "2026-01-01T12:00:00.123456Z" → "2026-01-01 12:00:00.123Z": readable, still UTC.
std::string ShortTime(const std::string& rfc3339) {
  if (rfc3339.size() < 19) return rfc3339;
  std::string out = rfc3339.substr(0, 10) + " " + rfc3339.substr(11, 8);
  if (rfc3339.size() > 19 && rfc3339[19] == '.') out += rfc3339.substr(19, 4);
  return out + "Z";
}

std::optional<TimePoint> TimeOf(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  TimePoint t;
  if (!v || !v->is_string() || !ParseTime(v->get_string(), &t)) return std::nullopt;
  return t;
}

std::string FormatSeconds(Duration d) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2fs", std::chrono::duration<double>(d).count());
  return buffer;
}

std::string OrDash(std::string s) { return s.empty() ? "-" : s; }

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

void PrintRun(const json::object& run) {
  std::vector<std::vector<std::string>> rows;
  auto add = [&](std::string label, std::string value) {
    if (!value.empty()) rows.push_back({std::move(label), std::move(value)});
  };
  add("id", Field(run, "id"));
  add("queue", Field(run, "queue"));
  add("function", Field(run, "function"));
  add("task", Field(run, "task"));
  add("status", Field(run, "status"));
  add("args", Field(run, "args"));
  if (auto* data = run.if_contains("data");
      data && data->is_object() && !data->get_object().empty()) {
    add("data", Str(data));
  }
  add("priority", Field(run, "priority") == "0" ? "" : Field(run, "priority"));
  add("created", ShortTime(Field(run, "created_at")));
  add("run at", ShortTime(Field(run, "run_at")));
  add("started", ShortTime(Field(run, "started_at")));
  add("finished", ShortTime(Field(run, "finished_at")));
  std::string policy = Field(run, "attempt") + " of " + Field(run, "max_attempts");
  if (Field(run, "max_attempts") != "1") {
    policy += " (retry delay " + Field(run, "delay") + " s, factor " + Field(run, "delay_factor");
    if (!Field(run, "max_delay").empty()) policy += ", max " + Field(run, "max_delay") + " s";
    policy += ")";
  }
  add("attempts", policy);
  if (auto* progress = run.if_contains("progress"); progress && progress->is_object()) {
    const auto& p = progress->get_object();
    if (Field(p, "total") != "0") {
      add("progress", Field(p, "succeeded") + " succeeded, " + Field(p, "failed") + " failed of " +
                          Field(p, "total"));
    }
  }
  add("result", Field(run, "result"));
  std::string error = Field(run, "error");
  if (!error.empty() && !Field(run, "error_kind").empty())
    error += " (" + Field(run, "error_kind") + ")";
  add("error", error);
  PrintTable(rows);

  auto* attempts = run.if_contains("attempts");
  if (!attempts || !attempts->is_array() || attempts->get_array().empty()) return;
  std::cout << "\n";
  std::vector<std::vector<std::string>> table = {
      {"ATTEMPT", "RUNNER", "STARTED", "FINISHED", "WAITED", "OUTCOME", "ERROR"}};
  std::optional<TimePoint> previous_end;
  for (const auto& item : attempts->get_array()) {
    if (!item.is_object()) continue;
    const auto& a = item.get_object();
    // The time between one attempt's end and the next one's start is the retry
    // delay actually waited.
    std::string waited = "-";
    auto started = TimeOf(a, "started_at");
    if (previous_end && started) waited = FormatSeconds(*started - *previous_end);
    previous_end = TimeOf(a, "finished_at");
    std::string error = Field(a, "error");
    if (auto newline = error.find('\n'); newline != std::string::npos)
      error = error.substr(0, newline) + " …";
    table.push_back({Field(a, "number"), OrDash(Field(a, "runner")),
                     ShortTime(Field(a, "started_at")), OrDash(ShortTime(Field(a, "finished_at"))),
                     waited, OrDash(Field(a, "outcome")), error});
  }
  PrintTable(table);

  // What a command printed is often the first thing an operator needs: show the
  // latest attempt's output (the whole of it is in --json).
  const auto& last = attempts->get_array().back();
  std::string output = last.is_object() ? Field(last.get_object(), "output") : "";
  if (!output.empty()) {
    constexpr size_t kShown = 4000;
    std::cout << "\noutput of attempt " << Field(last.get_object(), "number") << ":\n";
    if (output.size() > kShown) {
      std::cout << "… (" << output.size() - kShown << " earlier bytes; see --json)\n";
      output = output.substr(output.size() - kShown);
    }
    std::cout << output;
    if (output.back() != '\n') std::cout << "\n";
  }
}

bool IsFinalStatus(const std::string& status) {
  auto parsed = ParseRunStatus(status);
  return parsed && IsFinal(*parsed);
}

// --- waiting -------------------------------------------------------------------

// A one-line progress indicator on stderr, only when stderr is a terminal.
class ProgressLine {
 public:
  bool enabled() const { return line_.enabled(); }

  void Update(const json::object& run, std::chrono::steady_clock::duration elapsed) {
    if (!line_.enabled()) return;
    static constexpr char kFrames[] = {'|', '/', '-', '\\'};
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(elapsed).count();
    std::string line = std::string(1, kFrames[frame_++ % 4]) + " run " + Field(run, "id") + ": " +
                       Field(run, "status") + ", attempt " + Field(run, "attempt") + " of " +
                       Field(run, "max_attempts") + " (" + std::to_string(seconds) + "s)";
    line_.Show(line);
  }
  void Clear() { line_.Clear(); }

 private:
  StatusLine line_;
  unsigned frame_ = 0;
};

// Long-polls the run until it is final. Returns the final answer.
Result<Answer> WaitForRun(HttpClient& client, const std::string& id, const std::string& queue) {
  ProgressLine progress;
  int wait_seconds = progress.enabled() ? kWaitSecondsTty : kWaitSecondsQuiet;
  std::string target = "/api/v1/runs/" + UrlEncode(id) + "?wait=" + std::to_string(wait_seconds);
  if (!queue.empty()) target += "&queue=" + UrlEncode(queue);
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto answer =
        Call(client, "GET", target, std::nullopt, std::chrono::seconds(wait_seconds + 30));
    if (!answer.ok()) return answer;
    if (!answer->value.is_object())
      return Status::Internal("the server answered with a non-object run");
    const json::object& run = answer->value.get_object();
    if (IsFinalStatus(Field(run, "status"))) {
      progress.Clear();
      return answer;
    }
    progress.Update(run, std::chrono::steady_clock::now() - start);
  }
}

// Prints a run (or waits for it first) and returns the exit status.
int ShowRun(HttpClient& client, const CommonOptions& common, Answer answer, bool wait) {
  if (wait && answer.value.is_object()) {
    const json::object& run = answer.value.get_object();
    auto final_answer = WaitForRun(client, Field(run, "id"), Field(run, "queue"));
    if (!final_answer.ok()) return ReportFailure(final_answer.status());
    answer = std::move(*final_answer);
  }
  if (common.json()) {
    std::cout << answer.raw << "\n";
  } else if (answer.value.is_object()) {
    PrintRun(answer.value.get_object());
  }
  if (!wait) return kExitOk;
  if (!answer.value.is_object()) return kExitServer;
  return Field(answer.value.get_object(), "status") == "completed" ? kExitOk : kExitRunNotCompleted;
}

[[noreturn]] void Exit(int code) { throw CLI::RuntimeError(code); }

void Finish(int code) {
  if (code != kExitOk) Exit(code);
}

std::string RunTarget(const std::string& id, const std::string& queue,
                      std::string_view suffix = "") {
  std::string target = "/api/v1/runs/" + UrlEncode(id) + std::string(suffix);
  if (!queue.empty()) target += "?queue=" + UrlEncode(queue);
  return target;
}

// --- commands ------------------------------------------------------------------

struct CreateOptions {
  CommonOptions common;
  std::string function;
  std::string args;
  std::string data;
  std::string queue;
  std::string id;
  std::string conflict;
  double in = 0;
  std::string run_at;
  int priority = 0;
  int max_attempts = 1;
  double retry_delay = 0;
  double delay_factor = 1;
  double max_delay = 0;
  double timeout = 0;
  double time_to_resolve = 0;
  bool wait = false;
  std::string input;  // a CSV file for a bulk function ("-" = stdin)
  // Set when the option was given (CLI11 counts them).
  CLI::Option* in_opt = nullptr;
  CLI::Option* priority_opt = nullptr;
  CLI::Option* max_attempts_opt = nullptr;
  CLI::Option* retry_delay_opt = nullptr;
  CLI::Option* delay_factor_opt = nullptr;
  CLI::Option* max_delay_opt = nullptr;
  CLI::Option* timeout_opt = nullptr;
  CLI::Option* ttr_opt = nullptr;
};

// A duration in seconds, 0 or more. (CLI::NonNegativeNumber would name its upper
// bound, DBL_MAX, as a 309-digit number.)
CLI::Validator NonNegativeSeconds() {
  return CLI::Validator(
      [](const std::string& text) -> std::string {
        char* end = nullptr;
        double seconds = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(seconds)) {
          return "'" + text + "' is not a number of seconds";
        }
        if (seconds < 0) return "'" + text + "' is negative; give 0 or more seconds";
        return "";
      },
      "SEC");
}

bool Given(const CLI::Option* option) { return option && option->count() > 0; }

// Fills args/data from --args/--data; returns false after reporting a bad value.
Status AddArgsAndData(json::object& body, const std::string& args, const std::string& data) {
  if (!args.empty()) {
    auto value = ParseJsonOption("--args", args);
    if (!value.ok()) return value.status();
    body["args"] = std::move(*value);
  }
  if (!data.empty()) {
    auto value = ParseJsonOption("--data", data);
    if (!value.ok()) return value.status();
    body["data"] = std::move(*value);
  }
  return Status::Ok();
}

// The options of `create` as the JSON body of POST /api/v1/runs (a CSV upload takes
// the same keys as query parameters).
Result<json::object> CreateBody(const CreateOptions& o) {
  json::object body;
  body["function"] = o.function;
  TASKMILL_RETURN_IF_ERROR(AddArgsAndData(body, o.args, o.data));
  if (!o.queue.empty()) body["queue"] = o.queue;
  if (!o.id.empty()) body["id"] = o.id;
  if (!o.conflict.empty()) body["conflict"] = o.conflict;
  if (Given(o.in_opt)) body["delay"] = o.in;
  if (!o.run_at.empty()) body["run_at"] = o.run_at;
  if (Given(o.priority_opt)) body["priority"] = o.priority;
  json::object retry;
  if (Given(o.max_attempts_opt)) retry["max_attempts"] = o.max_attempts;
  if (Given(o.retry_delay_opt)) retry["delay"] = o.retry_delay;
  if (Given(o.delay_factor_opt)) retry["delay_factor"] = o.delay_factor;
  if (Given(o.max_delay_opt)) retry["max_delay"] = o.max_delay;
  if (!retry.empty()) body["retry"] = std::move(retry);
  if (Given(o.timeout_opt)) body["timeout"] = o.timeout;
  if (Given(o.ttr_opt)) body["time_to_resolve"] = o.time_to_resolve;
  return body;
}

int Create(const CreateOptions& o) {
  auto body = CreateBody(o);
  if (!body.ok()) return ReportFailure(body.status());
  HttpClient client(o.common.server());
  auto answer = Call(client, "POST", "/api/v1/runs", json::value(std::move(*body)));
  if (!answer.ok()) return ReportFailure(answer.status());
  return ShowRun(client, o.common, std::move(*answer), o.wait);
}

void AddCreate(CLI::App& app) {
  auto o = std::make_shared<CreateOptions>();
  auto* cmd = app.add_subcommand("create", "Create a run of a function (an anonymous run)");
  cmd->add_option("FUNCTION", o->function, "Function to run, category.action")->required();
  cmd->add_option("--args", o->args, "Arguments as JSON (array or object), e.g. '[\"hello\"]'");
  cmd->add_option("--data", o->data, "Data as a JSON object");
  cmd->add_option("--queue", o->queue, "Queue (default: default)");
  cmd->add_option("--id", o->id, "Run id, unique in its queue (default: a new UUIDv7)");
  cmd->add_option("--conflict", o->conflict,
                  "When the id exists: error (default), ignore, overwrite")
      ->check(CLI::IsMember({"error", "ignore", "overwrite"}));
  o->in_opt =
      cmd->add_option("--in", o->in, "Start after SEC seconds")->check(NonNegativeSeconds());
  cmd->add_option("--run-at", o->run_at, "Start at TIME (RFC 3339, e.g. 2026-01-01T12:00:00Z)")
      ->excludes(o->in_opt);
  o->priority_opt = cmd->add_option("--priority", o->priority, "Priority, higher runs first");
  o->max_attempts_opt =
      cmd->add_option("--max-attempts", o->max_attempts, "Attempts in all (default 1)");
  o->retry_delay_opt = cmd->add_option("--delay,--retry-delay", o->retry_delay,
                                       "Seconds before the first retry (default 0)");
  o->delay_factor_opt =
      cmd->add_option("--delay-factor", o->delay_factor,
                      "Each further retry waits this many times longer (default 1)");
  o->max_delay_opt = cmd->add_option("--max-delay", o->max_delay, "Longest retry delay in seconds");
  o->timeout_opt = cmd->add_option("--timeout", o->timeout, "Seconds an attempt may run");
  o->ttr_opt = cmd->add_option("--time-to-resolve", o->time_to_resolve,
                               "Lease in seconds: a silent runner's attempt is lost after it");
  cmd->add_flag("--wait", o->wait, "Wait until the run is final; exit 1 unless it completed");
  cmd->add_option("--input", o->input, "CSV file for a bulk function (\"-\" reads stdin)");
  cmd->callback([o] {
    if (!o->input.empty()) {
      // A bulk run: the CSV is streamed to the server and validated there.
      // Every run option travels with it, as query parameters.
      auto body = CreateBody(*o);
      if (!body.ok()) throw CLI::RuntimeError(ReportFailure(body.status()));
      CsvRunOptions csv{.server = o->common.server(),
                        .function = o->function,
                        .path = o->input,
                        .wait = o->wait,
                        .json = o->common.json(),
                        .run = std::move(*body)};
      throw CLI::RuntimeError(CreateCsvRun(csv));
    }
    Finish(Create(*o));
  });
}

struct StartOptions {
  CommonOptions common;
  std::string task;
  std::string args;
  std::string data;
  bool wait = false;
};

void AddStart(CLI::App& app) {
  auto o = std::make_shared<StartOptions>();
  auto* cmd = app.add_subcommand("start", "Start a run of a configured task");
  cmd->add_option("TASK", o->task, "Task name")->required();
  cmd->add_option("--args", o->args, "Arguments as JSON, replacing the task's");
  cmd->add_option("--data", o->data, "Data as a JSON object");
  cmd->add_flag("--wait", o->wait, "Wait until the run is final; exit 1 unless it completed");
  cmd->callback([o] {
    json::object body;
    if (Status s = AddArgsAndData(body, o->args, o->data); !s.ok()) Exit(ReportFailure(s));
    HttpClient client(o->common.server());
    auto answer = Call(client, "POST", "/api/v1/tasks/" + UrlEncode(o->task) + "/start",
                       json::value(std::move(body)));
    if (!answer.ok()) Exit(ReportFailure(answer.status()));
    Finish(ShowRun(client, o->common, std::move(*answer), o->wait));
  });
}

struct RunsOptions {
  CommonOptions common;
  std::string status, task, function, queue, cursor;
  int limit = 0;
};

void AddRuns(CLI::App& app) {
  auto o = std::make_shared<RunsOptions>();
  auto* cmd = app.add_subcommand("runs", "List runs, newest first");
  cmd->add_option("--status", o->status, "Only runs in this status (pending, failed, …)");
  cmd->add_option("--task", o->task, "Only runs of this task");
  cmd->add_option("--function", o->function, "Only runs of this function");
  cmd->add_option("--queue", o->queue, "Only runs in this queue");
  cmd->add_option("--limit", o->limit, "Runs per page (1-1000, default 50)");
  cmd->add_option("--cursor", o->cursor, "Continue after a previous page");
  cmd->callback([o] {
    std::string query;
    auto param = [&](std::string_view key, const std::string& value) {
      if (value.empty()) return;
      query += query.empty() ? "?" : "&";
      query += std::string(key) + "=" + UrlEncode(value);
    };
    param("status", o->status);
    param("task", o->task);
    param("function", o->function);
    param("queue", o->queue);
    param("cursor", o->cursor);
    if (o->limit != 0) param("limit", std::to_string(o->limit));
    HttpClient client(o->common.server());
    auto answer = Call(client, "GET", "/api/v1/runs" + query);
    if (!answer.ok()) Exit(ReportFailure(answer.status()));
    if (o->common.json()) {
      std::cout << answer->raw << "\n";
      return;
    }
    auto runs = MemberOf(*answer, "runs", json::kind::array);
    if (!runs.ok()) Exit(ReportFailure(runs.status()));
    const json::object& page = answer->value.get_object();
    std::vector<std::vector<std::string>> rows = {
        {"ID", "QUEUE", "STATUS", "FUNCTION", "TASK", "ATTEMPT", "CREATED", "FINISHED"}};
    for (const auto& item : (*runs)->get_array()) {
      if (!item.is_object()) continue;
      const auto& run = item.get_object();
      rows.push_back(
          {Field(run, "id"), Field(run, "queue"), Field(run, "status"), Field(run, "function"),
           OrDash(Field(run, "task")), Field(run, "attempt") + "/" + Field(run, "max_attempts"),
           ShortTime(Field(run, "created_at")), OrDash(ShortTime(Field(run, "finished_at")))});
    }
    if (rows.size() == 1) {
      std::cout << "no runs\n";
    } else {
      PrintTable(rows);
    }
    std::string next = Field(page, "next_cursor");
    if (!next.empty()) std::cout << "\nmore: add --cursor " << next << "\n";
  });
}

struct RunIdOptions {
  CommonOptions common;
  std::string id;
  std::string queue;
  bool wait = false;
};

CLI::App* AddRunIdCommand(CLI::App& app, const std::string& name, const std::string& help,
                          const std::shared_ptr<RunIdOptions>& o, bool with_wait) {
  auto* cmd = app.add_subcommand(name, help);
  cmd->add_option("ID", o->id, "Run id")->required();
  cmd->add_option("--queue", o->queue, "Queue of the run (needed when the id exists in several)");
  if (with_wait) {
    cmd->add_flag("--wait", o->wait, "Wait until the run is final; exit 1 unless it completed");
  }
  return cmd;
}

void AddRunCommands(CLI::App& app) {
  auto show = std::make_shared<RunIdOptions>();
  AddRunIdCommand(app, "run", "Show a run with its attempts", show, true)->callback([show] {
    HttpClient client(show->common.server());
    auto answer = Call(client, "GET", RunTarget(show->id, show->queue));
    if (!answer.ok()) Exit(ReportFailure(answer.status()));
    Finish(ShowRun(client, show->common, std::move(*answer), show->wait));
  });

  auto cancel = std::make_shared<RunIdOptions>();
  AddRunIdCommand(app, "cancel", "Stop a pending or running run", cancel, false)
      ->callback([cancel] {
        HttpClient client(cancel->common.server());
        auto answer = Call(client, "POST", RunTarget(cancel->id, cancel->queue, "/cancel"),
                           json::value(json::object()));
        if (!answer.ok()) Exit(ReportFailure(answer.status()));
        Finish(ShowRun(client, cancel->common, std::move(*answer), false));
      });

  auto retry = std::make_shared<RunIdOptions>();
  AddRunIdCommand(app, "retry", "Run a finished run again (one more attempt)", retry, true)
      ->callback([retry] {
        HttpClient client(retry->common.server());
        auto answer = Call(client, "POST", RunTarget(retry->id, retry->queue, "/retry"),
                           json::value(json::object()));
        if (!answer.ok()) Exit(ReportFailure(answer.status()));
        Finish(ShowRun(client, retry->common, std::move(*answer), retry->wait));
      });

  auto remove = std::make_shared<RunIdOptions>();
  AddRunIdCommand(app, "rm", "Delete a run that is not running", remove, false)->callback([remove] {
    HttpClient client(remove->common.server());
    auto answer = Call(client, "DELETE", RunTarget(remove->id, remove->queue));
    if (!answer.ok()) Exit(ReportFailure(answer.status()));
    // The API answers 204 without a body; --json prints nothing then.
    if (!remove->common.json()) std::cout << "deleted run " << remove->id << "\n";
  });
}

void AddStats(CLI::App& app) {
  auto o = std::make_shared<CommonOptions>();
  auto* cmd = app.add_subcommand("stats", "Count runs by status");
  cmd->callback([o] {
    HttpClient client(o->server());
    auto answer = Call(client, "GET", "/api/v1/stats");
    if (!answer.ok()) Exit(ReportFailure(answer.status()));
    if (o->json()) {
      std::cout << answer->raw << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows;
    auto statuses = MemberOf(*answer, "statuses", json::kind::object);
    if (!statuses.ok()) Exit(ReportFailure(statuses.status()));
    for (const auto& kv : (*statuses)->get_object()) {
      rows.push_back({std::string(kv.key()), Str(&kv.value())});
    }
    PrintTable(rows);
  });
}

void AddTasks(CLI::App& app) {
  auto o = std::make_shared<CommonOptions>();
  auto* cmd = app.add_subcommand("tasks", "List the configured tasks and their last run");
  cmd->callback([o] {
    HttpClient client(o->server());
    auto answer = Call(client, "GET", "/api/v1/tasks");
    if (!answer.ok()) Exit(ReportFailure(answer.status()));
    if (o->json()) {
      std::cout << answer->raw << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows = {
        {"NAME", "KIND", "FUNCTION", "SCHEDULE", "TZ", "NEXT FIRE TIMES", "ENABLED", "LAST RUN"}};
    auto tasks = MemberOf(*answer, "tasks", json::kind::array);
    if (!tasks.ok()) Exit(ReportFailure(tasks.status()));
    for (const auto& item : (*tasks)->get_array()) {
      if (!item.is_object()) continue;
      const auto& task = item.get_object();
      std::string last = "-";
      if (auto* run = task.if_contains("last_run"); run && run->is_object()) {
        const auto& r = run->get_object();
        last = Field(r, "status");
        if (!Field(r, "finished_at").empty()) last += " at " + ShortTime(Field(r, "finished_at"));
      }
      std::string next;
      if (auto* times = task.if_contains("next_fire_times"); times && times->is_array()) {
        for (const auto& t : times->get_array()) {
          if (!next.empty()) next += ", ";
          next += t.is_string() ? std::string(t.get_string()) : std::string();
        }
      }
      bool periodical = Field(task, "kind") == "periodical";
      rows.push_back({Field(task, "name"), Field(task, "kind"), Field(task, "function"),
                      OrDash(Field(task, "schedule")), periodical ? Field(task, "timezone") : "-",
                      OrDash(next), Field(task, "enabled") == "true" ? "yes" : "no", last});
    }
    if (rows.size() == 1)
      std::cout << "no tasks\n";
    else
      PrintTable(rows);
  });
}

struct FunctionsOptions {
  CommonOptions common;
  std::string category;
  std::string action;
};

void PrintFunction(const json::object& f) {
  std::vector<std::vector<std::string>> rows;
  auto add = [&](std::string label, std::string value) {
    if (!value.empty() && value != "[]") rows.push_back({std::move(label), std::move(value)});
  };
  add("name", Field(f, "name"));
  add("description", Field(f, "description"));
  add("input", Field(f, "input"));
  add("handler", Field(f, "handler"));
  add("mandatory", Field(f, "mandatory"));
  add("optional", Field(f, "optional"));
  add("output", Field(f, "output_header"));
  PrintTable(rows);
  std::string doc = Field(f, "doc");
  if (!doc.empty()) std::cout << "\n" << doc << "\n";
}

void AddFunctions(CLI::App& app) {
  auto o = std::make_shared<FunctionsOptions>();
  auto* cmd = app.add_subcommand("functions", "List the functions runs can call");
  cmd->add_option("CATEGORY", o->category, "Only this category");
  cmd->add_option("ACTION", o->action, "Only this action (shows its details)");
  cmd->callback([o] {
    std::string query;
    if (!o->category.empty()) query += "?category=" + UrlEncode(o->category);
    if (!o->action.empty()) query += "&action=" + UrlEncode(o->action);
    HttpClient client(o->common.server());
    auto answer = Call(client, "GET", "/api/v1/functions" + query);
    if (!answer.ok()) Exit(ReportFailure(answer.status()));
    if (o->common.json()) {
      std::cout << answer->raw << "\n";
      return;
    }
    auto listed = MemberOf(*answer, "functions", json::kind::array);
    if (!listed.ok()) Exit(ReportFailure(listed.status()));
    const auto& functions = (*listed)->get_array();
    if (functions.empty()) {
      std::string what = o->category + (o->action.empty() ? "" : "." + o->action);
      std::cerr << "error: no function" << (what.empty() ? "s" : " matches " + what) << "\n";
      Exit(kExitUsage);
    }
    if (!o->action.empty() && functions.size() == 1 && functions[0].is_object()) {
      PrintFunction(functions[0].get_object());
      return;
    }
    std::vector<std::vector<std::string>> rows = {{"NAME", "INPUT", "DESCRIPTION"}};
    for (const auto& item : functions) {
      if (!item.is_object()) continue;
      const auto& f = item.get_object();
      rows.push_back({Field(f, "name"), Field(f, "input"), Field(f, "description")});
    }
    PrintTable(rows);
  });
}

}  // namespace

void AddClientCommands(CLI::App& app) {
  AddFunctions(app);
  AddCreate(app);
  AddStart(app);
  AddRuns(app);
  AddRunCommands(app);
  AddStats(app);
  AddTasks(app);
}

int ExitCodeFor(const CLI::App& app, const CLI::ParseError& error) {
  if (error.get_name() == "RuntimeError") return error.get_exit_code();
  int code = app.exit(error);
  return code == 0 ? 0 : kExitUsage;
}

}  // namespace taskmill::cli
