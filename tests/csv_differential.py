#!/usr/bin/env python3
"""Differential test of taskmill's CSV reader and writer against Python's csv module.

Generates random CSV files (seeded, so every run checks the same files) from tables
whose cells are known, including quoted fields with commas, doubled quotes and line
breaks, CRLF / LF / lone CR line ends, blank lines, a byte order mark, non-ASCII text,
and files with or without a final line break. For each file it checks that

  1. `csv_tool dump --lines` (our reader, fed through a pipe with read sizes 1, 7 or 64K)
     yields exactly the generated cells, keeping undefined (unquoted empty, JSON null)
     apart from the empty string (quoted ""), and the right starting line per record;
  2. Python's csv.reader (strict) yields the same values and line numbers (Python has no
     undefined: it gives '' for both, and [] for a blank line, which we read as one
     undefined field);
  3. `csv_tool rewrite` (our writer, LF and CRLF) produces CSV that Python reads back
     to the same values, and CSV written by Python's csv.writer reads back through our
     reader to the same values;
  4. broken files (unterminated quote, quote inside an unquoted field, text after a
     closing quote) make csv_tool fail with the expected line and column, and Python
     (strict) fail too where it checks the same rule.

Usage: csv_differential.py --tool PATH/TO/csv_tool [--seed N] [--files N]
Prints one line per mismatch and ends with "N passed, N failed"; exits 1 on any failure.
"""

import argparse
import csv
import io
import json
import random
import subprocess
import sys

csv.field_size_limit(1 << 30)

# Pieces that cells are made of. '"', ',', CR and LF force quoting.
PIECES = ["a", "b", "Zq", "0", "42", " ", "\t", ",", '"', '""', "\n", "\r", "\r\n",
          "é", "日本", "😀", "\ufeff", "'", ";", "x y"]
LINE_ENDS = ["\n", "\r\n", "\r"]
BOM = "\ufeff"


def needs_quotes(value):
    return any(c in value for c in ',"\r\n')


def random_value(rng):
    if rng.random() < 0.15:
        return ""
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 5)))


def quote(value):
    return '"' + value.replace('"', '""') + '"'


def random_file(rng):
    """Returns (text, records, lines): records are lists of cells (None meaning
    undefined), lines the physical line each record starts on."""
    columns = rng.randint(1, 6)
    records = []
    for _ in range(rng.randint(0, 25)):
        if rng.random() < 0.08:
            records.append([None])  # a blank line
            continue
        width = columns if rng.random() < 0.9 else rng.randint(1, 7)  # some ragged rows
        row = []
        for _ in range(width):
            if rng.random() < 0.12:
                row.append(None)
            else:
                row.append(random_value(rng))
        if row == [""]:
            row = [None] if rng.random() < 0.5 else [""]
        records.append(row)

    out = []
    if rng.random() < 0.15:
        out.append(BOM)
    lines = []
    line_number = 1
    previous_end = None
    final_line_break = rng.random() < 0.7 or (records and records[-1] == [None])
    for index, row in enumerate(records):
        cells = []
        for column, value in enumerate(row):
            if value is None:
                cells.append("")
            elif value == "" or needs_quotes(value) or rng.random() < 0.3:
                cells.append(quote(value))
            elif index == 0 and column == 0 and value.startswith(BOM):
                cells.append(quote(value))  # else it would be read as a byte order mark
            else:
                cells.append(value)
        line = ",".join(cells)
        if previous_end == "\r" and line == "":
            # A blank line right after a lone CR must not start with LF (that is CRLF).
            end = rng.choice(["\r", "\r\n"])
        else:
            end = rng.choice(LINE_ENDS)
        if index == len(records) - 1 and not final_line_break:
            end = ""
        out.append(line + end)
        lines.append(line_number)
        line_number += count_breaks(line) + 1  # breaks inside quoted fields, then the end
        previous_end = end
    return "".join(out), records, lines


def count_breaks(text):
    """Physical line breaks in text: CRLF, lone CR and LF count one each."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def run_tool(tool, args, data):
    return subprocess.run([tool] + args, input=data, capture_output=True, check=False)


def python_parse(text):
    """Rows and start lines as Python's csv module (strict) sees them."""
    if text.startswith(BOM):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, lines = [], []
    last_line = 0
    for row in reader:
        rows.append(row if row else [""])  # Python gives [] for a blank line
        lines.append(last_line + 1)
        last_line = reader.line_num
    return rows, lines


