#!/usr/bin/env python3
"""Recovery after kill -9 under load: how long until the last lost run is retried.

Each round starts `taskmill serve` on a fresh data directory, stores --runs runs of
demo.sleep (--sleep s each, two attempts allowed, time_to_resolve --ttr), waits until
--before-kill of them completed, kills the server with SIGKILL, and notes the runs the
database holds as running and started (the attempts in flight). It then restarts the
server on the same directory and reads the database every 5 ms until every one of
those runs has left its claim (retried, or final). Printed per round and as medians:

  restart   from spawning the new server to the last in-flight run retried
  kill      from the kill to that moment (includes the restart of the process)

Standard library only. Example:
  bench/crash/recovery.py --binary build/taskmill --rounds 10
"""
import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
import urllib.request


def start(binary, data, config):
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--config", config],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on " in line:
            return proc, line.split("listening on ", 1)[1].strip()
    proc.kill()
    raise RuntimeError("the server did not start")


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def wait_until(seconds, done, poll=0.005):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return time.monotonic()
        time.sleep(poll)
    raise RuntimeError(f"not reached within {seconds} s")


def in_flight(db_path):
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        started = "started = 1" if "started" in columns else "1"
        return dict(db.execute(
            f"SELECT id, attempt FROM runs WHERE status = 'running' AND {started}").fetchall())
    finally:
        db.close()


def claims_left(db_path, claims):
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT id, attempt FROM runs WHERE status = 'running'").fetchall()
        return sum(1 for run_id, attempt in rows if claims.get(run_id) == attempt)
    finally:
        db.close()


def one_round(args):
    with tempfile.TemporaryDirectory(prefix="taskmill-recovery-") as tmp:
        data = os.path.join(tmp, "data")
        config = os.path.join(tmp, "t.yaml")
        with open(config, "w") as f:
            f.write(f"task_runner:\n  capacity: {args.capacity}\n")
        db_path = os.path.join(data, "taskmill.db")
        proc, url = start(args.binary, data, config)
        try:
            run = {"function": "demo.sleep", "args": [args.sleep], "max_attempts": 2,
                   "time_to_resolve": args.ttr}
            for _ in range(args.runs // 1000):
                call(url + "/api/v1/runs:batch", "POST", {"runs": [run] * 1000})
            wait_until(120, lambda: call(url + "/api/v1/stats")["statuses"]["completed"]
                       >= args.before_kill, poll=0.02)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        killed = time.monotonic()
        claims = in_flight(db_path)
        spawned = time.monotonic()
        proc, url = start(args.binary, data, config)
        try:
            done = wait_until(120, lambda: claims_left(db_path, claims) == 0)
        finally:
            proc.terminate()
            proc.wait()
        return len(claims), done - spawned, done - killed


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="build/taskmill")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--sleep", type=float, default=0.01)
    parser.add_argument("--capacity", type=int, default=32)
    parser.add_argument("--ttr", type=int, default=2, help="time_to_resolve of the runs (s)")
    parser.add_argument("--before-kill", type=int, default=500)
    args = parser.parse_args()
    restart, kill = [], []
    for i in range(args.rounds):
        n = 0
        while n == 0:  # a kill that caught no attempt in flight measures nothing
            n, from_restart, from_kill = one_round(args)
        restart.append(from_restart)
        kill.append(from_kill)
        print(f"round {i + 1}: {n} runs in flight at the kill; last retried "
              f"{from_restart:.3f} s after the restart, {from_kill:.3f} s after the kill",
              flush=True)
    print(f"median of {args.rounds}: {statistics.median(restart):.3f} s after the restart "
          f"(min {min(restart):.3f}, max {max(restart):.3f}); "
          f"{statistics.median(kill):.3f} s after the kill (time_to_resolve {args.ttr} s)")


if __name__ == "__main__":
    main()
