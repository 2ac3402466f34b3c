#include "cli/api_command.h"

#include "cli/client.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace taskmill::cli {
namespace {

struct ApiOptions {
  std::string method;
  std::string path;
  std::string body;
  std::string body_file;
  std::string content_type = "application/json";
  std::string server;
};

int RunApi(const ApiOptions& o) {
  std::string server = o.server;
  if (server.empty()) {
    const char* env = std::getenv("TASKMILL_SERVER");
    server = env && *env ? env : "http://127.0.0.1:8080";
  }
  std::string body = o.body;
  if (!o.body_file.empty()) {
    std::ifstream in(o.body_file, std::ios::binary);
    if (!in) {
      std::cerr << "error: cannot read " << o.body_file << "\n";
      return 2;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  HttpClient client(server);
  auto response = client.Send(o.method, o.path, body, o.content_type);
  if (!response.ok()) {
    std::cerr << "error: cannot reach taskmill at " << server << ": "
              << response.status().message() << "\n";
    return 3;
  }
  std::cout << response->body;
  if (!response->body.empty() && response->body.back() != '\n') std::cout << "\n";
  return response->status >= 200 && response->status < 300 ? 0 : 1;
}
}  // namespace

void AddApiCommand(CLI::App& app) {
  auto o = std::make_shared<ApiOptions>();
  auto* cmd = app.add_subcommand("api", "Send a raw request to the HTTP API and print the answer");
  cmd->add_option("METHOD", o->method, "GET, POST, DELETE, …")->required();
  cmd->add_option("PATH", o->path, "Path and query, e.g. /api/v1/runs?status=failed")->required();
  cmd->add_option("--body", o->body, "Request body");
  cmd->add_option("--body-file", o->body_file, "Read the request body from a file");
  cmd->add_option("--content-type", o->content_type, "Body content type")->capture_default_str();
  cmd->add_option("--server", o->server, "Server URL (default $TASKMILL_SERVER or http://127.0.0.1:8080)");
  cmd->callback([o] { throw CLI::RuntimeError(RunApi(*o)); });
}

}  // namespace taskmill::cli
