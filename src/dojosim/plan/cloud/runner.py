"""One stream on one machine (and on its equal-power alternatives): work out each job's work,
its partition options and run times, set the arrival rate, simulate, summarize."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from ...errors import SpecError
from .jobs import DEFAULT_BATCH, Job
from .metrics import DEFAULT_INSTANCE, check_price, instance, summarize
from .partitions import Pool, make_pool
from .scheduler import Prepared, SimResult, simulate
from .timing import Timer, reference_peak

MAX_GRAINS = 1_000_000      # a machine this many grains big is a typo, not a cloud


@dataclass
class PoolRun:
    pool: Pool
    prepared: list
    sim: SimResult
    summary: dict
    timings: list
    sim_s: float = 0.0


def load_workloads(names, base_dir=None) -> dict:
    """name -> (Model, batch from its run file or None). A name is a zoo model or a run file."""
    from ...workload import build

    out = {}
    for name in sorted(set(names)):
        if name.endswith((".yaml", ".yml")):
            from pathlib import Path

            from ...run import load_run

            p = Path(name)
            if base_dir is not None and not p.is_absolute():
                p = Path(base_dir) / p
            run = load_run(p)
            out[name] = (run.model, run.strategy.global_batch)
        else:
            try:
                out[name] = (build(name), None)
            except SpecError as err:
                raise err.prefixed("jobs.workload") from None
    return out


def _batch(job: Job, run_batch) -> int:
    """The job's own batch, its run file's, or `DEFAULT_BATCH` — at least one sample per
    requested GPU, so that the GPUs it asked for can all run data-parallel."""
    return int(job.batch or run_batch or max(DEFAULT_BATCH, math.ceil(job.size - 1e-9)))


def job_work(jobs: list[Job], timer: Timer, workloads: dict) -> tuple[list, list, dict]:
    """(samples per job or None, batch per job, {index: why rejected})."""
    work, batches, rejected = [], [], {}
    refs: dict = {}
    for j in jobs:
        b = _batch(j, workloads[j.workload][1])
        batches.append(b)
        if j.samples is not None:
            work.append(j.samples)
        elif j.steps is not None:
            work.append(j.steps * b)
        else:
            rk = (j.workload, b, j.size)
            ref = refs.get(rk)
            if ref is None:
                ref = timer.reference(j.workload, b, j.size)
                if not timer.collecting:
                    refs[rk] = ref
            if not ref.ok:
                rejected[j.index] = f"{j.workload} at batch {b} does not fit on {math.ceil(j.size)} reference GPUs"
                work.append(None)
            else:
                work.append(j.duration * ref.samples_per_s)
    return work, batches, rejected


def options(pool: Pool, job: Job, batch: int, samples: float, timer: Timer, memo: dict | None = None):
    """(keys, run times, grains, timings) of the partitions ``job`` may run on in ``pool``."""
    sig = (job.workload, batch, job.size, job.size_max)
    hit = memo.get(sig) if memo is not None else None
    if hit is None:
        hit = _options(pool, job, batch, timer)
        if memo is not None and not timer.collecting:
            memo[sig] = hit
    keys, grains, tims = hit
    return keys, tuple(samples / t.samples_per_s for t in tims), grains, tims


def _options(pool: Pool, job: Job, batch: int, timer: Timer):
    peak = reference_peak()
    lo, hi = pool.grains_for(job.size * peak), pool.grains_for(job.size_max * peak)
    keys: list = []
    if hi == lo:
        keys = pool.shapes(lo)
    else:
        seen = set()
        g = lo
        while g <= min(hi, pool.units):
            for k in pool.shapes(g):
                if k not in seen:
                    seen.add(k)
                    keys.append(k)
            g = g + 1 if g < 16 else int(g * 1.25)   # sizes above 16 grains in 25% steps
    out_k, out_g, tims = [], [], []
    for k in keys:
        grains = pool.key_grains(k)
        if grains > pool.units:
            continue
        t = timer.time(job.workload, batch, pool.system_key(k), lambda k=k: pool.system_for(k))
        if not t.ok:
            continue
        out_k.append(k)
        out_g.append(grains)
        tims.append(t)
    return tuple(out_k), tuple(out_g), tims


def set_load(jobs: list[Job], pool: Pool, opts: list, load: float) -> list[Job]:
    """Arrivals rescaled so the offered load (grain-seconds asked per second over the pool's
    grains, each job on its first option) is ``load``."""
    if not math.isfinite(load) or load <= 0 or load > 100:
        raise SpecError("load", f"must be a number in (0, 100], got {load!r}")
    asked = [o[1][0] * o[2][0] for o in opts if o[0]]
    if not asked or len(jobs) < 2:
        return jobs
    mean_work = sum(asked) / len(asked)
    span = jobs[-1].arrival - jobs[0].arrival
    if span <= 0:
        return jobs
    gap = mean_work / (load * pool.units)            # seconds between arrivals wanted
    scale = gap * (len(jobs) - 1) / span
    return [replace(j, arrival=(j.arrival - jobs[0].arrival) * scale) for j in jobs]


def run_pool(jobs, pool, policy, timer, workloads, work, batches, rejected, *, load=None,
             snapshot_at=None, price=None, instance_name=DEFAULT_INSTANCE, gpu_bill=None, keep_cells=True):
    memo: dict = {}
    opts = [options(pool, j, batches[j.index], work[j.index], timer, memo) if work[j.index] is not None
            else ((), (), (), []) for j in jobs]
    if load is not None:
        jobs = set_load(jobs, pool, opts, load)
    if snapshot_at is None:     # the occupancy map: half-way through the arrivals
        snapshot_at = jobs[-1].arrival / 2
    rej = dict(rejected)
    prepared = []
    for j, (k, t, g, _) in zip(jobs, opts):
        if not k and j.index not in rej:
            rej[j.index] = "no partition of this machine fits it"
        prepared.append(Prepared(j.index, j.arrival, k, k, t, g))
    t0 = time.perf_counter()
    sim = simulate(prepared, pool, policy, snapshot_at=snapshot_at, keep_cells=keep_cells)
    sim_s = time.perf_counter() - t0
    sim.rejected = rej
    timings = [None] * len(jobs)
    for j, (k, _, _, tims) in zip(jobs, opts):
        key = sim.keys[j.index]
        if key is not None:
            timings[j.index] = tims[k.index(key)]
    summary = summarize(jobs, prepared, sim, pool, timings, work, price_per_grain_hour=price,
                        instance_name=instance_name, gpu_bill_usd=gpu_bill)
    return PoolRun(pool, prepared, sim, summary, timings, sim_s), jobs


def gpu_cloud_bill(jobs, work, batches, timer: Timer, instance_name: str) -> float:
    """What the stream costs on the GPU cloud instance: each job on whole instances covering its
    request, for the time `estimate` gives there, at the instance's hourly price."""
    from ...hardware import load_system, with_devices

    inst = instance(instance_name)
    base = load_system(inst["system"])
    bill = 0.0
    node = base.level_chips(0)
    memo: dict = {}
    for j in jobs:
        if work[j.index] is None:
            continue
        mk = (j.workload, batches[j.index], j.size)
        hit = memo.get(mk)
        if hit is None:
            gpus = max(1, math.ceil(j.size / inst["gpus"] - 1e-9)) * inst["gpus"]
            build_n = gpus if gpus <= node else math.ceil(gpus / node) * node
            t = timer.time(j.workload, batches[j.index], (inst["system"], build_n),
                           lambda n=build_n: with_devices(base, n))
            hit = (gpus, t)
            if not timer.collecting:
                memo[mk] = hit
        gpus, t = hit
        if t.ok:
            bill += gpus * work[j.index] / t.samples_per_s / 3600.0 * inst["usd_per_gpu_hour"]
    return bill