def values(records):
    return [["" if cell is None else cell for cell in row] for row in records]


class Checker:
    def __init__(self, tool, rng):
        self.tool = tool
        self.rng = rng  # picks read sizes and line ends; seeded, so runs repeat
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, case):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"MISMATCH {what}: {case!r}"[:2000])

    def valid_file(self, text, records, lines):
        data = text.encode("utf-8")
        for read_size in (self.rng.choice([1, 7, 65536]),):
            result = run_tool(self.tool, ["dump", "--lines", "--read-size", str(read_size)], data)
            if result.returncode != 0:
                self.check(False, f"csv_tool failed ({result.stderr.decode()!r})", text)
                continue
            ours = json.loads(result.stdout)
            self.check([r["fields"] for r in ours] == records,
                       f"reader cells (read size {read_size}): got {ours}", text)
            self.check([r["line"] for r in ours] == lines,
                       f"reader lines (read size {read_size}): got {[r['line'] for r in ours]}, "
                       f"want {lines}", text)

        try:
            py_rows, py_lines = python_parse(text)
            self.check(py_rows == values(records), f"python cells: got {py_rows}", text)
            self.check(py_lines == lines, f"python lines: got {py_lines}, want {lines}", text)
        except csv.Error as error:
            self.check(False, f"python rejected a valid file ({error})", text)

        for flags in (self.rng.choice([[], ["--crlf"]]),):
            result = run_tool(self.tool, ["rewrite"] + flags, data)
            if result.returncode != 0:
                self.check(False, f"csv_tool rewrite failed ({result.stderr.decode()!r})", text)
                continue
            rewritten = result.stdout.decode("utf-8")
            self.check(python_parse(rewritten)[0] == values(records),
                       f"python reading our writer's output {rewritten!r}", text)

        # Python's writer quotes a field holding CR only when CR is in its line
        # terminator, and does not quote a leading byte order mark, which we skip.
        if not (records and records[0] and (records[0][0] or "").startswith(BOM)):
            buffer = io.StringIO(newline="")
            csv.writer(buffer, lineterminator="\r\n").writerows(values(records))
            result = run_tool(self.tool, ["dump"], buffer.getvalue().encode("utf-8"))
            ok = result.returncode == 0 and values(json.loads(result.stdout)) == values(records)
            self.check(ok, f"our reader on Python's writer output {buffer.getvalue()!r}", text)

    def broken_file(self, text, suffix, error_pattern, python_rejects):
        broken = text + suffix
        quote_at = len(broken) - len(suffix) + suffix.index('"')
        body_start = 1 if broken.startswith(BOM) else 0
        # Where the error is: the opening quote, the stray quote, or the byte after
        # the closing quote.
        if error_pattern.startswith("unexpected"):
            at = len(broken) - len(suffix) + suffix.index('"', suffix.index('"') + 1) + 1
        else:
            at = quote_at
        before = broken[body_start:at]
        line = count_breaks(before) + 1
        line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
        column = len(before) - line_start + 1
        want = f"line {line}: " + error_pattern.format(column=column)
        result = run_tool(self.tool, ["dump"], broken.encode("utf-8"))
        got = result.stderr.decode("utf-8").strip()
        self.check(result.returncode == 1 and got.startswith("csv_tool: " + want),
                   f"error: got {got!r}, want {want!r}", broken)
        if python_rejects:
            try:
                python_parse(broken)
                self.check(False, "python (strict) accepted a broken file", broken)
            except csv.Error:
                self.check(True, "", broken)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True, help="path to the csv_tool binary")
    parser.add_argument("--seed", type=int, default=4180)
    parser.add_argument("--files", type=int, default=250)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    checker = Checker(args.tool, random.Random(args.seed + 1))
    for _ in range(args.files):
        text, records, lines = random_file(rng)
        checker.valid_file(text, records, lines)
        kind = rng.randrange(3)
        if kind == 0:
            checker.broken_file(text, ',"ab\ncd', "unterminated quoted field starting at column "
                                "{column}", python_rejects=True)
        elif kind == 1:
            checker.broken_file(text, '\nab"c\n', "quote in unquoted field at column {column}",
                                python_rejects=False)  # Python takes the quote literally
        else:
            checker.broken_file(text, '\n"ab"x,1\n', "unexpected 'x' after closing quote at "
                                "column {column}", python_rejects=True)

    print(f"{checker.passed} passed, {checker.failed} failed")
    return 1 if checker.failed else 0


if __name__ == "__main__":
    sys.exit(main())
