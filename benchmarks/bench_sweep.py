"""Sweep benchmark and kill -9 demonstration.

Runs a sweep uninterrupted, then runs it again in a subprocess, kills that with SIGKILL part-way,
resumes it, and checks that the resumed store holds exactly the rows of the uninterrupted run
(same keys, same values, none repeated). Prints points/s and the row counts.

    python benchmarks/bench_sweep.py [SWEEP.yaml] [--workers N] [--kill-after S]
"""
from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sweep", nargs="?", default=str(ROOT / "examples/sweeps/dojo-tile-large.yaml"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kill-after", type=float, default=None,
                    help="seconds before SIGKILL (default: half the uninterrupted run)")
    args = ap.parse_args()

    import pandas as pd

    from dojosim.plan.sweep import load_results, run_sweep

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        t0 = time.perf_counter()
        clean = run_sweep(args.sweep, tmp / "clean", workers=args.workers)
        wall = time.perf_counter() - t0
        print(f"uninterrupted: {clean['points']:,} points in {wall:.2f} s with {args.workers} workers "
              f"= {clean['points'] / wall:,.0f} points/s ({clean['errors']} with errors)")

        kill_after = args.kill_after if args.kill_after is not None else wall / 2
        cmd = [sys.executable, "-m", "dojosim", "sweep", args.sweep, "--out", str(tmp / "killed"),
               "--workers", str(args.workers), "--json"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
        time.sleep(kill_after)
        # The whole process group: the sweep and its pool workers, as a crash would take them.
        import os

        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        before = len(load_results(tmp / "killed"))
        print(f"killed with SIGKILL after {kill_after:.2f} s: {before:,} rows on disk")

        t0 = time.perf_counter()
        resumed = run_sweep(args.sweep, tmp / "killed", workers=args.workers, resume=True)
        print(f"resumed: skipped {resumed['skipped']:,}, wrote {resumed['written']:,} in "
              f"{time.perf_counter() - t0:.2f} s")

        a = load_results(tmp / "clean")
        b = load_results(tmp / "killed")
        cols = sorted(a.columns)
        a = a[cols].sort_values("key").reset_index(drop=True)
        b = b[cols].sort_values("key").reset_index(drop=True)
        same = len(a) == len(b) and b["key"].is_unique
        if same:
            try:
                pd.testing.assert_frame_equal(a, b, check_dtype=False)
            except AssertionError as exc:
                same = False
                print(exc)
        print(f"rows: uninterrupted {len(a):,}, killed+resumed {len(b):,}, unique keys {b['key'].nunique():,}; "
              f"identical: {same}")
        if not same:
            sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