def run_cloud(jobs: list[Job], system: str = "dojo-exapod", count: int = 1, policy: str = "backfill", *,
              load: float | None = None, compare=(), scatter: bool = False, price: float | None = None,
              instance_name: str = DEFAULT_INSTANCE, snapshot_at: float | None = None, base_dir=None,
              search_fn=None, keep_cells: bool = True, workers: int | None = None) -> dict:
    """The stream on ``count`` copies of ``system`` and on each of ``compare`` at equal power."""
    from .scheduler import _parse_policy

    _parse_policy(policy)
    check_price(price)
    instance(instance_name)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise SpecError("count", f"must be a positive whole number, got {count!r}")
    if not jobs:
        raise SpecError("jobs", "the stream holds no jobs")
    t_start = time.perf_counter()
    primary = make_pool(system, count, scatter=scatter)
    if primary.units > MAX_GRAINS:
        raise SpecError("count", f"{primary.units:,} {primary.grain_name}s is more than {MAX_GRAINS:,}")
    workloads = load_workloads([j.workload for j in jobs], base_dir)
    timer = Timer({k: v[0] for k, v in workloads.items()}, search_fn)
    others = [make_pool(preset, power_w=primary.grain_power_w * primary.units, scatter=scatter)
              for preset in compare]
    # dry run: list every partition the stream needs, then search them all at once
    timer.collecting = True
    work, batches, rejected = job_work(jobs, timer, workloads)
    gpu_cloud_bill(jobs, work, batches, timer, instance_name)
    for pool in [primary, *others]:
        memo: dict = {}
        for j in jobs:
            options(pool, j, batches[j.index], 1.0, timer, memo)
    timer.collecting = False
    t_search = time.perf_counter()
    timer.run_pending(workers)
    search_s = time.perf_counter() - t_search
    work, batches, rejected = job_work(jobs, timer, workloads)
    bill = gpu_cloud_bill(jobs, work, batches, timer, instance_name)
    runs = []
    first, jobs_timed = run_pool(jobs, primary, policy, timer, workloads, work, batches, rejected, load=load,
                                 snapshot_at=snapshot_at, price=price, instance_name=instance_name,
                                 gpu_bill=bill, keep_cells=keep_cells)
    runs.append(first)
    for pool in others:
        run, _ = run_pool(jobs_timed, pool, policy, timer, workloads, work, batches, rejected,
                          snapshot_at=snapshot_at, instance_name=instance_name, gpu_bill=bill,
                          keep_cells=keep_cells)
        runs.append(run)
    wall = time.perf_counter() - t_start
    return {"jobs": jobs_timed, "runs": runs, "policy": policy, "load": load, "searches": timer.searches,
            "wall_s": wall, "search_s": search_s, "sim_s": sum(r.sim_s for r in runs), "work": work}
