"""What a simulated stream shows: utilization, fragmentation, waits, throughput of jobs, goodput,
and money (revenue, cost, break-even price against a GPU cloud instance).

Time averages are taken over the *measured window*: from the end of a warm-up (the first
`WARMUP_FRACTION` of the arrival span, while the empty machine fills) to the last arrival (after
it the queue only drains). A cloud with a steady stream sees neither.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ...errors import SpecError

# Size classes of the wait-time table, by requested reference GPUs (upper bounds, inclusive).
SIZE_CLASSES = ((8, "1-8 GPUs"), (64, "9-64 GPUs"), (512, "65-512 GPUs"), (math.inf, ">512 GPUs"))
# An idle grain draws this share of its full power (clocks gated, fabric and cooling still on).
# Assumed, range 0.1-0.4: accelerators idle at roughly 10-30% of TDP, cooling and hosts add more.
IDLE_POWER_FRACTION = 0.25
DEFAULT_INSTANCE = "p5.48xlarge"
# Share of the arrival span left out of time averages while the empty machine fills (the usual
# discard of a simulation's transient; 5-20% is common).
WARMUP_FRACTION = 0.1


@lru_cache(maxsize=1)
def instances() -> dict:
    """GPU cloud instance prices (instances.yaml), each with its source and assumed mark."""
    from importlib import resources

    from ...yamlfile import parse_yaml

    text = (resources.files("dojosim.plan.cloud") / "instances.yaml").read_text(encoding="utf-8")
    return parse_yaml(text, "instances.yaml")


def instance(name: str) -> dict:
    table = instances()
    if name not in table:
        from ...errors import UnknownNameError

        raise UnknownNameError("instance", name, table, what="instance")
    rec = table[name]
    price = rec["usd_per_hour"]
    value = float(price["value"])
    low, high = (float(x) for x in price.get("range") or (value, value))
    return {"name": name, "description": rec["description"], "gpus": int(rec["gpus"]), "system": rec["system"],
            "usd_per_hour": value, "usd_per_hour_range": (low, high), "usd_per_gpu_hour": value / int(rec["gpus"]),
            "source": price.get("source", ""), "assumed": bool(price.get("assumed", False))}


def time_average(times: list, values: list, t0: float, t1: float) -> float:
    """The step function ``values`` (each holding from its time to the next) averaged on [t0, t1]."""
    if t1 <= t0 or not times:
        return 0.0
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    nxt = np.append(t[1:], t1)
    lo = np.clip(t, t0, t1)
    hi = np.clip(nxt, t0, t1)
    return float(np.sum(v * (hi - lo)) / (t1 - t0))


def size_class(gpus: float) -> str:
    return next(name for hi, name in SIZE_CLASSES if gpus <= hi)


def _pct(a, q) -> float | None:
    return float(np.percentile(a, q)) if len(a) else None


def summarize(jobs, prepared, sim, pool, timings, work, *, price_per_grain_hour: float | None,
              instance_name: str = DEFAULT_INSTANCE, gpu_bill_usd: float | None = None) -> dict:
    """The metrics of one simulated stream on one pool.

    ``timings[i]`` is the job's `Timing` on its partition (or None), ``work[i]`` its samples,
    ``gpu_bill_usd`` what the same stream costs on the GPU cloud instance."""
    from ..search import AMORTIZATION_S, ELECTRICITY_USD_PER_J

    done = [i for i in range(len(jobs)) if sim.start[i] is not None]
    arr = np.array([jobs[i].arrival for i in done])
    start = np.array([sim.start[i] for i in done])
    end = np.array([sim.end[i] for i in done])
    waits = start - arr if done else np.array([])
    t0 = min((j.arrival for j in jobs), default=0.0)
    t_last = max((j.arrival for j in jobs), default=0.0)
    makespan = float(end.max()) - t0 if done else 0.0
    window_end = t_last if t_last > t0 else t0 + makespan
    w0 = t0 + WARMUP_FRACTION * (window_end - t0)
    units = pool.units
    util = time_average(sim.times, [b / units for b in sim.busy], w0, window_end)
    util_all = time_average(sim.times, [b / units for b in sim.busy], t0, t0 + makespan)
    frag = time_average(sim.times, [f / units for f in sim.frag], w0, window_end)
    held = time_average(sim.times, [h / units for h in sim.held], w0, window_end)
    queue = time_average(sim.times, sim.queue, w0, window_end)
    grains = {i: pool.key_grains(sim.keys[i]) for i in done}
    grain_hours = sum(grains[i] * (sim.end[i] - sim.start[i]) for i in done) / 3600.0
    # energy: busy partitions at their estimated power, idle grains at IDLE_POWER_FRACTION
    per_grain_w = pool_power_w(pool) / units
    busy_j = sum(timings[i].power_w * (sim.end[i] - sim.start[i]) for i in done)
    idle_grain_s = max(0.0, units * makespan - grain_hours * 3600.0)
    energy_j = busy_j + idle_grain_s * per_grain_w * IDLE_POWER_FRACTION
    capex = pool_price_usd(pool)
    cost = capex * makespan / AMORTIZATION_S + energy_j * ELECTRICITY_USD_PER_J
    useful_flops = sum(work[i] * timings[i].flops_per_sample for i in done)
    from .partitions import chip_peak

    peak = pool.chips * chip_peak(pool.system.chip)
    classes = {}
    for hi, name in SIZE_CLASSES:
        w = np.array([sim.start[i] - jobs[i].arrival for i in done if size_class(jobs[i].size) == name])
        if len(w):
            classes[name] = {"jobs": int(len(w)), "wait_p50_s": _pct(w, 50), "wait_p99_s": _pct(w, 99)}
    out = {
        "system": pool.system.name, "kind": pool.kind, "grain": pool.grain_name, "grains": units,
        "chips": pool.chips, "power_w": pool_power_w(pool), "price_usd": capex,
        "jobs": len(jobs), "completed": len(done), "rejected": len(sim.rejected),
        "makespan_s": makespan, "window_s": window_end - w0,
        "utilization": util, "utilization_with_drain": util_all, "fragmentation": frag, "held_by_policy": held,
        "mean_queue": queue, "max_queue": int(max(sim.queue, default=0)),
        "wait_p50_s": _pct(waits, 50), "wait_p99_s": _pct(waits, 99), "wait_mean_s": float(waits.mean()) if len(waits) else None,
        "wait_by_size": classes,
        "jobs_per_day": len(done) / (makespan / 86400.0) if makespan > 0 else 0.0,
        "goodput_flops": useful_flops / makespan if makespan > 0 else 0.0,
        "goodput_share_of_peak": useful_flops / (makespan * peak) if makespan > 0 else 0.0,
        f"{pool.grain_name}_hours": grain_hours, "grain_hours": grain_hours,
        "energy_j": energy_j, "cost_usd": cost,
        "cost_usd_per_grain_hour": cost / grain_hours if grain_hours else None,
        "passes": sim.passes,
    }
    if price_per_grain_hour is not None:
        out["price_usd_per_grain_hour"] = price_per_grain_hour
        out["revenue_usd"] = price_per_grain_hour * grain_hours
        out["profit_usd"] = out["revenue_usd"] - cost
    if gpu_bill_usd is not None and grain_hours:
        inst = instance(instance_name)
        be = gpu_bill_usd / grain_hours
        low, high = inst["usd_per_hour_range"]
        # the bill is linear in the instance price, so its range carries straight through
        out["gpu_cloud"] = {**inst, "bill_usd": gpu_bill_usd, "break_even_usd_per_grain_hour": be,
                            "break_even_range": (be * low / inst["usd_per_hour"], be * high / inst["usd_per_hour"])}
    return out


def pool_power_w(pool) -> float:
    """Power of the whole pool (chips and overheads), from its system's per-grain share."""
    return pool.grain_power_w * pool.units


def pool_price_usd(pool) -> float:
    return pool.grain_price_usd * pool.units


def check_price(value: float | None, where: str = "price") -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise SpecError(where, f"must be a finite price >= 0, got {value!r}")
    return value
