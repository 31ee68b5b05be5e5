#!/usr/bin/env python3
"""What two CPUs give the fault path on this machine: `s2pt bench --strategy populate_fault`
(1 GiB of 4K pages, FWB and range) run alone, then as two processes at once (nothing shared but
the machine), then as one process with two threads (sharing the table, the page pool and the
address space). Prints the fastest of ROUNDS for each, in ns a fault.

usage: fault_scaling.py BINARY ROUNDS
"""
import json
import os
import subprocess
import sys
import tempfile

ARGS = ["bench", "--vm-size", "1G", "--backing", "4K", "--strategy", "populate_fault",
        "--fwb", "on", "--tlbi-range", "on", "--repeat", "3"]


def ns_a_fault(path):
    with open(path) as f:
        row = json.load(f)[0]
    return row["host_ns"] / row["leaves"]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, rounds = sys.argv[1], int(sys.argv[2])
    alone, pair, threads = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = [os.path.join(tmp, f"{i}.json") for i in range(3)]
        for _ in range(rounds):
            subprocess.run([binary, *ARGS, "--json", out[0]], check=True,
                           stdout=subprocess.DEVNULL)
            alone.append(ns_a_fault(out[0]))
            both = [subprocess.Popen([binary, *ARGS, "--json", out[i]], stdout=subprocess.DEVNULL)
                    for i in (1, 2)]
            if any(p.wait() != 0 for p in both):
                sys.exit("a benchmark process failed")
            pair.append(max(ns_a_fault(out[1]), ns_a_fault(out[2])))
            subprocess.run([binary, *ARGS, "--threads", "2", "--json", out[0]], check=True,
                           stdout=subprocess.DEVNULL)
            threads.append(ns_a_fault(out[0]))
    one, two, shared = min(alone), min(pair), min(threads)
    print(f"one process, one thread:      {one:7.2f} ns a fault")
    print(f"two processes at once:        {two:7.2f} ns a fault each ({2 * one / two:.2f}x one)")
    print(f"one process, two threads:     {shared:7.2f} ns a fault ({one / shared:.2f}x one)")


if __name__ == "__main__":
    main()
