#!/usr/bin/env python3
"""A co-process for taskmill's tests (src/bulk/coprocess_test.cpp): it answers each
row according to the row's `action` column, and reports what it saw, so that the
tests can check the protocol from both sides.

Actions: ok, summary (ok, and the finish writes a row with the count), error, merge, rows, stop, state (answer with a counter as state),
crash (exit at once with code 3 after a line on stderr), garbage (print a line that
is not an answer), sleep (never answer: to be cancelled), echo-state (merge the
state this process started from). Without input (row null) it iterates: pages of two
rows, counting in its state, until page 3.
"""

import json
import os
import sys

started_with = None  # the "state" of this process's first request
counter = 0
summary = False  # a row asked for a summary row at the finish


def answer(request):
    global counter, summary
    if "finish" in request:
        if not summary:
            return "ok"
        return {"rows": [["finish", str(request["progress"]["succeeded"])]]}
    row = request["row"]
    if row is None:
        page = counter
        counter += 1
        if page == 3:
            return "stop"
        return {"rows": [["p%d-a" % page], ["p%d-b" % page]], "state": counter}
    action = row.get("action") or "ok"
    if action == "summary":
        summary = True
        return "ok"
    if action == "ok":
        return "ok"
    if action == "error":
        return {"error": "rejected line %d" % request["line"]}
    if action == "merge":
        return {"merge": {"note": "merged", "count": 7}}
    if action == "rows":
        return {"rows": [["r1", "", "rows"], ["r2", "", "rows", "second"]]}
    if action == "stop":
        return {"stop": True}
    if action == "state":
        counter += 1
        return {"ok": True, "state": {"counter": counter}}
    if action == "echo-state":
        return {"merge": {"note": json.dumps(started_with)}}
    if action == "crash":
        print("about to crash on " + row["e164"], file=sys.stderr)
        sys.stderr.flush()
        os._exit(3)
    if action == "garbage":
        return None  # printed as is below
    if action == "sleep":
        import time
        time.sleep(3600)
    return {"error": "unknown action " + action}


def main():
    global started_with
    first = True
    for line in sys.stdin:
        request = json.loads(line)
        if first:
            started_with = request.get("state")
            first = False
        result = answer(request)
        sys.stdout.write("debug output\n" if result is None else json.dumps(result) + "\n")
        sys.stdout.flush()


main()
