#!/usr/bin/env python3
"""Bulk CSV runs against Python's csv module, side by side, and the other bulk targets.

  compare.py --bench PATH/taskmill_bulk_bench [--rows 1000000] [--repeat 5]
             [--memory-gb 1] [--python-rows 200000] [--sync full] [--workdir DIR]

1. Throughput: a ROWS-row, 5-column CSV (make_csv.py bench) goes through a no-op C++
   bulk function with verifiers on two columns, end to end (taskmill_bulk_bench); the
   same file is read with csv.reader and written with csv.writer by this Python.
   Targets: >= 1,000,000 rows/s end to end, and >= 5x Python.
2. Memory (--memory-gb, 0 to skip): a file of that size through the same function;
   target: peak RSS <= 64 MB.
3. Co-process (--python-rows, 0 to skip): examples/bulk/import.py over a numbers
   file (make_csv.py numbers); target: >= 50,000 rows/s.

Every figure is the median of --repeat runs (1 run for the memory test). Exit status 1
when a target is missed. Files are generated in --workdir (default: a temporary
directory) and removed afterwards.
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def generate(kind, count, path):
    with open(path, "w") as out:
        subprocess.run([sys.executable, os.path.join(HERE, "make_csv.py"), kind, str(count)],
                       stdout=out, check=True)


def python_csv_seconds(path, repeat, workdir):
    """csv.reader -> csv.writer over the whole file: what taskmill's run does without
    the verifying, the function call and the storage."""
    times = []
    out_path = os.path.join(workdir, "python-out.csv")
    for _ in range(repeat):
        start = time.perf_counter()
        with open(path, newline="") as src, open(out_path, "w", newline="") as dst:
            writer = csv.writer(dst)
            for row in csv.reader(src):
                writer.writerow(row)
        times.append(time.perf_counter() - start)
    os.remove(out_path)
    return statistics.median(times)


def bulk_bench(bench, path, function, repeat, sync, extra=()):
    command = [bench, "--input", path, "--function", function, "--repeat", str(repeat),
               "--sync", sync, "--json", *extra]
    done = subprocess.run(command, stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(done.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", required=True, help="path of the taskmill_bulk_bench binary")
    parser.add_argument("--rows", type=int, default=1000000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--memory-gb", type=float, default=1.0)
    parser.add_argument("--python-rows", type=int, default=200000)
    parser.add_argument("--sync", default="full", choices=["full", "normal"])
    parser.add_argument("--workdir")
    args = parser.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix="taskmill-bulk-compare-")
    os.makedirs(workdir, exist_ok=True)
    missed = []
    try:
        print("python %s, csv module; taskmill %s" % (sys.version.split()[0], args.bench))
        path = os.path.join(workdir, "bench.csv")
        generate("bench", args.rows, path)
        size_mb = os.path.getsize(path) / 1e6
        taskmill = bulk_bench(args.bench, path, "noop", args.repeat, args.sync)
        python_s = python_csv_seconds(path, args.repeat, workdir)
        rows = taskmill["rows"]
        print("\n1. %d rows x 5 columns (%.0f MB), medians of %d" % (rows, size_mb, args.repeat))
        print("   %-48s %8.3f s %12.0f rows/s" % ("python csv.reader -> csv.writer", python_s, rows / python_s))
        print("   %-48s %8.3f s %12.0f rows/s" % ("taskmill upload (stage, validate, commit)", taskmill["upload_s"], rows / taskmill["upload_s"]))
        print("   %-48s %8.3f s %12.0f rows/s" % ("taskmill run (read, verify, call, write, ckpt)", taskmill["run_s"], taskmill["run_rows_per_s"]))
        print("   %-48s %8.3f s %12.0f rows/s" % ("taskmill end to end (upload + run)", taskmill["total_s"], taskmill["total_rows_per_s"]))
        run_ratio = python_s / taskmill["run_s"]
        total_ratio = python_s / taskmill["total_s"]
        print("   taskmill run vs python: %.1fx; end to end vs python: %.1fx" % (run_ratio, total_ratio))
        if taskmill["total_rows_per_s"] < 1e6:
            missed.append("end to end below 1,000,000 rows/s")
        if run_ratio < 5:
            missed.append("run less than 5x python")
        os.remove(path)

        if args.memory_gb > 0:
            path = os.path.join(workdir, "big.csv")
            with open(path, "w") as out:
                subprocess.run([sys.executable, os.path.join(HERE, "make_csv.py"), "bench-bytes",
                                str(int(args.memory_gb * (1 << 30)))], stdout=out, check=True)
            big = bulk_bench(args.bench, path, "noop", 1, args.sync)
            print("\n2. %.2f GB input (%d rows): peak RSS %.1f MB; end to end %.1f s (%.0f rows/s)" % (
                os.path.getsize(path) / 1e9, big["rows"], big["peak_rss_mb"], big["total_s"], big["total_rows_per_s"]))
            if big["peak_rss_mb"] > 64:
                missed.append("peak RSS above 64 MB")
            os.remove(path)

        if args.python_rows > 0:
            path = os.path.join(workdir, "numbers.csv")
            generate("numbers", args.python_rows, path)
            interpreter = subprocess.run([sys.executable, "-c", "import sys; print(sys.executable)"],
                                         stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
            py = bulk_bench(args.bench, path, "python", args.repeat, args.sync, ("--python", interpreter))
            print("\n3. co-process examples/bulk/import.py, %d rows, medians of %d: run %.3f s, %.0f rows/s" % (
                py["rows"], args.repeat, py["run_s"], py["run_rows_per_s"]))
            if py["run_rows_per_s"] < 50000:
                missed.append("co-process below 50,000 rows/s")
            os.remove(path)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    print("\n" + ("all targets met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
