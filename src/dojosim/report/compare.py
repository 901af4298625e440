"""One workload on several systems, side by side, at equal chips, equal power or equal price.

The first system is the reference: it keeps its size. Every other system is resized (with
`hardware.with_devices`) to the buildable device count whose chips, watts or dollars come closest
to the reference's. Each system then gets its own best split from `plan.search` — comparing
machines under one fixed split would favour whichever machine the split was tuned for.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .. import limits
from ..checks import check_model, check_system
from ..limits import check_int
from ..plan.search import OBJECTIVES
from ..errors import FitError, SpecError

NORMALIZE = ("chips", "power", "price")
# The README's main job: Tesla's FSD vision network on a Dojo ExaPOD against H100s of equal power.
DEFAULT_MODEL = "fsd"
DEFAULT_SYSTEMS = ("dojo-exapod", "h100-dgx")
DEFAULT_NORMALIZE = "power"
# What `compare` lets the search try by default: enough to find a good split of a vision network
# on thousands of chips, small enough that the default comparison runs in seconds on 2 cores.
# (recompute "none" first: the search still reports a split that does not fit as not fitting.)
DEFAULT_CONSTRAINTS: dict = {"orders": "default"}


def measure(system, normalize: str) -> float:
    """The quantity systems are equalized on: chips, watts, or dollars."""
    if normalize == "chips":
        return float(system.chips)
    if normalize == "power":
        return float(system.power_w)
    if normalize == "price":
        return float(system.price_usd)
    raise SpecError("normalize", f"unknown normalization {normalize!r}; choose one of {', '.join(NORMALIZE)}")


def _resize(system, devices: int):
    from ..hardware import with_devices

    return with_devices(system, devices)


# Sizes within this fraction of the reference's chips/power/price count as "equal": among them the
# one sharing the most factors with the global batch wins, so that the batch splits evenly over
# its data-parallel ranks (1,600 H100s share 200 with a batch of 3,000; 1,648 share only 8).
EQUAL_WITHIN = 0.05


def equalize(system, target: float, normalize: str, global_batch: int | None = None):
    """``system`` resized to a buildable device count whose measure is close to ``target``.

    Counts are tried in whole units of the system's first level (a DGX node, a Dojo tile) around
    the linear guess, and in whole copies of the preset when the guess is bigger than the preset.
    Of the counts within `EQUAL_WITHIN` of the target, the one with the largest common divisor
    with ``global_batch`` wins (then the closest); with none that close, the closest.
    """
    per_chip = measure(system, normalize) / system.chips
    if per_chip <= 0:
        raise SpecError("normalize", f"{system.name} has no {normalize} figure to normalize on")
    guess = target / per_chip
    unit = system.level_chips(0) if system.levels else 1
    counts: set[int] = set()
    for step in {unit, system.chips}:
        k = guess / step
        span = max(2, int(k * EQUAL_WITHIN) + 2)
        for j in range(max(1, math.floor(k) - span), math.ceil(k) + span + 1):
            counts.add(int(j * step))
    sized = []
    for n in sorted(counts):
        try:
            s = system if n == system.chips else _resize(system, n)
        except SpecError:
            continue
        sized.append((abs(measure(s, normalize) - target) / target, n, s))
    if not sized:
        raise SpecError("systems", f"cannot size {system.name} to match {target:g} ({normalize})")
    close = [x for x in sized if x[0] <= EQUAL_WITHIN]
    if close and global_batch:
        return max(close, key=lambda x: (math.gcd(x[1], global_batch), -x[0]))[2]
    return min(sized, key=lambda x: x[0])[2]


# A default global batch may hold up to this many samples per device of the largest system, so
# that every system can run plain data parallelism with gradient accumulation. A batch any
# system cannot split data-parallel forces tensor/pipeline splits on it — which for a CNN such as
# the FSD trunk (convolutions are not tensor-parallel) costs several times its throughput and
# would make the comparison about the batch rather than the machines.
MAX_SAMPLES_PER_DEVICE = 16


def default_global_batch(model, devices: Sequence[int]) -> int:
    """The model's own default global batch when it has one; else the multiple of the reference's
    chip count (``devices[0]`` x k, k <= `MAX_SAMPLES_PER_DEVICE`) that lets the largest share of
    every system's devices run data-parallel: the least common multiple when it is that small
    (24,000 for 3,000 D1s and 1,600 H100s), else the best compromise, the smallest k on ties."""
    gb = (getattr(model, "config", None) or {}).get("global_batch")
    if gb:
        return int(gb)
    ref = int(devices[0])

    def score(k: int):
        shares = [math.gcd(ref * k, int(n)) / int(n) for n in devices]
        return (min(shares), sum(shares), -k)

    return ref * max(range(1, MAX_SAMPLES_PER_DEVICE + 1), key=score)


# When no split fits, splits needing at most this much more than the least-memory split count as
# "closest to fitting", and the fastest of them is shown: on the FSD ExaPOD, tp=8 + ZeRO-3 saves
# 2% of memory over plain data parallelism at 6x the step time, and neither fits.
NEAR_FIT = 1.10


class ClosestToFit:
    """An estimator for ranking splits when none fits: each reports "fits", and a throughput that
    is the inverse of its memory need, so a throughput search returns the least-memory split.

    A module-level class (not a closure) so the search's worker processes can pickle it."""

    def __init__(self, estimate_fn: Callable):
        self.estimate_fn = estimate_fn

    def __call__(self, model, system, strategy):
        import dataclasses

        est = self.estimate_fn(model, system, strategy)
        mem = dataclasses.replace(est.memory, fits=True, capacity_bytes=math.inf)
        rank = 1e9 / max(est.memory.per_device_bytes, 1.0) * (1.0 + 1e-9 * min(est.samples_per_s, 1e6))
        return dataclasses.replace(est, memory=mem, samples_per_s=rank)


