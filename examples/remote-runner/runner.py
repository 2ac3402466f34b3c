#!/usr/bin/env python3
"""A taskmill remote runner in Python 3, standard library only.

It serves one queue of a taskmill server from any machine that can reach the server's
HTTP API: it claims runs of the queue (long-polling while there are none), executes
the Python function each run names, renews the run's lease with heartbeats while the
function runs, and reports the outcome. Retries, backoff and lost workers are the
server's business: a failed run is retried by the server's rules, and if this process
dies, its lease expires and the server's sweeper retries the run.

Usage (from the repository root, with the example configuration):

    taskmill serve --config examples/remote-runner/taskmill.yaml
    python3 examples/remote-runner/runner.py --server http://127.0.0.1:8080 --queue remote
    taskmill create py.add --args '[1, 2, 3]' --wait

Options:
    --server URL    the taskmill server (default: $TASKMILL_SERVER or http://127.0.0.1:8080)
    --queue Q       the queue to serve (required)
    --token TOKEN   sent as "Authorization: Bearer TOKEN" (default: $TASKMILL_TOKEN)
    --id NAME       this runner's id (default: py-HOSTNAME-PID)
    --once N        exit after handling N runs (for tests and batch jobs)
    --wait SECONDS  longest long-poll of one take (default 30; the server allows 60)

Functions are the FUNCTIONS dictionary below: each gets a Job (job.args, job.data,
job.run, job.cancelled, job.progress(...)) and returns the run's result (any JSON
value) or raises to fail the attempt. The server must declare them under
`remote_functions:` (see taskmill.yaml beside this file). The protocol is described
in docs/remote-runners.md: take -> heartbeat -> finish, each attempt fenced by its
fencing_token.
"""

import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request


class Job:
    """What a function sees of the run it executes."""

    def __init__(self, run):
        self.run = run
        self.args = run.get("args")
        self.data = run.get("data")
        # Set when the attempt is no longer ours (an operator cancelled the run, or the
        # lease was lost); long functions should check it and return early.
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._progress = None

    def progress(self, total=0, succeeded=0, failed=0):
        """Reports row counters; sent with the next heartbeat."""
        with self._lock:
            self._progress = {"total": total, "succeeded": succeeded, "failed": failed}

    def take_progress(self):
        with self._lock:
            progress, self._progress = self._progress, None
            return progress


# ---- the functions this runner executes, by name -----------------------------------


def py_add(job):
    """Sums its args: [1, 2, 3] -> 6."""
    return sum(job.args)


def py_fail(job):
    """Always raises, to show a failed run carrying the Python error."""
    raise RuntimeError("py.fail always fails (args: %s)" % json.dumps(job.args))


def py_sleep(job):
    """Sleeps args[0] seconds (default 10), returning early when cancelled."""
    seconds = float(job.args[0]) if job.args else 10.0
    steps = max(1, int(seconds))
    for step in range(steps):
        if job.cancelled.wait(seconds / steps):
            raise RuntimeError("stopped after %d of %d steps" % (step, steps))
        job.progress(total=steps, succeeded=step + 1)
    return {"slept": seconds}


FUNCTIONS = {
    "py.add": py_add,
    "py.fail": py_fail,
    "py.sleep": py_sleep,
}


# ---- the HTTP API ---------------------------------------------------------------------


class ApiError(Exception):
    """An HTTP error answer of the API, with its error code."""

    def __init__(self, status, code, message):
        super().__init__("%s %s: %s" % (status, code, message))
        self.status = status
        self.code = code


class Client:
    def __init__(self, server, runner_id, token=None):
        self.base = server.rstrip("/") + "/api/v1/runners/" + urllib.parse.quote(runner_id, safe="")
        self.token = token

    def post(self, path, body=None, timeout=30.0):
        """POSTs JSON; returns the parsed answer. Raises ApiError for an error answer
        and OSError (urllib.error.URLError) when the server cannot be reached."""
        data = json.dumps(body if body is not None else {}).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            try:
                error = json.loads(text)["error"]
                raise ApiError(e.code, error.get("code", ""), error.get("message", text)) from None
            except (ValueError, KeyError, TypeError):
                raise ApiError(e.code, "", text) from None

    def take(self, queue, wait):
        query = urllib.parse.urlencode({"queue": queue, "max": 1, "wait": wait})
        return self.post("/take?" + query, timeout=wait + 30)["runs"]

    def heartbeat(self, beats):
        return self.post("/heartbeat", {"runs": beats})["runs"]

    def finish(self, body):
        return self.post("/finish", body)


def log(message):
    print("runner.py: " + message, file=sys.stderr, flush=True)


# ---- one attempt -----------------------------------------------------------------------


