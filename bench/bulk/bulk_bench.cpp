// taskmill_bulk_bench — end-to-end throughput and memory of bulk CSV runs, in one
// process, on a fresh SQLite database (docs/bulk.md, "Performance").
//
//   taskmill_bulk_bench --input FILE [--function noop|python] [--sync full|normal]
//                       [--repeat N] [--progress-every N] [--max-buffered-mb N]
//                       [--python PATH] [--dir DIR] [--json]
//
// Each repetition: (1) upload: the file is staged into storage in chunks, validated
// and committed with its run (CreateBulkRun); (2) run: one attempt claims the run,
// reads the stored input, verifies two columns, calls the function, writes the output
// to storage and saves a checkpoint every --progress-every rows, then the finish is
// stored; (3) download: the output is streamed back (to nowhere). Reported: seconds
// and rows/s for each phase and end to end (upload + run), and the process's peak RSS.
//
//   --function noop    a C++ function that returns Ok() for every row; the input must
//                      have the columns id,email (bench/bulk/make_csv.py bench N),
//                      verified as digits and as containing '@';
//   --function python  the Python co-process of examples/bulk/import.py; the input must
//                      have e164 (make_csv.py numbers N).
//
// Time is the wall clock (std::chrono::steady_clock): this is a benchmark, not a test.
#include <sys/resource.h>
#include <taskmill/bulk.h>
#include <taskmill/engine.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {
namespace json = boost::json;
using taskmill::BulkCall;
using taskmill::BulkResult;

struct Options {
  std::string input;
  std::string function = "noop";
  std::string sync = "full";
  std::string python = "python3";
  std::string dir;
  int repeat = 1;
  int64_t progress_every = 1000;
  size_t max_buffered_mb = 8;
  bool json = false;
};

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int64_t PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

bool AllDigits(std::string_view v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "taskmill_bulk_bench: " << message << "\n";
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--input")
      o.input = value();
    else if (a == "--function")
      o.function = value();
    else if (a == "--sync")
      o.sync = value();
    else if (a == "--python")
      o.python = value();
    else if (a == "--dir")
      o.dir = value();
    else if (a == "--repeat")
      o.repeat = std::stoi(value());
    else if (a == "--progress-every")
      o.progress_every = std::stoll(value());
    else if (a == "--max-buffered-mb")
      o.max_buffered_mb = std::stoul(value());
    else if (a == "--json")
      o.json = true;
    else
      Die("unknown option " + a + " (see the comment at the top of bench/bulk/bulk_bench.cpp)");
  }
  if (o.input.empty()) Die("--input FILE is required (bench/bulk/make_csv.py makes one)");
  if (o.function != "noop" && o.function != "python") Die("--function is noop or python");
  return o;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Phase {
  double upload = 0, run = 0, download = 0;
  double row_loop_cpu = 0;  // CPU seconds of the thread that ran the attempt
  double run_cpu = 0;       // CPU seconds of the whole process during the run
  int64_t rows = 0, bytes = 0, succeeded = 0, failed = 0;
};

