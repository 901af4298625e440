"""Build-out benchmark: a 10-year quarterly plan with 20 system types and the best-mix
optimisation over it (issue 16: under 5 s on 2 cores).

    PYTHONPATH=src python benchmarks/bench_buildout.py [--workers 2]

Prints three wall times: the engine's rate table (one `fleet`-style search per preset and
workload, cached for the session), the quarterly evaluation, and the optimiser (one solve at
the plan's budget plus the frontier sweep). Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import os
import time

# 20 system types over the shipped presets: prices and islands vary where a buyer could choose.
TYPES = {
    "a100-40": {"preset": "a100-40gb-dgx", "limit": 500},
    "a100-80": {"preset": "a100-80gb-dgx", "limit": 500},
    "h100": {"preset": "h100-dgx", "limit": 2000},
    "h100-cheap": {"preset": "h100-dgx", "limit": 500, "price": {"value": "$300k", "low": "$250k", "high": "$375k",
                                                                  "reason": "a volume discount (assumed)"}},
    "h800": {"preset": "h800-dgx", "limit": 500},
    "h200": {"preset": "h200-dgx", "limit": 2000},
    "b200": {"preset": "b200-dgx", "limit": 2000},
    "b200-late": {"preset": "b200-dgx", "limit": 1000, "price": "$450k"},
    "gb200": {"preset": "gb200-nvl72", "limit": 200},
    "tpu": {"preset": "tpu-v4-pod", "limit": 2},
    "ai4": {"preset": "ai4", "limit": 20000},
    "d1": {"preset": "d1", "limit": 5000, "island": 25},
    "tile": {"preset": "dojo-tile", "limit": 500},
    "tile-25": {"preset": "dojo-tile", "limit": 500, "island": 25},
    "tray": {"preset": "dojo-tray", "limit": 100},
    "cabinet": {"preset": "dojo-cabinet", "limit": 50},
    "exapod": {"preset": "dojo-exapod", "limit": 5},
    "d2": {"preset": "dojo-d2-tile", "limit": 2000},
    "d2-dear": {"preset": "dojo-d2-tile", "limit": 1000, "price": "$150k"},
    "d2-big": {"preset": "dojo-d2-tile", "limit": 1000, "island": 1024},
}


def plan_spec(years: int = 10) -> dict:
    start = 2025 * 4
    quarters = [f"{(start + i) // 4}Q{(start + i) % 4 + 1}" for i in range(4 * years)]
    names = list(TYPES)
    timeline = []
    for i, q in enumerate(quarters):
        entry = {"quarter": q, "budget": "$2B", "add": [{"system": names[i % len(names)], "count": 10,
                                                         "site": "texas" if i % 2 else "buffalo"}]}
        if i == 20:
            entry["workloads"] = {"fsd": 0.4, "occupancy": 0.3, "auto-labeling": 0.3}
        timeline.append(entry)
    return {"name": "bench-10y", "workloads": {"fsd": 0.6, "occupancy": 0.2, "auto-labeling": 0.2},
            "systems": TYPES,
            "sites": [{"name": "texas", "pue": 1.2, "cap": {quarters[0]: "130 MW", quarters[6]: "500 MW"}},
                      {"name": "buffalo", "pue": 1.3, "cap": "60 MW"}],
            "timeline": timeline,
            "data": {"cars": {quarters[0]: 7e6, quarters[-1]: 20e6}},
            "optimize": {"systems": names, "sweep": [0.5, 1, 2]}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args()
    from dojosim.plan.buildout import check_plan
    from dojosim.plan.mix import optimize
    from dojosim.plan.quarterly import _rates, evaluate_plan

    t0 = time.perf_counter()
    plan = check_plan(plan_spec())
    t1 = time.perf_counter()
    rates = _rates(plan, args.workers)
    t2 = time.perf_counter()
    result = evaluate_plan(plan, rates=rates)
    t3 = time.perf_counter()
    best = optimize(plan, result, rates[0])
    t4 = time.perf_counter()
    presets = len({t.preset for t in plan.types.values()})
    n_var = len(best["quarters"]) * len(best["systems"]) * len(plan.sites)
    print(f"plan: {len(plan.quarters)} quarters, {len(plan.types)} system types ({presets} presets), "
          f"{len(plan.sites)} sites, {len(plan.workloads)} workloads; optimiser: {n_var:,} integer variables")
    print(f"read + check the plan:         {t1 - t0:7.3f} s")
    print(f"engine rate table (cold):      {t2 - t1:7.3f} s  ({args.workers} workers)")
    print(f"quarterly evaluation:          {t3 - t2:7.3f} s")
    print(f"best mix + {len(best['frontier']) - 1}-point sweep:       {t4 - t3:7.3f} s  "
          f"(optimal: {best['optimal']}, binds: {best['binding']['main']})")
    print(f"plan + optimiser (rates known): {t4 - t2 + t1 - t0:6.3f} s")
    print(f"total, cold:                   {t4 - t0:7.3f} s")


if __name__ == "__main__":
    main()