class Heartbeat(threading.Thread):
    """Renews the lease of one attempt while its function runs: every third of the
    run's time_to_resolve, so that one lost heartbeat is survivable, and at least every
    10 s, so that an operator's cancel is noticed soon. Sets job.cancelled when the
    server says the attempt is no longer ours."""

    def __init__(self, client, claimed, job):
        super().__init__(daemon=True)
        self.client = client
        self.claimed = claimed
        self.job = job
        self.stopped = threading.Event()
        self.interval = min(10.0, max(0.5, float(claimed.get("time_to_resolve") or 60) / 3))

    def run(self):
        claimed, job = self.claimed, self.job
        while not self.stopped.wait(self.interval):
            beat = {"id": claimed["id"], "queue": claimed["queue"],
                    "fencing_token": claimed["fencing_token"]}
            progress = job.take_progress()
            if progress:
                beat["progress"] = progress
            try:
                answer = self.client.heartbeat([beat])[0]
            except (ApiError, OSError) as e:
                log("heartbeat of %s failed (will retry): %s" % (claimed["id"], e))
                continue
            if not answer["accepted"]:
                why = "cancelled by an operator" if answer.get("cancel_requested") else "lease lost"
                log("run %s: attempt %d is no longer ours (%s)"
                    % (claimed["id"], claimed["fencing_token"], why))
                job.cancelled.set()
                return

    def stop(self):
        self.stopped.set()
        self.join()


def execute(client, run):
    """Runs one claimed run and reports its outcome. Returns normally, or re-raises
    KeyboardInterrupt after handing the run back."""
    job = Job(run)
    heartbeat = Heartbeat(client, run, job)
    heartbeat.start()
    finish = {"id": run["id"], "queue": run["queue"], "fencing_token": run["fencing_token"]}
    interrupted = None
    try:
        function = FUNCTIONS.get(run["function"])
        if function is None:
            raise LookupError("runner.py has no function %r (it has: %s)"
                              % (run["function"], ", ".join(sorted(FUNCTIONS))))
        result = function(job)
        json.dumps(result)  # the result must be JSON: fail here rather than at the server
        finish.update(status="completed", result=result)
    except KeyboardInterrupt as e:
        # Stopping: hand the run back now instead of letting its lease run out.
        finish.update(status="failed", error="runner.py stopped during the attempt",
                      error_kind="interrupted")
        interrupted = e
    except Exception as e:  # the function failed: the attempt fails, with its message
        finish.update(status="failed", error="%s: %s" % (type(e).__name__, e),
                      output=traceback.format_exc())
    finally:
        heartbeat.stop()
    progress = job.take_progress()
    if progress:
        finish["progress"] = progress  # the last counters, which no heartbeat carried
    if job.cancelled.is_set():
        log("run %s: not reporting an attempt that is no longer ours" % run["id"])
    else:
        try:
            done = client.finish(finish)
            log("run %s (%s): %s -> %s" % (run["id"], run["function"], finish["status"],
                                          done["status"]))
        except ApiError as e:
            if e.code != "stale_fencing_token":
                raise
            log("run %s: finish refused, the attempt is stale: %s" % (run["id"], e))
    if interrupted is not None:
        raise interrupted


# ---- the loop ----------------------------------------------------------------------------


def interrupt(signum, frame):
    raise KeyboardInterrupt()


def default_id():
    host = re.sub(r"[^A-Za-z0-9_.:-]", "-", socket.gethostname())
    return "py-%s-%d" % (host, os.getpid())


def main(argv=None):
    parser = argparse.ArgumentParser(description="A taskmill remote runner (Python, stdlib only).")
    parser.add_argument("--server",
                        default=os.environ.get("TASKMILL_SERVER", "http://127.0.0.1:8080"))
    parser.add_argument("--queue", required=True)
    parser.add_argument("--token", default=os.environ.get("TASKMILL_TOKEN"))
    parser.add_argument("--id", default=default_id())
    parser.add_argument("--once", type=int, default=0, metavar="N",
                        help="exit after handling N runs")
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECONDS")
    options = parser.parse_args(argv)

    # SIGTERM stops like Ctrl-C: a run in progress is handed back first.
    signal.signal(signal.SIGTERM, interrupt)
    client = Client(options.server, options.id, options.token)
    log("runner %s serving queue %r of %s" % (options.id, options.queue, options.server))
    handled = 0
    backoff = 1.0
    try:
        while options.once <= 0 or handled < options.once:
            try:
                runs = client.take(options.queue, options.wait)
            except ApiError as e:
                if 400 <= e.status < 500:
                    log("take refused: %s" % e)  # a bad option or token: retrying won't help
                    return 2
                log("take failed (retrying in %.0f s): %s" % (backoff, e))
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            except OSError as e:
                log("cannot reach %s (retrying in %.0f s): %s" % (options.server, backoff, e))
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            for run in runs:
                try:
                    execute(client, run)
                except (ApiError, OSError) as e:
                    # The outcome could not be reported: the lease runs out and the
                    # server retries the run, as for a worker that died.
                    log("run %s: reporting failed: %s" % (run["id"], e))
                handled += 1
    except KeyboardInterrupt:
        log("stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
