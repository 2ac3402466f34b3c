#include "cli/bulk_commands.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <taskmill/model.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/client.h"
#include "cli/status_line.h"

namespace taskmill::cli {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

constexpr size_t kPiece = size_t{256} << 10;
constexpr int kSocketTimeoutSeconds = 120;  // a silent server fails the command

// 1234567 → "1,234,567"
std::string Thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string Field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return "";
  return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
}

int64_t Number(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_number() ? v->to_number<int64_t>() : 0;
}

// A run's progress counts; empty when the answer has none.
json::object ProgressOf(const json::object& run) {
  const json::value* p = run.if_contains("progress");
  return p && p->is_object() ? p->get_object() : json::object();
}

// Reads a whole (small) response: the API's JSON answers.
Result<HttpResponse> ReadResponse(StreamingConnection& c) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);
  boost::system::error_code ec;
  http::read(c.stream(), c.buffer(), parser, ec);
  if (ec) return Status::Unavailable("lost the connection to taskmill: " + ec.message());
  HttpResponse out;
  out.status = parser.get().result_int();
  out.content_type = std::string(parser.get()[http::field::content_type]);
  out.body = std::move(parser.get().body());
  return out;
}

class UploadIndicator {
 public:
  explicit UploadIndicator(int64_t total) : total_(total) {}
  void Update(int64_t sent) {
    if (!line_.enabled()) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    std::string line = "uploading " + Thousands(sent >> 10) + " KiB";
    if (total_ > 0)
      line += " of " + Thousands(total_ >> 10) + " KiB (" +
              std::to_string(sent * 100 / std::max<int64_t>(1, total_)) + "%)";
    line_.Show(line);
  }
  void Clear() { line_.Clear(); }

