// cli/bulk_commands.h — the bulk CSV parts of the `taskmill` command line:
//
//   taskmill input ID   [--queue Q] [--server URL]   the run's input CSV, on stdout
//   taskmill output ID  [--queue Q] [--server URL]   the run's output CSV, on stdout
//
// and CreateCsvRun, behind `taskmill create FUNCTION --input FILE [--wait]`: it
// uploads FILE ("-" reads stdin) streamed from disk (never whole in memory), with
// `Expect: 100-continue` so that a rejected request costs no upload; prints the
// validation errors of a rejected file (every offending line); and with --wait shows
// a live progress bar on a terminal (rows done of total, succeeded, failed, rows/s)
// until the run is final. Downloads are streamed to stdout the same way.
//
// Exit status as the other client commands (client_commands.h): 0 success (with
// --wait: completed), 1 the run ended otherwise (partial, failed, ...), 2 bad input
// or rejected by the server (4xx, an invalid CSV), 3 server error or unreachable.
#pragma once

#include <CLI/CLI.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace taskmill::cli {

struct CsvRunOptions {
  std::string server;    // http://HOST:PORT
  std::string function;  // category.action
  std::string path;      // the CSV file; "-" for stdin
  bool wait = false;     // wait for the end, with a progress bar on a terminal
  bool json = false;     // print the API's JSON instead of text
  // The run's options as a JSON run body (queue, id, conflict, priority, retry, delay,
  // timeout, args, data...: docs/api.md); sent as the upload's query parameters.
  boost::json::object run;
};

// The query parameters of an upload that carry `run` (every key but function; the
// retry object becomes max_attempts, retry_delay, retry_delay_factor,
// max_retry_delay), not yet percent-encoded.
std::vector<std::pair<std::string, std::string>> CsvRunParameters(const boost::json::object& run);

// Creates a bulk run from a CSV file; returns the exit status. Prints to stdout (the
// run) and stderr (errors, the progress bar).
int CreateCsvRun(const CsvRunOptions& options);

// Adds `input` and `output`.
void AddBulkCommands(CLI::App& app);

}  // namespace taskmill::cli
