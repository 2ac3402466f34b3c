#include "integration/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <thread>

extern char** environ;

namespace taskmill::testing {
namespace {

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

std::vector<std::string> EnvWith(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    bool replaced = false;
    for (const auto& [k, v] : extra) replaced = replaced || entry.rfind(k + "=", 0) == 0;
    if (!replaced) env.push_back(entry);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

// Spawns argv with stdout and stderr on pipes (stdin /dev/null); argv[0] is looked up
// in PATH when it holds no '/'.
int Spawn(std::vector<std::string> args, std::vector<std::string> env, int* out_fd, int* err_fd) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  auto argv = Argv(args);
  auto envp = Argv(env);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    return -1;
  }
  *out_fd = out[0];
  *err_fd = err[0];
  return pid;
}

}  // namespace

boost::json::value CommandResult::Json() const {
  boost::system::error_code ec;
  auto v = boost::json::parse(out, ec);
  return ec ? boost::json::value(nullptr) : v;
}

CommandResult Taskmill(const std::vector<std::string>& args, const std::string& server,
                       std::chrono::seconds timeout) {
  std::vector<std::string> argv = {TASKMILL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::pair<std::string, std::string>> extra;
  if (!server.empty()) extra.emplace_back("TASKMILL_SERVER", server);
  return RunProcess(std::move(argv), extra, timeout);
}

CommandResult RunProcess(std::vector<std::string> argv,
                         const std::vector<std::pair<std::string, std::string>>& env,
                         std::chrono::seconds timeout) {
  CommandResult result;
  int out_fd = -1, err_fd = -1;
  int pid = Spawn(std::move(argv), EnvWith(env), &out_fd, &err_fd);
  if (pid < 0) return result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool WaitUntil(std::chrono::duration<double> seconds, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(seconds);
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("taskmill-it-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Server::Server(const std::filesystem::path& data_dir, std::vector<std::string> extra_args) {
  std::vector<std::string> argv = {TASKMILL_BINARY, "serve",      "--listen",
                                   "127.0.0.1:0",   "--data-dir", data_dir.string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  int err_fd = -1;
  pid_ = Spawn(argv, EnvWith({}), &out_fd_, &err_fd);
  if (pid_ < 0) return;
  // stderr (logs) is not needed; drop it so the child never blocks on it.
  close(err_fd);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const std::string marker = "listening on ";
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{out_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 1000) <= 0) continue;
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) break;  // exited before listening
    output_.append(buf, static_cast<size_t>(n));
    auto pos = output_.find(marker);
    if (pos != std::string::npos) {
      auto end = output_.find('\n', pos);
      if (end == std::string::npos) continue;
      url_ = output_.substr(pos + marker.size(), end - pos - marker.size());
      break;
    }
  }
}

Server::~Server() {
  if (pid_ > 0) Kill9();
}

void Server::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (out_fd_ >= 0) close(out_fd_);
  out_fd_ = -1;
}

int Server::Terminate() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  const bool exited =
      WaitUntil(std::chrono::seconds(60), [&] { return waitpid(pid_, &status, WNOHANG) == pid_; });
  if (!exited) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    status = -1;
  }
  pid_ = -1;
  if (out_fd_ >= 0) close(out_fd_);
  out_fd_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void Server::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int Server::Wait(std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) return -2;
    // Output until the server closes its stdout (at exit); poll() also bounds each
    // look at the exit status (an fd of -1 is skipped).
    pollfd pfd{out_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 20) <= 0) continue;
    char buf[4096];
    if (read(out_fd_, buf, sizeof buf) <= 0) {
      close(out_fd_);
      out_fd_ = -1;
    }
  }
  pid_ = -1;
  if (out_fd_ >= 0) close(out_fd_);
  out_fd_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace taskmill::testing
