#include "process/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "process/process_groups.h"

namespace taskmill {
namespace {

// The clone child's stack. execvpe builds candidate paths on it (PATH_MAX each) and,
// for a script without #!, a new argv.
constexpr size_t kChildStack = 256 * 1024;

struct CloneArgs {
  const ChildSpec* spec;
  pid_t server;  // the process that must be alive for the child to go on
  int err = 0;   // written by the child when a step fails (memory is shared)
};

// Moves `fd` above 2 so that installing 0, 1 and 2 cannot overwrite it first.
int AboveStdio(int fd) { return fd > 2 ? fd : ::fcntl(fd, F_DUPFD, 3); }

// Runs in the child, on its own stack but in the server's memory, while the spawning
// thread is suspended: only system calls, and nothing that takes a lock.
int ChildMain(void* raw) {
  auto* args = static_cast<CloneArgs*>(raw);
  const ChildSpec& spec = *args->spec;
  auto fail = [args](int err) {
    args->err = err;
    ::_exit(127);
  };
  // Default dispositions first, while every signal is still blocked: a handler of the
  // server must never run here, on the server's memory.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    ::sigaction(sig, &action, nullptr);  // fails harmlessly for the C library's own
  }
  if (::setpgid(0, 0) != 0) fail(errno);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(errno);
  // The server may have died before the line above: then nothing would kill this child.
  if (::getppid() != args->server) ::_exit(127);

  int in = AboveStdio(spec.stdin_fd);
  int out = AboveStdio(spec.stdout_fd);
  int err = spec.stderr_fd == spec.stdout_fd ? out : AboveStdio(spec.stderr_fd);
  if (in < 0 || out < 0 || err < 0) fail(errno);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) fail(errno);
  if (spec.dir_fd >= 0) {
    if (::fchdir(spec.dir_fd) != 0) fail(errno);
  } else if (spec.dir_path && *spec.dir_path) {
    if (::chdir(spec.dir_path) != 0) fail(errno);
  }
  // Our descriptors are close-on-exec, but libraries in the server may open some
  // without it; a leaked pipe end would keep another attempt's output open.
  ::syscall(SYS_close_range, 3U, ~0U, 0U);

  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (spec.search_path) {
    ::execvpe(spec.file, spec.argv, spec.envp);
  } else {
    ::execve(spec.file, spec.argv, spec.envp);
  }
  fail(errno);
  return 127;
}

// Clones the child from the calling thread (the spawner's); see spawn.h.
int CloneChild(const ChildSpec& spec, pid_t* pid, void* stack) {
  CloneArgs args{.spec = &spec, .server = ::getpid()};
  // The child starts with this mask: nothing may interrupt it before it reset the
  // dispositions.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  // CLONE_VFORK: this thread sleeps until the child exec-ed or exited, so `args` is
  // read only after the child is done with it.
  pid_t child = ::clone(ChildMain, static_cast<char*>(stack) + kChildStack,
                        CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (child < 0) return clone_errno;
  if (args.err != 0) {
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    return args.err;
  }
  *pid = child;
  return 0;
}

// The thread every child is cloned from. It lives until the process ends, so the
// children's death signal fires exactly when the server goes. Its state is never
// destroyed: spawns may still be requested while static objects are torn down.
class Spawner {
 public:
  static Spawner& Instance() {
    static Spawner* spawner = new Spawner();
    return *spawner;
  }

  int Spawn(const ChildSpec& spec, pid_t* pid) {
    Job job{.spec = &spec};
    std::unique_lock lock(mu_);
    jobs_.push_back(&job);
    work_cv_.notify_one();
    done_cv_.wait(lock, [&] { return job.done; });
    *pid = job.pid;
    return job.err;
  }

 private:
  struct Job {
    const ChildSpec* spec;
    pid_t pid = -1;
    int err = 0;
    bool done = false;
  };

  Spawner() {
    stack_ = ::mmap(nullptr, kChildStack, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    // No signal is ever handled on this thread; the server's stop signals are taken
    // elsewhere.
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    std::thread([this] { Loop(); }).detach();
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  void Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return !jobs_.empty(); });
      Job* job = jobs_.front();
      jobs_.pop_front();
      lock.unlock();
      job->err = stack_ == MAP_FAILED ? ENOMEM : CloneChild(*job->spec, &job->pid, stack_);
      lock.lock();
      job->done = true;
      done_cv_.notify_all();
    }
  }

  void* stack_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<Job*> jobs_;  // guarded by mu_
};

}  // namespace

int SpawnChild(const ChildSpec& spec, pid_t* pid) {
  int err = Spawner::Instance().Spawn(spec, pid);
  if (err == 0) process_groups::Track(*pid);
  return err;
}

}  // namespace taskmill
