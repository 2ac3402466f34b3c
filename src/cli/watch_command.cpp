#include "cli/watch_command.h"

#include <array>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <iostream>

#include "cli/api_command.h"
#include "cli/client.h"
#include "cli/global_options.h"

namespace taskmill::cli {
namespace {
namespace http = boost::beast::http;
namespace json = boost::json;

// The server sends a keep-alive comment every 15 s: silence for longer means it is gone.
constexpr int kSilenceSeconds = 60;

struct WatchOptions {
  std::string server;
  std::string types;
  bool json = false;
};

std::string Field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// One SSE frame ("event: …\ndata: …") as a line for people, or its data for --json.
std::string OrQuestion(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? json::serialize(*v) : "?";
}

void PrintFrame(std::string_view frame, bool as_json) {
  std::string event, data;
  size_t start = 0;
  while (start < frame.size()) {
    size_t end = frame.find('\n', start);
    if (end == std::string_view::npos) end = frame.size();
    std::string_view line = frame.substr(start, end - start);
    if (line.starts_with("event: ")) event = line.substr(7);
    if (line.starts_with("data: ")) data = line.substr(6);
    start = end + 1;
  }
  if (data.empty()) return;  // a keep-alive comment
  if (as_json) {
    std::cout << data << std::endl;
    return;
  }
  boost::system::error_code ec;
  json::value v = json::parse(data, ec);
  if (ec || !v.is_object()) return;
  const json::object& o = v.get_object();
  std::string at = Field(o, "at");
  if (at.size() >= 19) at = at.substr(11, 8);  // HH:MM:SS of the UTC time
  if (event == "task.changed") {
    std::cout << at << "  " << event << "  " << Field(o, "task") << std::endl;
    return;
  }
  std::string line = at + "  " + event + "  " + Field(o, "run_id") + "  " + Field(o, "function") +
                     "  " + Field(o, "status");
  if (event == "run.progress") {
    // An event without its counts prints the counts it has (never an abort).
    static const json::object kNone;
    const auto* progress = o.if_contains("progress");
    const auto& p = progress && progress->is_object() ? progress->get_object() : kNone;
    line += "  " + OrQuestion(p, "succeeded") + " ok, " + OrQuestion(p, "failed") + " failed of " +
            OrQuestion(p, "total");
  }
  if (std::string account = Field(o, "account_id"); !account.empty()) line += "  (" + account + ")";
  std::cout << line << std::endl;
}

int Watch(const WatchOptions& o) {
  std::string server = ResolveServer(o.server);
  auto connection = StreamingConnection::Open(server, kSilenceSeconds);
  if (!connection.ok()) return ReportUnreachable(server, connection.status());
  StreamingConnection& c = **connection;
  std::string path = "/api/v1/events";
  if (!o.types.empty()) path += "?types=" + UrlEncode(o.types);
  http::request<http::empty_body> request{http::verb::get, c.Target(path), 11};
  request.set(http::field::host, c.HostHeader());
  request.set(http::field::user_agent, "taskmill-cli");
  request.set(http::field::accept, "text/event-stream");
  if (std::string authorization = AuthorizationFromEnvironment(); !authorization.empty()) {
    request.set(http::field::authorization, authorization);
  }
  boost::system::error_code ec;
  http::write(c.stream(), request, ec);
  if (ec) return ReportUnreachable(server, Status::Unavailable(ec.message()));

  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(c.stream(), c.buffer(), parser, ec);
  if (ec) return ReportUnreachable(server, Status::Unavailable(ec.message()));
  if (parser.get().result_int() != 200) {
    // An error answer: read it whole and report it like every other command.
    std::string body;
    std::array<char, 4096> piece{};
    while (!parser.is_done()) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      http::read(c.stream(), c.buffer(), parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) break;
      body.append(piece.data(), piece.size() - parser.get().body().size);
    }
    HttpResponse response;
    response.status = parser.get().result_int();
    response.body = std::move(body);
    return ReportApiError(response);
  }
  if (!o.json) std::cerr << "watching " << server << " (Ctrl-C to stop)\n";
  std::string pending;
  std::array<char, 16384> piece{};
  for (;;) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    // read_some, not read: read returns only once the piece is full, which holds
    // events back until 16 KiB of them have arrived.
    http::read_some(c.stream(), c.buffer(), parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      std::cerr << "error: the event stream ended: " << ec.message() << "\n";
      return 1;
    }
    pending.append(piece.data(), piece.size() - parser.get().body().size);
    for (size_t end; (end = pending.find("\n\n")) != std::string::npos;) {
      PrintFrame(std::string_view(pending).substr(0, end), o.json);
      pending.erase(0, end + 2);
    }
    if (parser.is_done()) return 0;
  }
}

}  // namespace

void AddWatchCommand(CLI::App& app) {
  auto o = std::make_shared<WatchOptions>();
  auto* cmd = app.add_subcommand("watch", "Show the server's live events (runs and tasks)");
  cmd->add_option("--types", o->types,
                  "Comma-separated event types (run.created, run.started, run.progress, "
                  "run.finished, task.changed); default all");
  cmd->callback([o] {
    o->json = JsonRequested();  // --json: each event's JSON, one per line
    throw CLI::RuntimeError(Watch(*o));
  });
}

}  // namespace taskmill::cli
