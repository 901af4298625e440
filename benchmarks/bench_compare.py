"""How long `dojosim compare` with no arguments takes (the README's main job).

Runs the real command in a fresh process, as a user would (import, preset loading, the split
search on both systems, the table), and prints the wall time of each repetition and the best.

    python benchmarks/bench_compare.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("args", nargs="*", help="extra arguments for dojosim compare")
    a = ap.parse_args()
    exe = shutil.which("dojosim")
    cmd = [exe, "compare", *a.args] if exe else [sys.executable, "-m", "dojosim", "compare", *a.args]
    times = []
    for i in range(a.repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"dojosim compare failed ({proc.returncode}):\n{proc.stderr}")
        times.append(dt)
        print(f"run {i + 1}: {dt:.2f} s")
        if i == 0:
            print(proc.stdout)
    print(f"dojosim compare {' '.join(a.args)}: best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
          f"over {len(times)} runs on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
