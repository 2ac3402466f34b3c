#!/usr/bin/env python3
"""A taskmill bulk function in Python, speaking the JSON-lines protocol.

taskmill starts this process once per attempt of a run and writes one JSON request
per line to its stdin; the process answers each with one JSON line on stdout, in
order (docs/bulk.md, "JSON-lines protocol"). Configured in taskmill.yaml as:

    functions:
      pynumbers.import:
        description: Checks phone numbers and tags each with its country
        input: csv
        mandatory: [e164]
        optional: [account_id, carrier, state]
        output_header: [country]
        verify: {e164: '\\+[0-9]{7,15}'}
        process: ["python3", "examples/bulk/import.py"]
        protocol: jsonl

What it does per row: finds the number's country from its calling code, fills in a
missing number state ("available"), rejects unknown states and countries, and
lower-cases the carrier. It counts the numbers per country as its state, which
taskmill saves with its checkpoints and hands back after a restart.

Only the standard library is used. Logs go to stderr (taskmill keeps them as the
attempt's output); stdout carries answers only.
"""

import json
import os
import sys

# Calling code -> country, for the codes the example data uses (longest code first
# wins, so +1 and +12 could coexist).
COUNTRIES = {
    "1": "US",
    "31": "NL",
    "33": "FR",
    "34": "ES",
    "39": "IT",
    "44": "GB",
    "46": "SE",
    "49": "DE",
    "61": "AU",
    "81": "JP",
}
LONGEST_CODE = max(len(code) for code in COUNTRIES)
STATES = ("available", "reserved", "in_service", "port_in", "port_out")


class NumbersImport:
    """The function: one method per kind of request."""

    def __init__(self, state):
        # `state` is None for a new run, else what this process (or an earlier one)
        # returned last: per-country counts.
        self.per_country = dict(state or {})
        self.rows = 0

    def row(self, row):
        e164 = row["e164"]  # mandatory: always a non-empty string
        country = None
        for length in range(LONGEST_CODE, 0, -1):
            country = COUNTRIES.get(e164[1:1 + length])
            if country:
                break
        if not country:
            return {"error": "no known country for " + e164}
        state = row.get("state")  # None when the column is absent or the cell empty
        if state and state not in STATES:
            return {"error": "unknown state '%s'; expected one of %s" % (state, ", ".join(STATES))}
        merge = {"country": country}
        if not state:
            merge["state"] = "available"
        carrier = row.get("carrier")
        if carrier:
            merge["carrier"] = carrier.strip().lower()
        self.per_country[country] = self.per_country.get(country, 0) + 1
        self.rows += 1
        answer = {"merge": merge}
        # Returning state costs a little per row; every 1000 rows is enough for
        # taskmill's checkpoints (which save every progress_every rows anyway).
        if self.rows % 1000 == 0:
            answer["state"] = self.per_country
        return answer

    def finish(self, progress):
        print("imported %d numbers: %s" % (progress["succeeded"], json.dumps(self.per_country, sort_keys=True)),
              file=sys.stderr)
        return {"ok": True, "state": self.per_country}


def serve(make_function):
    """Reads requests, answers them in order. Reusable as is for other functions.

    Requests arrive in batches (taskmill sends rows ahead of their answers), so this
    reads whatever is available, answers every complete line, and writes the answers
    in one go. Writing only when input has run out is what keeps the two sides from
    waiting on each other.
    """
    function = None
    pending = b""
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return  # taskmill closed our stdin: the attempt is over
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        answers = []
        for line in lines:
            request = json.loads(line)
            if function is None:
                # The first request carries the state to start from.
                function = make_function(request.get("state"))
            if "finish" in request:
                answer = function.finish(request["progress"])
            else:
                answer = function.row(request["row"])
            answers.append(json.dumps(answer))
        if answers:
            data = ("\n".join(answers) + "\n").encode()
            while data:
                written = os.write(1, data)
                data = data[written:]


if __name__ == "__main__":
    serve(NumbersImport)
