#include "soak/serve_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace taskmill::testing {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

ServeProcess::ServeProcess(const std::filesystem::path& data_dir, const std::filesystem::path& log,
                           std::vector<std::string> args)
    : log_(log) {
  std::vector<std::string> argv = {TASKMILL_BINARY, "serve"};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const char* a : {"--listen", "127.0.0.1:0", "--data-dir"}) argv.emplace_back(a);
  argv.push_back(data_dir.string());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, TASKMILL_SOURCE_DIR);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return;
  pid_ = pid;

  // Wait for the line that names the URL, or for the process to exit.
  const std::string marker = "listening on ";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out = ReadFile(log_);
    auto pos = out.find(marker);
    auto end = pos == std::string::npos ? pos : out.find('\n', pos);
    if (end != std::string::npos) {
      url_ = out.substr(pos + marker.size(), end - pos - marker.size());
      return;
    }
    if (Reap(false)) return;  // exited before listening
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

ServeProcess::~ServeProcess() { Kill9(); }

std::optional<std::chrono::duration<double>> ServeProcess::CpuTime() const {
  if (pid_ <= 0) return std::nullopt;
  std::string stat = ReadFile("/proc/" + std::to_string(pid_) + "/stat");
  // Fields follow the command name in parentheses, which may itself hold spaces:
  // after the last ')' come state (field 3) … utime (14) and stime (15), in ticks.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  long long utime = -1, stime = -1;
  for (int number = 3; number <= 15 && fields >> field; ++number) {
    if (number == 14) utime = std::stoll(field);
    if (number == 15) stime = std::stoll(field);
  }
  if (utime < 0 || stime < 0) return std::nullopt;
  return std::chrono::duration<double>(static_cast<double>(utime + stime) /
                                       static_cast<double>(sysconf(_SC_CLK_TCK)));
}

std::optional<int> ServeProcess::Reap(bool wait) {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  if (waitpid(pid_, &status, wait ? 0 : WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::optional<int> ServeProcess::TerminateWithin(std::chrono::duration<double> within) {
  if (pid_ <= 0) return std::nullopt;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(within);
  for (;;) {
    if (auto code = Reap(false)) return code;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void ServeProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  Reap(true);
}

std::string ServeProcess::LogTail(size_t bytes) const {
  std::string log = ReadFile(log_);
  return log.size() <= bytes ? log : "…" + log.substr(log.size() - bytes);
}

}  // namespace taskmill::testing
