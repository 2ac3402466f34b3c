// process/process_groups.h — the process groups of the programs this server started,
// so that none of them outlives it.
//
// Every child taskmill starts leads a group of its own (spawn.h). A group is tracked
// from its start until its owner has killed what is left of it, just before the
// leader is reaped (after the reap its id may be reused). Three ways a server ends,
// three guards:
//   - a clean exit or a stop signal: the runner stops every attempt, and KillAll()
//     kills whatever group is still tracked at the end (also registered with atexit);
//   - a fatal signal (SIGSEGV, SIGABRT, ...): the handler from
//     InstallFatalSignalHandlers() calls KillAll() before the process dies;
//   - SIGKILL, or a crash the handler cannot see: the direct children die with the
//     server (PR_SET_PDEATHSIG), and the groups' record in the data directory lets the
//     next server on that directory kill what they left (OpenRecord).
//
// The record: `DATA_DIR/command-groups/` holds, per running server, a lock file
// `PID.START.lock` that the server keeps locked (flock) for its life, and a folder
// `PID.START/` with one empty file `PGID.START` per tracked group. The lock is
// released by the kernel however the server ends, so a server that can lock another's
// file knows that one is gone, kills its recorded groups and removes its record. START
// is the process start time from /proc/PID/stat: a group is killed only while its
// leader still has that start time, or, when the leader is gone, through members of
// that group started no earlier than the leader, and never when the id now belongs
// to a process started later. (The kernel does not reuse an id while any process
// still has it as its group id.)
//
// Thread-safety: every function may be called from any thread; KillAll() and
// KilledForShutdown() are also async-signal-safe.
#pragma once

#include <sys/types.h>
#include <taskmill/status.h>

#include <string>

namespace taskmill::process_groups {

// Starts tracking the group led by `pgid` (a child just started). When ShutdownNow()
// was called, the group is killed at once instead.
void Track(pid_t pgid);
// Stops tracking `pgid`. Call after the last kill of the group and before reaping its
// leader.
void Untrack(pid_t pgid);

// SIGKILL to every tracked group. Async-signal-safe.
void KillAll();

// The forced stop (a second stop signal): kills every tracked group now and every
// group started from now on. The attempts it ends count as interrupted.
void ShutdownNow();
bool KilledForShutdown();

// Kills the groups recorded in `data_dir` by servers that are no longer running,
// waits (at most a few seconds) until they are gone, and records this server's
// groups there from now on. Also registers KillAll with atexit. Errors name the
// directory; nothing is recorded then.
Status OpenRecord(const std::string& data_dir);
// Removes this server's record (after a clean stop, once KillAll has run).
void CloseRecord();

// On SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT: KillAll(), then the signal's
// default action (the process dies as it would have).
void InstallFatalSignalHandlers();

// The start time of process `pid` in clock ticks since boot (field 22 of
// /proc/PID/stat), or -1 when there is no such process.
long long ProcessStartTime(pid_t pid);

}  // namespace taskmill::process_groups
