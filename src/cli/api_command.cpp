#include "cli/api_command.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/client.h"

namespace taskmill::cli {
namespace {

struct ApiOptions {
  std::string method;
  std::string path;
  std::string body;
  std::string body_file;
  std::string content_type = "application/json";
};

int RunApi(const ApiOptions& o) {
  std::string server = ResolveServer("");
  std::string body = o.body;
  if (!o.body_file.empty()) {
    std::ifstream in(o.body_file, std::ios::binary);
    if (!in) {
      std::cerr << "error: cannot read " << o.body_file << "\n";
      return kExitUsage;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  auto response = SendApiRequest(server, o.method, o.path, body, o.content_type);
  if (!response.ok()) return ReportUnreachable(server, response.status());
  std::cout << response->body;
  if (!response->body.empty() && response->body.back() != '\n') std::cout << "\n";
  // The same statuses as every other command: the answer is printed either way.
  if (response->status >= 500) return kExitServer;
  return response->status >= 400 ? kExitUsage : kExitOk;
}
}  // namespace

std::string ResolveServer(const std::string& server) {
  return server.empty() ? DefaultServer() : server;
}

Result<HttpResponse> SendApiRequest(const std::string& server, std::string_view method,
                                    std::string_view path, std::string_view body,
                                    std::string_view content_type) {
  HttpClient client(ResolveServer(server));
  return client.Send(method, path, body, content_type);
}

int ReportUnreachable(const std::string& server, const Status& status) {
  // Only a transport failure is "cannot reach"; a request refused before it was sent
  // (an unknown method, a bad URL or token) is the caller's mistake.
  if (status.code() != StatusCode::kUnavailable && status.code() != StatusCode::kTimeout) {
    return ReportFailure(status);
  }
  // StreamingConnection's errors already say where (and why, for TLS).
  if (status.message().starts_with("cannot reach taskmill")) {
    std::cerr << "error: " << status.message() << "\n";
  } else {
    std::cerr << "error: cannot reach taskmill at " << ResolveServer(server) << ": "
              << status.message() << "\n";
  }
  return kExitServer;
}

int ReportApiError(const HttpResponse& response) {
  Status s = StatusFromApiError(response);
  if (auto api = ApiErrorOf(s)) {
    std::cerr << "error: " << api->message << " (" << api->code << ")\n";
  } else {
    std::cerr << "error: HTTP " << response.status << "\n";
  }
  return response.status >= 500 ? kExitServer : kExitUsage;
}

void AddApiCommand(CLI::App& app) {
  auto o = std::make_shared<ApiOptions>();
  auto* cmd = app.add_subcommand("api", "Send a raw request to the HTTP API and print the answer");
  cmd->add_option("METHOD", o->method, "GET, POST, DELETE, …")->required();
  cmd->add_option("PATH", o->path, "Path and query, e.g. /api/v1/runs?status=failed")->required();
  cmd->add_option("--body", o->body, "Request body");
  cmd->add_option("--body-file", o->body_file, "Read the request body from a file");
  cmd->add_option("--content-type", o->content_type, "Body content type")->capture_default_str();
  cmd->callback([o] { throw CLI::RuntimeError(RunApi(*o)); });
}

}  // namespace taskmill::cli