Phase RunOnce(const Options& o, const std::filesystem::path& dir) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  taskmill::BulkOptions bulk_options;
  bulk_options.progress_every = o.progress_every;
  bulk_options.max_buffered_output = o.max_buffered_mb << 20;
  bulk_options.max_file_size = int64_t{64} << 30;
  auto runtime = std::make_shared<taskmill::BulkRuntime>(bulk_options);
  auto registry = std::make_shared<taskmill::FunctionRegistry>();
  if (o.function == "noop") {
    taskmill::BulkFunction noop;
    noop.info.name = "bench.noop";
    noop.info.input = "csv";
    noop.info.mandatory = {"id", "email"};
    noop.info.optional = {"name", "status", "amount"};
    noop.verifiers["id"] = AllDigits;
    noop.verifiers["email"] = [](std::string_view v) {
      return v.find('@') != std::string_view::npos;
    };
    noop.call = [](const BulkCall&) { return BulkResult::Ok(); };
    if (auto s = taskmill::RegisterBulkFunction(*registry, runtime, noop); !s.ok())
      Die(s.ToString());
  } else {
    taskmill::CoprocessSpec py;
    py.info.name = "bench.python";
    py.info.input = "csv";
    py.info.mandatory = {"e164"};
    py.info.optional = {"account_id", "carrier", "state"};
    py.info.output_header = {"country"};
    py.verifiers["e164"] = R"(\+[0-9]{7,15})";
    py.argv = {o.python, std::string(TASKMILL_SOURCE_DIR) + "/examples/bulk/import.py"};
    if (auto s = taskmill::RegisterCoprocessFunction(*registry, runtime, py); !s.ok())
      Die(s.ToString());
  }
  taskmill::EngineOptions options;
  options.storage.url = (dir / "taskmill.db").string() + "?synchronous=" + o.sync;
  options.runner = false;  // the attempt runs on this thread, timed on its own
  options.scheduler = false;
  auto engine = taskmill::Engine::Open(options, registry);
  if (!engine.ok()) Die(engine.status().ToString());
  runtime->Attach(**engine);
  taskmill::Storage& storage = (*engine)->storage();

  Phase p;
  p.bytes = static_cast<int64_t>(std::filesystem::file_size(o.input));
  auto t0 = std::chrono::steady_clock::now();
  std::ifstream in(o.input, std::ios::binary);
  taskmill::BulkCreateRequest request;
  request.run.function = o.function == "noop" ? "bench.noop" : "bench.python";
  auto created = taskmill::CreateBulkRun(**engine, request, in);
  if (!created.ok()) Die(created.status().message().substr(0, 2000));
  p.upload = Since(t0);
  p.rows = created->progress.total;

  t0 = std::chrono::steady_clock::now();
  taskmill::RunTakeParams take;
  take.runner = "bench";
  take.now = (*engine)->clock().Now();
  auto claimed = storage.RunTake(take);
  if (!claimed.ok() || claimed->empty()) Die("cannot claim the run");
  const auto& run = claimed->front();
  taskmill::RunContext context(run, std::make_shared<taskmill::CancellationToken>());
  double cpu0 = ThreadCpuSeconds();
  double process_cpu0 = ProcessCpuSeconds();
  taskmill::HandlerOutcome outcome =
      (*engine)->functions().Find(run.function)->handler->Execute(context);
  p.row_loop_cpu = ThreadCpuSeconds() - cpu0;
  taskmill::RunFinish finish;
  finish.queue = run.queue;
  finish.id = run.id;
  finish.attempt = run.attempt;
  finish.status = outcome.status;
  finish.finished_at = (*engine)->clock().Now();
  finish.progress = outcome.progress;
  auto finished = storage.RunFinishBatch({finish});
  if (!finished.ok() || !(*finished)[0].accepted) Die("cannot store the finish");
  p.run = Since(t0);
  p.run_cpu = ProcessCpuSeconds() - process_cpu0;
  if (!outcome.error.empty() && outcome.status == taskmill::RunStatus::kFailed) {
    Die("the run failed: " + outcome.error + "\n" + outcome.output);
  }
  p.succeeded = outcome.progress->succeeded;
  p.failed = outcome.progress->failed;

  t0 = std::chrono::steady_clock::now();
  auto stored = storage.RunGet(run.id);
  auto stream =
      taskmill::BulkFileStream::Open(storage, *stored, taskmill::BulkFileStream::Which::kOutput);
  if (!stream.ok()) Die(stream.status().ToString());
  int64_t out_bytes = 0;
  for (;;) {
    auto piece = (*stream)->Next();
    if (!piece.ok()) Die(piece.status().ToString());
    if (piece->empty()) break;
    out_bytes += static_cast<int64_t>(piece->size());
  }
  p.download = Since(t0);
  engine->reset();
  std::filesystem::remove_all(dir);
  return p;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  std::filesystem::path dir = o.dir.empty()
                                  ? std::filesystem::temp_directory_path() /
                                        ("taskmill-bulk-bench-" + std::to_string(getpid()))
                                  : std::filesystem::path(o.dir);
  std::vector<double> upload, run, download, total, cpu;
  Phase last;
  for (int i = 0; i < o.repeat; ++i) {
    last = RunOnce(o, dir);
    upload.push_back(last.upload);
    run.push_back(last.run);
    download.push_back(last.download);
    total.push_back(last.upload + last.run);
    cpu.push_back(last.row_loop_cpu);
    if (!o.json) {
      std::fprintf(stderr,
                   "  #%d: upload %.3f s, run %.3f s (%.0f rows/s; CPU: row loop %.3f s, "
                   "all threads %.3f s), download %.3f s\n",
                   i + 1, last.upload, last.run, static_cast<double>(last.rows) / last.run,
                   last.row_loop_cpu, last.run_cpu, last.download);
    }
  }
  double rows = static_cast<double>(last.rows);
  json::object out{{"function", o.function},
                   {"sync", o.sync},
                   {"rows", last.rows},
                   {"bytes", last.bytes},
                   {"succeeded", last.succeeded},
                   {"failed", last.failed},
                   {"repeat", o.repeat},
                   {"upload_s", Median(upload)},
                   {"run_s", Median(run)},
                   {"row_loop_cpu_s", Median(cpu)},
                   {"download_s", Median(download)},
                   {"total_s", Median(total)},
                   {"run_rows_per_s", rows / Median(run)},
                   {"total_rows_per_s", rows / Median(total)},
                   {"peak_rss_mb", static_cast<double>(PeakRssKb()) / 1024.0}};
  if (o.json) {
    std::cout << json::serialize(out) << "\n";
  } else {
    std::printf(
        "%s, %s rows (%.1f MB), synchronous=%s, medians of %d:\n"
        "  upload (stage + validate + commit)  %.3f s  %10.0f rows/s\n"
        "  run (read, verify, call, write, checkpoints, finish)  %.3f s  %10.0f rows/s\n"
        "  end to end (upload + run)           %.3f s  %10.0f rows/s\n"
        "  download of the output              %.3f s\n"
        "  peak RSS                            %.1f MB\n",
        o.function.c_str(), std::to_string(last.rows).c_str(), last.bytes / 1e6, o.sync.c_str(),
        o.repeat, Median(upload), rows / Median(upload), Median(run), rows / Median(run),
        Median(total), rows / Median(total), Median(download),
        static_cast<double>(PeakRssKb()) / 1024.0);
  }
  return 0;
}
