// pg_test_server.cpp — starts, stops and removes a private PostgreSQL server
// (pg_test_server.h).
#include "storage/postgres/testing/pg_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace taskmill::postgres::testing {
namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin/";
constexpr double kStartSeconds = 60;
constexpr double kStopSeconds = 60;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The last `max` bytes of a log, for error messages.
std::string Tail(const std::string& text, size_t max = 2000) {
  return text.size() <= max ? text : text.substr(text.size() - max);
}

// Runs argv (as the postgres user when we are root: PostgreSQL refuses to run as
// root), appending its output to `log`. Answers its exit status.
Status RunCommand(std::vector<std::string> argv, const std::string& log) {
  if (::geteuid() == 0) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  pid_t pid = ::fork();
  if (pid < 0) return Status::Internal("pg test server: fork failed");
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    int null_in = ::open("/dev/null", O_RDONLY);
    if (null_in >= 0) ::dup2(null_in, 0);
    std::vector<char*> args;
    for (auto& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  std::string command;
  for (const auto& arg : argv) command += (command.empty() ? "" : " ") + arg;
  return Status::Internal("pg test server: '" + command + "' failed; log:\n" + Tail(ReadFile(log)));
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 60) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// Runs one statement on `url`; an error names the statement and the server's message.
Status Exec(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    return Status::Internal("pg test server: cannot connect to " + url + ": " + message);
  }
  // "database ... does not exist, skipping" and the like are not worth a line of output.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  PGresult* result = PQexec(conn, sql.c_str());
  Status status = Status::Ok();
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    status = Status::Internal("pg test server: " + sql + ": " + PQerrorMessage(conn));
  }
  PQclear(result);
  PQfinish(conn);
  return status;
}

}  // namespace

Result<PgTestServer> PgTestServer::Start() {
  PgTestServer server;
  if (const char* url = std::getenv("TASKMILL_TEST_POSTGRES_URL"); url != nullptr && *url) {
    server.external_url_ = url;
    server.running_ = true;
    TASKMILL_RETURN_IF_ERROR(server.WaitReady(kStartSeconds));
    return server;
  }
  std::string pattern = (std::filesystem::temp_directory_path() / "taskmill-pg-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Status::Internal("pg test server: cannot create a directory from " + pattern);
  }
  server.dir_ = pattern;
  if (::geteuid() == 0) {
    passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) {
      return Status::FailedPrecondition(
          "pg test server: running as root needs the postgres user (apt-get install "
          "postgresql-15)");
    }
    if (::chown(server.dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return Status::Internal("pg test server: cannot give " + server.dir_ + " to postgres");
    }
  }
  ::chmod(server.dir_.c_str(), 0700);
  const std::string log = server.dir_ + "/commands.log";
  // -N: initdb's own fsync of the template files is not what the tests measure; the
  // server itself runs with fsync on.
  TASKMILL_RETURN_IF_ERROR(
      RunCommand({std::string(kBinDir) + "initdb", "-D", server.dir_ + "/data", "-A", "trust", "-U",
                  "postgres", "-E", "UTF8", "--locale=C", "-N"},
                 log));
  server.port_ = FreePort();
  if (server.port_ == 0) return Status::Internal("pg test server: no free port on 127.0.0.1");
  TASKMILL_RETURN_IF_ERROR(server.Launch());
  return server;
}

Result<PgTestServer*> PgTestServer::Shared() {
  static Result<PgTestServer> shared = Start();
  if (!shared.ok()) return shared.status();
  return &shared.value();
}

Status PgTestServer::Launch() {
  std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                        dir_ +
                        " -c fsync=on -c synchronous_commit=on -c max_connections=200"
                        " -c shared_buffers=128MB";
  // pg_ctl returns once the postmaster is forked (no -w); WaitReady then waits for it to
  // accept connections within a deadline of its own.
  TASKMILL_RETURN_IF_ERROR(RunCommand({std::string(kBinDir) + "pg_ctl", "-D", dir_ + "/data", "-l",
                                       dir_ + "/server.log", "-o", options, "start"},
                                      dir_ + "/commands.log"));
  running_ = true;
  Status ready = WaitReady(kStartSeconds);
  if (!ready.ok()) {
    return Status::Internal(ready.message() + "; server log:\n" +
                            Tail(ReadFile(dir_ + "/server.log")));
  }
  return Status::Ok();
}

