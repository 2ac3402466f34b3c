// process/spawn.h — starting a child process that cannot outlive the server.
//
// Every program taskmill runs (command attempts, co-processes) is started here, in a
// process group of its own that it leads, with the signal mask empty, every signal
// at its default disposition, and only descriptors 0, 1 and 2 open. The child is
// also marked to receive SIGKILL when its parent dies (PR_SET_PDEATHSIG), so a
// server that is killed, even by SIGKILL, takes its direct children with it. What
// those children started in their group is killed by process_groups.h (at exit, and
// by the next server on the same data directory after a crash).
//
// Linux delivers the death signal when the parent *thread* exits, not the process.
// Children are therefore cloned from one thread that lives as long as the process
// (started on first use, never joined); callers hand it the request and wait. The
// clone shares memory with that thread and suspends it until the child has exec-ed
// or failed (as posix_spawn does), so a failed exec reports its errno precisely.
//
// Thread-safety: SpawnChild may be called from any number of threads at once.
#pragma once

#include <sys/types.h>

namespace taskmill {

struct ChildSpec {
  // The program: a path, or with `search_path` a name looked up in the server's PATH
  // (execvpe's rules).
  const char* file = nullptr;
  bool search_path = false;
  char* const* argv = nullptr;  // null-terminated
  char* const* envp = nullptr;  // null-terminated: the child's whole environment
  // Become the child's 0, 1 and 2 (stdout and stderr may be the same descriptor).
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // The working directory: an open directory descriptor, else a path, else the
  // server's.
  int dir_fd = -1;
  const char* dir_path = nullptr;
};

// Starts the child and tracks its process group (process_groups.h). Returns 0 and sets
// `*pid`, or the errno of the step that failed (exec's own errno when the program
// could not be executed; the failed child is then already reaped).
int SpawnChild(const ChildSpec& spec, pid_t* pid);

}  // namespace taskmill
