// api_command.h — `taskmill api METHOD PATH`: a raw request to the HTTP API, for
// scripts and for routes that have no command of their own (like `gh api`).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/client.h"

namespace taskmill::cli {
void AddApiCommand(CLI::App& app);

// Shared by the small commands that send one request: the server to use ("" means
// $TASKMILL_SERVER, else http://127.0.0.1:8080), one request, and how failures are
// reported (message on stderr; exit status 3 unreachable or a 5xx, 2 a 4xx or a request
// refused before sending, as docs/cli.md's table says).
std::string ResolveServer(const std::string& server);
Result<HttpResponse> SendApiRequest(const std::string& server, std::string_view method,
                                    std::string_view path, std::string_view body,
                                    std::string_view content_type = "application/json");
int ReportUnreachable(const std::string& server, const Status& status);
int ReportApiError(const HttpResponse& response);
}  // namespace taskmill::cli