Status PgTestServer::WaitReady(double seconds) {
  const std::string conninfo = Url();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return Status::Ok();
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::Internal("pg test server: " + conninfo +
                              " did not accept connections within " +
                              std::to_string(static_cast<int>(seconds)) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

PgTestServer::PgTestServer(PgTestServer&& other) noexcept
    : dir_(std::move(other.dir_)),
      external_url_(std::move(other.external_url_)),
      port_(other.port_),
      running_(other.running_) {
  other.dir_.clear();
  other.external_url_.clear();
  other.running_ = false;
}

PgTestServer& PgTestServer::operator=(PgTestServer&& other) noexcept {
  if (this != &other) {
    Shutdown();
    dir_ = std::move(other.dir_);
    external_url_ = std::move(other.external_url_);
    port_ = other.port_;
    running_ = other.running_;
    other.dir_.clear();
    other.external_url_.clear();
    other.running_ = false;
  }
  return *this;
}

PgTestServer::~PgTestServer() { Shutdown(); }

void PgTestServer::Shutdown() {
  if (dir_.empty()) return;
  if (running_) {
    // Immediate: the data is thrown away, so there is nothing to checkpoint.
    (void)RunCommand({std::string(kBinDir) + "pg_ctl", "-D", dir_ + "/data", "-m", "immediate",
                      "-w", "-t", std::to_string(static_cast<int>(kStopSeconds)), "stop"},
                     dir_ + "/commands.log");
    running_ = false;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  dir_.clear();
}

std::string PgTestServer::Url(const std::string& db) const {
  if (!external_url_.empty()) {
    // Replace the database of the given URL, keeping its query.
    std::string url = external_url_;
    size_t scheme = url.find("://");
    size_t start = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    size_t query = url.find('?');
    std::string tail = query == std::string::npos ? "" : url.substr(query);
    if (start == std::string::npos || (query != std::string::npos && start > query)) {
      start = query == std::string::npos ? url.size() : query;
    }
    return url.substr(0, start) + "/" + db + tail;
  }
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

Result<std::string> PgTestServer::CreateDatabase(const std::string& name) {
  if (!ValidName(name)) {
    return Status::InvalidArgument("pg test server: database name '" + name +
                                   "': use 1-60 letters, digits and _");
  }
  TASKMILL_RETURN_IF_ERROR(DropDatabase(name));
  TASKMILL_RETURN_IF_ERROR(Exec(Url(), "CREATE DATABASE \"" + name + "\""));
  return Url(name);
}

Result<std::string> PgTestServer::CreateSchema(const std::string& db, const std::string& schema) {
  if (!ValidName(schema)) {
    return Status::InvalidArgument("pg test server: schema name '" + schema +
                                   "': use 1-60 letters, digits and _");
  }
  TASKMILL_RETURN_IF_ERROR(Execute(db, "CREATE SCHEMA \"" + schema + "\""));
  std::string url = Url(db);
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema;
}

Status PgTestServer::Execute(const std::string& db, const std::string& sql) {
  return Exec(Url(db), sql);
}

Status PgTestServer::DropDatabase(const std::string& name) {
  if (!ValidName(name)) {
    return Status::InvalidArgument("pg test server: database name '" + name +
                                   "': use 1-60 letters, digits and _");
  }
  return Exec(Url(), "DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)");
}

std::string PgTestServer::UniqueName(const std::string& prefix) {
  static std::atomic<int> next{0};
  return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
}

Status PgTestServer::StopFast() {
  if (external())
    return Status::FailedPrecondition("pg test server: an external server is not stopped");
  if (!running_) return Status::Ok();
  running_ = false;
  return RunCommand({std::string(kBinDir) + "pg_ctl", "-D", dir_ + "/data", "-m", "fast", "-w",
                     "-t", std::to_string(static_cast<int>(kStopSeconds)), "stop"},
                    dir_ + "/commands.log");
}

Status PgTestServer::StartAgain() {
  if (external())
    return Status::FailedPrecondition("pg test server: an external server is not started");
  if (running_) return Status::Ok();
  return Launch();
}

}  // namespace taskmill::postgres::testing
