#!/usr/bin/env python3
"""Event fan-out benchmark: N clients on GET /api/v1/events while M runs complete.

Every client must receive every run.finished event (no token: everything is visible).
Prints the time until the last client saw the last event and the server's peak RSS
(VmHWM of --pid). Standard library only (asyncio), so it runs on a fresh machine.
"""
import argparse
import asyncio
import json
import time
import urllib.request


async def client(host, port, want, seen_all, counts, index, ready):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /api/v1/events?types=run.finished HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    ready.set()
    seen = 0
    buffer = b""
    while seen < want:
        chunk = await reader.read(65536)
        if not chunk:
            break
        buffer += chunk
        seen += buffer.count(b"event: run.finished\n")
        buffer = buffer[buffer.rfind(b"\n") + 1:]
    counts[index] = seen
    writer.close()
    seen_all.append(time.monotonic())


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="http://127.0.0.1:8080")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    host, port = args.server.split("//")[1].split(":")
    counts = [0] * args.clients
    done = []
    readies = [asyncio.Event() for _ in range(args.clients)]
    tasks = [asyncio.create_task(client(host, int(port), args.runs, done, counts, i, readies[i]))
             for i in range(args.clients)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    start = time.monotonic()
    loop = asyncio.get_running_loop()
    for first in range(0, args.runs, 1000):
        batch = {"runs": [{"function": "demo.echo", "args": [i]}
                          for i in range(first, min(first + 1000, args.runs))]}
        await loop.run_in_executor(None, post, args.server + "/api/v1/runs:batch", batch)
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    elapsed = max(done) - start
    complete = sum(1 for c in counts if c >= args.runs)
    print(f"clients with every event: {complete} of {args.clients}; "
          f"{args.runs} runs finished and delivered to all in {elapsed:.2f} s")
    if args.pid:
        with open(f"/proc/{args.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM"):
                    print("server peak RSS:", line.split(":")[1].strip())


if __name__ == "__main__":
    asyncio.run(main())