class WithinMemory:
    """An estimator that moves the memory limit to ``limit_bytes`` per device (picklable)."""

    def __init__(self, estimate_fn: Callable, limit_bytes: float):
        self.estimate_fn = estimate_fn
        self.limit_bytes = limit_bytes

    def __call__(self, model, system, strategy):
        import dataclasses

        est = self.estimate_fn(model, system, strategy)
        need = est.memory.per_device_bytes
        mem = dataclasses.replace(est.memory, fits=need <= self.limit_bytes, capacity_bytes=self.limit_bytes)
        return dataclasses.replace(est, memory=mem)


def _closest_to_fitting(model, system, gb, objective, cons, search_fn, estimate_fn, kw):
    """The fastest split among those needing at most `NEAR_FIT` x the least memory of any split."""
    least = search_fn(model, system, gb, objective="throughput", top=1, constraints=cons,
                      estimator=ClosestToFit(estimate_fn), **kw)[0]
    need = estimate_fn(model, system, least.strategy).memory.per_device_bytes
    best = search_fn(model, system, gb, objective=objective, top=1, constraints=cons,
                     estimator=WithinMemory(estimate_fn, need * NEAR_FIT), **kw)[0]
    return best.strategy


def compare(model, systems: Sequence, *, normalize: str = DEFAULT_NORMALIZE, global_batch: int | None = None,
            objective: str = "throughput", constraints: dict | None = None, strategy=None,
            search_fn: Callable | None = None, estimate_fn: Callable | None = None, workers: int | None = None,
            progress: Callable[[str], None] | None = None, assumptions=None, samples: int = 0,
            seed: int = 0) -> list[dict]:
    """Rows of the comparison, reference first. ``systems`` holds System objects or preset names.

    With ``strategy`` (a run's split) the reference system keeps that split; every other system,
    and the reference without one, gets the best split `plan.search` finds for ``objective``.
    ``assumptions`` moves the engine's figures (`dojosim.assumptions`). With ``samples`` > 0 each
    row gets the p10/p50/p90 ``ranges`` of its figures and of its ratio to the reference, the
    chosen splits re-estimated under ``samples`` Latin hypercube draws of the assumed figures
    (`dojosim.ranges`; one draw moves every system alike, so shared assumptions cancel in a ratio).
    """
    import functools

    from ..hardware import load_system
    from ..assumptions import DEFAULT

    assumptions = assumptions or DEFAULT
    if assumptions != DEFAULT:
        if estimate_fn is None:
            from ..engine import estimate

            estimate_fn = functools.partial(estimate, assumptions=assumptions)
        if search_fn is None:
            from ..plan.search import search

            search_fn = functools.partial(search, assumptions=assumptions)

    if normalize not in NORMALIZE:
        raise SpecError("normalize", f"unknown normalization {normalize!r}; choose one of {', '.join(NORMALIZE)}")
    if objective not in OBJECTIVES:
        raise SpecError("objective", f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if global_batch is not None:
        check_int(global_batch, "global_batch", high=limits.MAX_GLOBAL_BATCH)
    if not systems or isinstance(systems, str):
        raise SpecError("systems", "name at least one system (a list of presets or System objects)")
    real = search_fn is None and estimate_fn is None  # stand-ins may cost stand-in objects (tests)
    if real:
        check_model(model)
    loaded = [load_system(s) if isinstance(s, str) else (check_system(s, f"systems[{i}]") if real else s)
              for i, s in enumerate(systems)]
    ref = loaded[0]
    target = measure(ref, normalize)
    given = int(global_batch or (strategy.global_batch if strategy is not None else 0))
    # Without a batch, size the others to share factors with the reference (a small common
    # multiple); with one, to split that batch evenly.
    sized = [ref] + [equalize(s, target, normalize, given or ref.chips) for s in loaded[1:]]
    gb = given or default_global_batch(model, [s.chips for s in sized])
    rows = []
    for i, system in enumerate(sized):
        if progress:
            progress(system.name)
        rows.append(_row(model, system, gb, normalize, objective, constraints,
                         strategy if i == 0 else None, search_fn, estimate_fn, workers))
    ref_row = rows[0]
    for r in rows:
        r["relative_samples_per_s"] = (r["samples_per_s"] / ref_row["samples_per_s"]
                                       if r.get("samples_per_s") and ref_row.get("samples_per_s") else None)
    if samples:
        _attach_ranges(model, rows, sized, assumptions, samples, seed)
    return rows


# Figures of a comparison row that carry a range (the ratio to the reference is sampled jointly).
ROW_FIGURES = ("step_time_s", "samples_per_s", "relative_samples_per_s", "energy_j_per_sample",
               "cost_usd_per_sample")


def _attach_ranges(model, rows: list[dict], systems: list, assumptions, samples: int, seed: int) -> None:
    """Re-estimate each row's chosen split (not re-searched) under draws of the assumed figures
    and add ``range`` (step time) and ``ranges`` (every `ROW_FIGURES` entry) to each row."""
    from ..engine import estimate
    from ..plan.search import score
    from ..ranges import sample
    from ..strategy import Strategy

    live = [k for k, r in enumerate(rows) if not r.get("error")]
    strategies = {k: Strategy.model_validate(rows[k]["strategy"]) for k in live}
    gb = rows[0]["global_batch"]

    def figures(a, drawn) -> dict[str, float]:
        out, ref_rate = {}, None
        for k in live:
            est = estimate(model, drawn[k], strategies[k], a)
            rate = est.samples_per_s
            if k == 0:
                ref_rate = rate
            out.update({f"{k}.step_time_s": est.step_time_s, f"{k}.samples_per_s": rate,
                        f"{k}.energy_j_per_sample": est.energy_j_per_step / gb,
                        f"{k}.cost_usd_per_sample": score(est, "cost", gb, drawn[k])})
            if ref_rate:
                out[f"{k}.relative_samples_per_s"] = rate / ref_rate
        return out

    sampled = sample(figures, systems, assumptions=assumptions, samples=samples, seed=seed)
    for k in live:
        spreads = {f: sampled.outputs.get(f"{k}.{f}") for f in ROW_FIGURES}
        rows[k]["ranges"] = {f: (v.to_dict() if v is not None else None) for f, v in spreads.items()}
        rows[k]["range"] = rows[k]["ranges"]["step_time_s"]
        rows[k]["range_samples"] = sampled.to_dict()


def _row(model, system, gb, normalize, objective, constraints, strategy, search_fn, estimate_fn, workers) -> dict:
    from ..plan.search import score

    from ..hardware.totals import assumed_totals

    # Which of the system's totals rest on assumed figures: power and price carry their mark
    # (and so do the energy and cost per sample computed from them) wherever they are shown.
    assumed = [k for k in ("power_w", "price_usd") if k in assumed_totals(system)]
    row = {"system": system.preset or system.name, "label": f"{system.preset or system.name} x{system.chips}",
           "devices": system.chips, "normalize": normalize, "power_w": system.power_w,
           "price_usd": system.price_usd, "assumed": assumed, "global_batch": gb,
           "measure": measure(system, normalize)}
    try:
        if strategy is not None:
            if estimate_fn is None:
                from ..engine import estimate as estimate_fn
            est, strat = estimate_fn(model, system, strategy), strategy
            how = "given"
        else:
            if search_fn is None:
                from ..plan.search import search as search_fn
            cons = dict(DEFAULT_CONSTRAINTS)
            cons.update(constraints or {})
            kw = {"workers": workers} if workers is not None else {}
            try:
                best = search_fn(model, system, gb, objective=objective, top=1, constraints=cons, **kw)[0]
                est, strat = best.estimate, best.strategy
                how = "searched"
            except FitError as err:
                if "fits in memory" not in str(err):
                    raise
                # Nothing fits: still show the (fastest) split that comes closest, flagged as not
                # fitting, with the memory it really needs — "needs 5.9 GB of 4.7 GB" is a finding.
                if estimate_fn is None:
                    from ..engine import estimate as estimate_fn
                strat = _closest_to_fitting(model, system, gb, objective, cons, search_fn, estimate_fn, kw)
                est = estimate_fn(model, system, strat)
                how = "nothing fits; the split closest to fitting"
    except SpecError as err:
        # One system that cannot run the workload is a finding, not a failure of the comparison.
        row.update(error=str(err), fits=False)
        return row
    row.update(
        split=strat.label(model), split_source=how,
        strategy=strat.model_dump(mode="json") if hasattr(strat, "model_dump") else dict(strat),
        step_time_s=est.step_time_s, samples_per_s=est.samples_per_s, tokens_per_s=est.tokens_per_s,
        mfu=est.mfu, hfu=est.hfu, memory_per_device_bytes=est.memory.per_device_bytes,
        memory_capacity_bytes=est.memory.capacity_bytes, fits=est.memory.fits,
        energy_j_per_sample=est.energy_j_per_step / gb,
        cost_usd_per_sample=score(est, "cost", gb, system),
        cost_is_amortized=est.cost_usd_per_step is None,
        breakdown=dict(est.breakdown), estimate=est,
    )
    return row


def rows_to_json(rows: Sequence[dict]) -> list[dict]:
    """Rows without the Estimate objects (those go to `Estimate.to_dict` only when asked)."""
    return [{k: v for k, v in r.items() if k != "estimate"} for r in rows]
