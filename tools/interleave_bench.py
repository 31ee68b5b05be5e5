#!/usr/bin/env python3
"""Runs `s2pt bench` from several binaries in turn, ROUNDS times, and prints for each row the
fastest host time (per leaf for the populate rows) and the fastest reclaim time, in ns.

This machine type's timings drift by up to 2x between runs, so old and new binaries are compared
interleaved, fastest of several rounds (docs/performance.md).

usage: interleave_bench.py ROUNDS "BENCH ARGS" BINARY...
"""
import collections
import json
import os
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rounds, args, binaries = int(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
    best = collections.defaultdict(lambda: [float("inf"), float("inf")])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        for _ in range(rounds):
            for binary in binaries:
                subprocess.run([binary, "bench", *args, "--json", out], check=True,
                               stdout=subprocess.DEVNULL)
                with open(out) as f:
                    for row in json.load(f):
                        key = (row["strategy"], row["vm_bytes"], row.get("threads", 1),
                               row["fwb"], binary)
                        host = row["host_ns"] / (row.get("leaves") or 1)
                        best[key][0] = min(best[key][0], host)
                        best[key][1] = min(best[key][1], row.get("reclaim_ns") or 0)
    for (strategy, vm, threads, fwb, binary), (host, reclaim) in sorted(best.items()):
        print(f"{strategy:15} {vm >> 20:7} MiB threads {threads} fwb {str(fwb):5} "
              f"host {host:12.2f} reclaim {reclaim:12.1f}  {binary}")


if __name__ == "__main__":
    main()
