#!/usr/bin/env python3
"""Generates the CSV files of the bulk examples and benchmarks, deterministically.

  make_csv.py numbers ROWS [--seed N]   numbers.import input with some bad rows
                                        (examples/data/numbers-10k.csv is ROWS=10000)
  make_csv.py bench ROWS [--seed N]     5 columns (~55 bytes a row) for the throughput
                                        benchmark: id,name,email,status,amount
  make_csv.py bench-bytes BYTES         the same rows, up to about BYTES bytes

Output goes to stdout. Only the standard library is used.
"""

import argparse
import random
import sys

CARRIERS = ["acme", "globex", "initech", "umbrella", ""]
STATES = ["available", "reserved", "in_service", "port_in", ""]
COUNTRY_PREFIXES = ["1415", "1212", "4420", "4930", "3314", "3491", "6128"]


def numbers(rows, seed, out):
    """numbers.import rows. Every row passes upload validation (an empty mandatory
    cell would reject the whole file); about 3% fail at execution: a bad e164 (no
    '+', too short), a bad account_id (not 32 hex digits), an unknown state, or a
    number given twice (the second import of it fails)."""
    rng = random.Random(seed)
    out.write("e164,account_id,carrier,state\n")
    seen = []
    for i in range(rows):
        e164 = "+" + rng.choice(COUNTRY_PREFIXES) + "%07d" % (1000000 + i * 7 % 9000000)
        account = "%032x" % rng.getrandbits(128)
        carrier = rng.choice(CARRIERS)
        state = rng.choice(STATES)
        roll = rng.random()
        if roll < 0.010:
            e164 = e164[1:] if rng.random() < 0.5 else e164[:6]
        elif roll < 0.017:
            account = account[:31] + "z"
        elif roll < 0.024:
            state = "dormant"
        elif roll < 0.030 and seen:
            e164 = rng.choice(seen)
        if rng.random() < 0.2:
            account = ""  # optional: some numbers belong to no account yet
        seen.append(e164)
        out.write("%s,%s,%s,%s\n" % (e164, account, carrier, state))


def bench_row(i, rng):
    return "%d,User %d Smith,user%d@example.com,%s,%d.%02d\n" % (
        100000 + i, i % 997, i, "active" if i % 10 else "disabled", rng.randrange(1000), i % 100)


def bench(rows, seed, out):
    rng = random.Random(seed)
    out.write("id,name,email,status,amount\n")
    for start in range(0, rows, 10000):
        out.write("".join(bench_row(i, rng) for i in range(start, min(rows, start + 10000))))


def bench_bytes(size, seed, out):
    rng = random.Random(seed)
    header = "id,name,email,status,amount\n"
    out.write(header)
    written = len(header)
    i = 0
    while written < size:
        block = "".join(bench_row(j, rng) for j in range(i, i + 10000))
        out.write(block)
        written += len(block)
        i += 10000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["numbers", "bench", "bench-bytes"])
    parser.add_argument("count", type=int, help="rows (or bytes for bench-bytes)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out = sys.stdout
    if args.kind == "numbers":
        numbers(args.count, args.seed, out)
    elif args.kind == "bench":
        bench(args.count, args.seed, out)
    else:
        bench_bytes(args.count, args.seed, out)


if __name__ == "__main__":
    main()