 private:
  StatusLine line_;
  int64_t total_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

std::vector<std::pair<std::string, std::string>> CsvRunParameters(const json::object& run) {
  // The nested retry policy of a JSON body has top-level names beside it.
  static constexpr std::pair<std::string_view, std::string_view> kRetryNames[] = {
      {"max_attempts", "max_attempts"},
      {"delay", "retry_delay"},
      {"delay_factor", "retry_delay_factor"},
      {"max_delay", "max_retry_delay"}};
  std::vector<std::pair<std::string, std::string>> out;
  auto text = [](const json::value& v) {
    return v.is_string() ? std::string(v.get_string()) : json::serialize(v);
  };
  for (const auto& kv : run) {
    if (kv.key() == "function") continue;  // the upload names it first
    if (kv.key() == "retry" && kv.value().is_object()) {
      for (const auto& [nested, top] : kRetryNames) {
        if (const json::value* v = kv.value().get_object().if_contains(nested)) {
          out.emplace_back(top, text(*v));
        }
      }
      continue;
    }
    out.emplace_back(kv.key(), text(kv.value()));
  }
  return out;
}

namespace {

Result<HttpResponse> Upload(const CsvRunOptions& o) {
  std::ifstream file;
  std::istream* in = &std::cin;
  int64_t size = -1;  // unknown: chunked
  std::string name = "input.csv";
  if (o.path != "-") {
    file.open(o.path, std::ios::binary);
    if (!file)
      return Status::InvalidArgument("cannot open " + o.path + ": " + std::strerror(errno));
    in = &file;
    struct stat st {};
    if (::stat(o.path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) size = st.st_size;
    name = std::filesystem::path(o.path).filename().string();
  }
  auto connection = StreamingConnection::Open(o.server, kSocketTimeoutSeconds);
  if (!connection.ok()) return connection.status();
  StreamingConnection& c = **connection;

  std::string path = "/api/v1/runs?function=" + UrlEncode(o.function) + "&name=" + UrlEncode(name);
  for (const auto& [key, value] : CsvRunParameters(o.run)) {
    path += "&" + key + "=" + UrlEncode(value);
  }
  http::request<http::empty_body> request{http::verb::post, c.Target(path), 11};
  request.set(http::field::host, c.HostHeader());
  request.set(http::field::user_agent, "taskmill-cli");
  request.set(http::field::accept, "application/json");
  request.set(http::field::content_type, "text/csv");
  if (std::string authorization = AuthorizationFromEnvironment(); !authorization.empty()) {
    request.set(http::field::authorization, authorization);
  }
  // The server checks the function before the body is sent: a typo costs no upload.
  request.set(http::field::expect, "100-continue");
  request.keep_alive(false);
  if (size >= 0) {
    request.content_length(static_cast<uint64_t>(size));
  } else {
    request.chunked(true);
  }
  http::request_serializer<http::empty_body> serializer(request);
  boost::system::error_code ec;
  http::write_header(c.stream(), serializer, ec);
  if (ec) return Status::Unavailable("cannot send to taskmill: " + ec.message());

  {
    // 100 Continue, or the final answer (a refusal).
    http::response_parser<http::empty_body> interim;
    http::read_header(c.stream(), c.buffer(), interim, ec);
    if (ec) return Status::Unavailable("lost the connection to taskmill: " + ec.message());
    if (interim.get().result() != http::status::continue_) {
      // Parse the refusal again from the start, body included.
      HttpResponse refusal;
      refusal.status = interim.get().result_int();
      http::response_parser<http::string_body> rest(std::move(interim));
      http::read(c.stream(), c.buffer(), rest, ec);
      refusal.body = rest.get().body();
      return refusal;
    }
  }

  UploadIndicator indicator(size);
  std::string piece(kPiece, '\0');
  int64_t sent = 0;
  bool write_failed = false;
  for (;;) {
    in->read(piece.data(), static_cast<std::streamsize>(piece.size()));
    auto got = static_cast<size_t>(in->gcount());
    if (got > 0) {
      if (size >= 0) {
        net::write(c.stream(), net::buffer(piece.data(), got), ec);
      } else {
        net::write(c.stream(), http::make_chunk(net::buffer(piece.data(), got)), ec);
      }
      // The server answers and closes when it refuses the body half-way (too large):
      // stop sending and read why.
      if (ec) {
        write_failed = true;
        break;
      }
      sent += static_cast<int64_t>(got);
      indicator.Update(sent);
    }
    if (!*in) break;
  }
  indicator.Clear();
  if (in->bad()) return Status::InvalidArgument("cannot read " + o.path);
  if (!write_failed && size < 0) net::write(c.stream(), http::make_chunk_last(), ec);
  return ReadResponse(c);
}

// A one-line progress bar on stderr, on a terminal only.
class ProgressBar {
 public:
  ProgressBar() : start_(std::chrono::steady_clock::now()) {}
  bool enabled() const { return line_.enabled(); }

  void Update(const json::object& run) {
    if (!line_.enabled()) return;
    json::object progress = ProgressOf(run);
    int64_t total = Number(progress, "total");
    int64_t ok = Number(progress, "succeeded");
    int64_t failed = Number(progress, "failed");
    int64_t done = ok + failed;
    auto now = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(now - start_).count();
    // Rows per second over the last update, once there is one.
    if (last_done_ >= 0 && now > last_) {
      double window = std::chrono::duration<double>(now - last_).count();
      if (window > 0.2) rate_ = static_cast<double>(done - last_done_) / window;
    }
    if (last_done_ < 0 || std::chrono::duration<double>(now - last_).count() > 0.2) {
      last_done_ = done;
      last_ = now;
    }
    constexpr int kWidth = 24;
    int filled = total > 0 ? static_cast<int>(kWidth * std::min<int64_t>(done, total) / total) : 0;
    std::string bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "] ";
    char percent[16] = "";
    if (total > 0) std::snprintf(percent, sizeof percent, "%5.1f%% ", 100.0 * done / total);
    std::string line = bar + percent + Thousands(done) + (total > 0 ? "/" + Thousands(total) : "") +
                       " rows  " + Thousands(ok) + " ok  " + Thousands(failed) + " failed  " +
                       Thousands(static_cast<int64_t>(rate_)) + " rows/s  " + Field(run, "status") +
                       " " + std::to_string(static_cast<int>(seconds)) + "s";
    line_.Show(line);
  }
  void Clear() { line_.Clear(); }

 private:
  StatusLine line_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_{};
  int64_t last_done_ = -1;
  double rate_ = 0;
};

void PrintSummary(const json::object& run) {
  const json::value* p = run.if_contains("progress");
  json::object progress = p && p->is_object() ? p->get_object() : json::object();
  std::string id = Field(run, "id");
  std::cout << "run " << id << ": " << Field(run, "status") << " — "
            << Thousands(Number(progress, "succeeded") + Number(progress, "failed")) << " of "
            << Thousands(Number(progress, "total"))
            << " rows: " << Thousands(Number(progress, "succeeded")) << " succeeded, "
            << Thousands(Number(progress, "failed")) << " failed\n";
  std::string error = Field(run, "error");
  if (!error.empty()) std::cout << "error: " << error << "\n";
  std::cout << "output: taskmill output " << id << " > output.csv\n";
}

Result<json::object> WaitWithProgress(const std::string& server, const json::object& created) {
  HttpClient client(server);
  ProgressBar bar;
  // On a terminal, a short long-poll so that the bar moves every second.
  int wait = bar.enabled() ? 1 : 30;
  std::string target =
      "/api/v1/runs/" + UrlEncode(Field(created, "id")) + "?wait=" + std::to_string(wait);
  std::string queue = Field(created, "queue");
  if (!queue.empty()) target += "&queue=" + UrlEncode(queue);
  bar.Update(created);
  for (;;) {
    auto answer = client.Get(target, std::chrono::seconds(wait + 30));
    if (!answer.ok()) return answer.status();
    if (!answer->is_object()) return Status::Internal("the server answered with a non-object run");
    const json::object& run = answer->get_object();
    auto status = ParseRunStatus(Field(run, "status"));
    if (status && IsFinal(*status)) {
      bar.Clear();
      return run;
    }
    bar.Update(run);
  }
}

// GET `path`, body streamed to stdout.
int Download(const std::string& server, const std::string& path) {
  auto connection = StreamingConnection::Open(server, kSocketTimeoutSeconds);
  if (!connection.ok()) return ReportFailure(connection.status());
  StreamingConnection& c = **connection;
  http::request<http::empty_body> request{http::verb::get, c.Target(path), 11};
  request.set(http::field::host, c.HostHeader());
  request.set(http::field::user_agent, "taskmill-cli");
  if (std::string authorization = AuthorizationFromEnvironment(); !authorization.empty()) {
    request.set(http::field::authorization, authorization);
  }
  request.keep_alive(false);
  boost::system::error_code ec;
  http::write(c.stream(), request, ec);
  if (ec) return ReportFailure(Status::Unavailable("cannot send to taskmill: " + ec.message()));
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  http::read_header(c.stream(), c.buffer(), parser, ec);
  if (ec)
    return ReportFailure(Status::Unavailable("lost the connection to taskmill: " + ec.message()));
  int status = parser.get().result_int();
  std::string error_body;
  std::string piece(kPiece, '\0');
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    http::read(c.stream(), c.buffer(), parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return ReportFailure(Status::Unavailable("the download broke off: " + ec.message()));
    size_t got = piece.size() - parser.get().body().size;
    if (status == 200) {
      std::cout.write(piece.data(), static_cast<std::streamsize>(got));
      if (!std::cout) return ReportFailure(Status::Internal("cannot write to stdout"));
    } else {
      error_body.append(piece.data(), got);
    }
  }
  std::cout.flush();
  if (status != 200) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(error_body);
    return ReportFailure(StatusFromApiError(response));
  }
  return kExitOk;
}

struct FileOptions {
  std::string id;
  std::string queue;
};

void AddDownload(CLI::App& app, const char* name, const char* description, const char* file) {
  auto o = std::make_shared<FileOptions>();
  auto* cmd = app.add_subcommand(name, description);
  cmd->add_option("ID", o->id, "Run id")->required();
  cmd->add_option("--queue", o->queue, "The run's queue, when its id is not unique");
  std::string file_name = file;
  cmd->callback([o, file_name] {
    std::string path = "/api/v1/runs/" + UrlEncode(o->id) + "/" + file_name;
    if (!o->queue.empty()) path += "?queue=" + UrlEncode(o->queue);
    int code = Download(DefaultServer(), path);
    if (code != kExitOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace

int CreateCsvRun(const CsvRunOptions& o) {
  auto response = Upload(o);
  if (!response.ok()) return ReportFailure(response.status());
  if (response->status != 201) {
    if (o.json) std::cout << response->body << "\n";
    return ReportFailure(StatusFromApiError(*response));
  }
  boost::system::error_code ec;
  json::value created = json::parse(response->body, ec);
  if (ec || !created.is_object()) {
    return ReportFailure(
        Status::Internal("the server answered with invalid JSON: " + response->body));
  }
  if (!o.wait) {
    if (o.json) {
      std::cout << response->body << "\n";
    } else {
      const json::object& run = created.get_object();
      std::cout << "run " << Field(run, "id")
                << " created: " << Thousands(Number(ProgressOf(run), "total")) << " rows of "
                << o.path << " for " << Field(run, "function") << "\n";
    }
    return kExitOk;
  }
  auto final_run = WaitWithProgress(o.server, created.get_object());
  if (!final_run.ok()) return ReportFailure(final_run.status());
  if (o.json) {
    std::cout << json::serialize(*final_run) << "\n";
  } else {
    PrintSummary(*final_run);
  }
  return Field(*final_run, "status") == "completed" ? kExitOk : kExitRunNotCompleted;
}

void AddBulkCommands(CLI::App& app) {
  AddDownload(app, "input", "Write a bulk run's input CSV to stdout", "input.csv");
  AddDownload(app, "output",
              "Write a bulk run's output CSV to stdout (the output so far while it runs)",
              "output.csv");
}

}  // namespace taskmill::cli
