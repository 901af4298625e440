"""Cloud scheduler speed: 100,000 synthetic jobs on 10 Dojo ExaPODs, best-fit with EASY
backfilling, at 90% offered load. Prints the wall time split into the split searches (one per
workload x partition shape, spread over the worker processes) and the simulation itself.

    python benchmarks/bench_cloud.py [--jobs 100000] [--count 10] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import time

from dojosim.plan.cloud import run_cloud, synthetic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--policy", default="backfill")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t0 = time.perf_counter()
    jobs = synthetic(a.jobs, a.seed)
    res = run_cloud(jobs, "dojo-exapod", a.count, a.policy, load=0.9, workers=a.workers, keep_cells=False)
    wall = time.perf_counter() - t0
    cpu = time.process_time()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    kid_cpu = kids.ru_utime + kids.ru_stime
    s = res["runs"][0].summary
    print(f"{a.jobs:,} jobs on {a.count} ExaPODs ({s['grains']:,} tiles), policy {a.policy}, seed {a.seed}")
    print(f"  wall {wall:.1f} s: searches {res['search_s']:.1f} s ({res['searches']} partitions), "
          f"simulation {res['sim_s']:.1f} s ({s['passes']:,} scheduling passes)")
    # On a shared machine the wall time includes other users' work; CPU seconds do not. The main
    # process waits while the search workers run, so on an idle machine with --workers cores the
    # wall time would be about main CPU + worker CPU / workers.
    print(f"  CPU: main process {cpu:.1f} s, search workers {kid_cpu:.1f} s -> about "
          f"{cpu + kid_cpu / a.workers:.1f} s wall on {a.workers} idle cores; "
          f"load average now {os.getloadavg()[0]:.1f}")
    print(f"  utilization {s['utilization']:.1%}, fragmentation {s['fragmentation']:.2%}, "
          f"held by policy {s['held_by_policy']:.1%}, "
          f"wait p50 {s['wait_p50_s']:.0f} s, p99 {s['wait_p99_s']:.0f} s, {s['jobs_per_day']:,.0f} jobs/day")


if __name__ == "__main__":
    main()
