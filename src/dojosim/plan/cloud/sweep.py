"""Many seeds and policies of one cloud stream through the sweep machinery (`plan.sweep`), so they
run on the local process pool or on Ray and land in the same resumable Parquet store.

The sweep's ``base`` holds the stream (``base.cloud``: synthetic size, system, count, load, …);
grid parameters ``cloud.seed`` and ``cloud.policy`` vary it; `evaluate` is passed to
`run_sweep` as its evaluator.
"""
from __future__ import annotations

from ...errors import SpecError

ROW_KEYS = ("utilization", "fragmentation", "wait_p50_s", "wait_p99_s", "jobs_per_day",
            "goodput_share_of_peak", "cost_usd_per_grain_hour", "completed", "rejected", "mean_queue")


def sweep_spec(cloud: dict, seeds: list[int], policies: list[str]) -> dict:
    """The sweep file (as a dict) for ``cloud`` options over seeds x policies."""
    return {"name": "cloud", "base": {"cloud": dict(cloud)},
            "grid": {"cloud.seed": list(seeds), "cloud.policy": list(policies)}}


def evaluate(params: dict, spec: dict) -> dict:
    """One (seed, policy) point: the stream's metrics on each system, flattened into a row."""
    from .jobs import synthetic
    from .runner import run_cloud

    opts = dict((spec.get("base") or {}).get("cloud") or {})
    for k, v in params.items():
        section, _, name = k.partition(".")
        if section != "cloud":
            raise SpecError(k, "a cloud sweep varies cloud.seed and cloud.policy")
        opts[name] = v
    n = opts.get("synthetic")
    if not n:
        raise SpecError("cloud.synthetic", "a cloud sweep draws synthetic streams; give their size")
    jobs = synthetic(int(n), int(opts.get("seed", 0)), fixed_gpus=opts.get("fixed_gpus"),
                     elastic=float(opts.get("elastic", 0.0)))
    res = run_cloud(jobs, opts.get("system", "dojo-exapod"), int(opts.get("count", 1)),
                    opts.get("policy", "backfill"), load=opts.get("load"),
                    compare=tuple(opts.get("compare") or ()), scatter=bool(opts.get("scatter", False)),
                    keep_cells=False, workers=1)   # the sweep already runs points in parallel
    row = {}
    for run in res["runs"]:
        s = run.summary
        tag = s["kind"]
        for k in ROW_KEYS:
            row[f"{tag}.{k}"] = s.get(k)
        row[f"{tag}.break_even_usd_per_grain_hour"] = (s.get("gpu_cloud") or {}).get("break_even_usd_per_grain_hour")
    return row
