"""Strategy search: cost every valid split of a model on a system and rank them.

The space (`space.py`) is walked shape by shape — parallel degrees and ZeRO stage first, then the
micro-batch, interleave, recompute, sequence-parallel and level-mapping variants of each — and
whatever a memory lower bound says cannot fit is dropped before the engine is called. Each
remaining strategy costs one `estimate`; big searches spread the shapes over a process pool.

Workers return only (score, position, strategy) for their best few; the parent re-estimates the
final top K, so no large `Estimate` objects cross process boundaries.
"""
from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import limits
from ..errors import FitError, NotFiniteError, SpecError
from ..limits import cap_workers, check_int
from ..checks import check_model_system
from .pool import process_pool
from ..strategy import DEFAULT_ORDER, Strategy
from .space import ModelFacts, Shape, Space, _level_sizes, groups, shapes, variants

OBJECTIVES = ("throughput", "cost", "energy")
SPLIT_KEYS = ("dp", "tp", "pp", "cp", "ep")

# Used only when the engine gives no cost per step: hardware paid off over this many seconds of
# use (4 years; cloud providers depreciate servers over 4-6 years, e.g. Microsoft FY2023 10-K: 6
# years, AWS 2024: 5 years — the shorter figure keeps cost honest for fast-aging accelerators),
# plus electricity at the 2023 US industrial average of about $0.08/kWh (EIA Electric Power
# Monthly, Table 5.6.A).
AMORTIZATION_S = 4 * 365.25 * 86400
ELECTRICITY_USD_PER_J = 0.08 / 3.6e6

# Below this many shapes a pool costs more to start than it saves.
POOL_MIN_SHAPES = 16


@dataclass(frozen=True)
class Candidate:
    """One ranked strategy with its estimate; ``score`` is the objective in its own unit."""

    strategy: Strategy
    estimate: object
    score: float
    objective: str = "throughput"

    def to_dict(self) -> dict:
        return {"strategy": self.strategy.model_dump(mode="json"), "objective": self.objective,
                "score": self.score, "estimate": self.estimate.to_dict()}


@dataclass
class SearchStats:
    """What the search did: how many strategies it saw, pruned, costed, and how long it took."""

    shapes: int = 0
    enumerated: int = 0
    pruned_memory: int = 0          # dropped by the analytic bound before estimate
    pruned_fit: int = 0             # skipped: a variant needing no more memory did not fit
    pruned_bound: int = 0           # skipped: no level order could beat the top K (compute bound)
    evaluated: int = 0              # estimate calls
    rejected: int = 0               # estimate raised a SpecError (split the engine refuses)
    not_fit: int = 0                # estimated, but memory.fits is False
    wall_s: float = 0.0
    workers: int = 1
    capacity_bytes: float | None = None

    @property
    def evals_per_s(self) -> float:
        return self.evaluated / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["evals_per_s"] = self.evals_per_s
        d["evals_per_s_per_worker"] = self.evals_per_s / max(self.workers, 1)
        return d


@dataclass
class SearchResult:
    candidates: list[Candidate]
    stats: SearchStats = field(default_factory=SearchStats)


def score(est, objective: str, global_batch: int, system=None) -> float:
    """The objective of one estimate, as a number where LOWER is better.

    throughput: -samples/s; cost: USD per sample; energy: J per sample.
    """
    if objective == "throughput":
        return -est.samples_per_s
    if objective == "energy":
        return est.energy_j_per_step / global_batch
    if objective == "cost":
        cost = est.cost_usd_per_step
        if cost is None:
            price = float(getattr(system, "price_usd", 0.0) or 0.0)
            cost = est.step_time_s * price / AMORTIZATION_S + est.energy_j_per_step * ELECTRICITY_USD_PER_J
        return cost / global_batch
    raise SpecError("objective", f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")


def display_score(value: float, objective: str) -> float:
    """The score as users read it (samples/s positive)."""
    return -value if objective == "throughput" else value


def _default_estimator() -> Callable:
    # The function, not the package attribute: `dojosim.engine.estimate` is also a submodule name.
    from ..engine.estimate import estimate

    return estimate


def _default_lower_bound() -> Callable:
    from ..engine.estimate import step_lower_bound

    return step_lower_bound


# Per-process state: set before the pool forks (or by the initializer), read by `_run_shapes`.
_CTX: dict = {}


def _init(ctx: dict) -> None:
    _CTX.clear()
    _CTX.update(ctx)


_RC_RANK = {"none": 0, "selective": 1, "full": 2}


def simplicity(s: Strategy) -> tuple:
    """Tie-break between equally scored splits: prefer the one with less machinery (no recompute,
    lower ZeRO stage, no interleave, fewer parallel dimensions, the default level order)."""
    return (_RC_RANK.get(s.recompute, 3), s.zero, s.interleave,
            sum(1 for d in (s.tp, s.pp, s.cp, s.ep) if d > 1), s.order != DEFAULT_ORDER)


def _heapkey(key: tuple, strat) -> tuple:
    # heapq is a min-heap; negating the key keeps the WORST kept candidate at heap[0].
    return (-key[0], tuple(-x for x in key[1]), -key[2], -key[3], strat)


def _unkey(h: tuple) -> tuple:
    return (-h[0], tuple(-x for x in h[1]), -h[2], -h[3])


# Recompute modes in the order of their compute time: each redoes at least what the one before did.
RECOMPUTE_BY_COMPUTE = ("none", "selective", "full")


def _run_shapes(task: list[tuple[int, Shape]]) -> tuple[list, dict]:
    """Cost every variant of the given shapes; return the best ``top`` and counters.

    Within a group (degrees, ZeRO, SP, interleave) micro-batches ascend and, for each, recompute
    modes run from the least compute (none) to the most (full). Three skips follow, each resting
    on a fact `tests/test_search_engine.py` checks on the engine:
    - fit: memory grows with the micro-batch and shrinks with heavier recompute, and does not
      depend on the level order, so a variant that does not fit ends its recompute mode (and
      every mode keeping more activations) for this and larger micro-batches, all orders;
    - compute bound across recompute modes: a heavier mode's compute is at least the lighter
      one's, so if the top K already beats the lighter mode's compute time, the heavier is skipped;
    - compute bound across level orders: an order moves only collectives, so compute + optimizer
      time of the first order bounds all of them.
    The bounds apply to the throughput objective only (energy and cost also weigh power).
    """
    c = _CTX
    est_fn, model, system = c["estimator"], c["model"], c["system"]
    objective, gb, top = c["objective"], c["global_batch"], c["top"]
    heap: list = []  # the best `top`, worst at heap[0] (keys negated)
    n = {"enumerated": 0, "pruned_memory": 0, "pruned_fit": 0, "pruned_bound": 0, "evaluated": 0,
         "rejected": 0, "not_fit": 0}
    bound_on = objective == "throughput" and c.get("bound", True)
    lower_bound = c.get("lower_bound") if bound_on else None

    # The K-th best score of the seeding pass, or of earlier tasks in this process: each is
    # reached by K real strategies of the space, so the final top K is at least that good.
    bars = [b for b in (c.get("seed_bar"), c.get("bar")) if b is not None]
    seed = min(bars) if bars else None

    def beaten(floor_s: float) -> bool:
        # True when a step of at least floor_s cannot enter the top K.
        if not bound_on or floor_s <= 0:
            return False
        bar = -heap[0][0] if len(heap) >= top else None
        if seed is not None:
            bar = seed if bar is None else min(bar, seed)
        return bar is not None and -gb / floor_s > bar

    for si, shape in task:
        vi = 0
        for g in groups(c["facts"], shape, gb, c["space"], c["levels"], c["capacity"]):
            n["enumerated"] += g.size + g.bound_pruned
            n["pruned_memory"] += g.bound_pruned
            per_mb = len(g.orders)
            rcs = [r for r in RECOMPUTE_BY_COMPUTE if r in g.recomputes]
            limit = dict.fromkeys(rcs, len(g.micro_batches))  # first micro-batch index that cannot fit
            for mi, mb in enumerate(g.micro_batches):
                floor = None  # compute time of the lightest recompute mode costed at this micro-batch
                for ri, rc in enumerate(rcs):
                    if mi >= limit[rc]:
                        n["pruned_fit"] += per_mb
                        continue
                    if floor is not None and beaten(floor):
                        n["pruned_bound"] += per_mb
                        continue
                    if lower_bound is not None:
                        # the engine's bound from compute alone, before any collective is costed
                        try:
                            lb = lower_bound(model, system, g.make(mb, rc, g.orders[0]))
                        except SpecError:
                            lb = 0.0
                        if beaten(lb):
                            n["pruned_bound"] += per_mb
                            continue
                    for oi, order in enumerate(g.orders):
                        vi += 1
                        strat = g.make(mb, rc, order)
                        n["evaluated"] += 1
                        try:
                            est = est_fn(model, system, strat)
                        except SpecError:
                            n["rejected"] += 1
                            continue
                        compute = est.breakdown.get("compute", 0.0)
                        if floor is None:
                            floor = compute
                        if not est.memory.fits:
                            n["not_fit"] += 1
                            n["pruned_fit"] += per_mb - oi - 1
                            for r in rcs[:ri + 1]:  # this mode and those keeping more activations
                                limit[r] = min(limit[r], mi)
                            break
                        # equal scores (every split waiting on the same input hosts): the one
                        # with the least busy time, then the simplest
                        busy = est.step_time_s - est.breakdown.get("input", 0.0)
                        key = (score(est, objective, gb, system), (busy, *simplicity(strat)), si, vi)
                        if len(heap) < top:
                            heapq.heappush(heap, _heapkey(key, strat))
                        elif key < _unkey(heap[0]):
                            heapq.heapreplace(heap, _heapkey(key, strat))
                        if oi == 0 and per_mb > 1 and beaten(compute + est.breakdown.get("optimizer", 0.0)):
                            n["pruned_bound"] += per_mb - 1
                            break
    if len(heap) >= top:
        c["bar"] = -heap[0][0] if c.get("bar") is None else min(c["bar"], -heap[0][0])
    return [(_unkey(h), h[-1]) for h in heap], n


def _seed_bar(ctx: dict, all_shapes: list) -> tuple[float | None, int]:
    """Cost one plain variant of every shape (smallest micro-batch, selective recompute, no
    interleave, default order) and return the K-th best score among those that fit.

    Every seeded strategy is in the space, so the final top K is at least this good; the bounds
    can use it from the first shape on instead of waiting for the heap to fill with good splits.
    """
    est_fn, model, system, gb = ctx["estimator"], ctx["model"], ctx["system"], ctx["global_batch"]
    scores, n = [], 0
    for _, shape in all_shapes:
        for g in groups(ctx["facts"], shape, gb, ctx["space"], ctx["levels"], ctx["capacity"]):
            if not g.micro_batches or g.base["interleave"] != 1:
                continue
            rc = "selective" if "selective" in g.recomputes else g.recomputes[0]
            n += 1
            try:
                est = est_fn(model, system, g.make(g.micro_batches[0], rc, g.orders[0]))
            except SpecError:
                break
            if est.memory.fits:
                scores.append(score(est, ctx["objective"], gb, system))
            break
    scores.sort()
    return (scores[ctx["top"] - 1] if len(scores) >= ctx["top"] else None), n


def _split(items: list, parts: int) -> list[list]:
    """Round-robin chunks, so each worker gets a mix of cheap and expensive shapes."""
    chunks = [items[i::parts] for i in range(parts)]
    return [c for c in chunks if c]


def search_with_stats(model, system, global_batch: int, objective: str = "throughput", top: int = 10,
                      constraints: dict | None = None, *, workers: int | None = None,
                      estimator: Callable | None = None, devices: int | None = None,
                      progress: bool = False, assumptions=None) -> SearchResult:
    """Like `search`, and also report what the search did (`SearchStats`)."""
    if objective not in OBJECTIVES:
        raise SpecError("objective", f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    check_int(top, "top", high=limits.MAX_TOP)
    check_int(global_batch, "global_batch", high=limits.MAX_GLOBAL_BATCH)
    if estimator is None:  # a custom estimator may cost stand-in objects (the tests' fakes)
        check_model_system(model, system)
    t0 = time.perf_counter()
    space = Space.from_constraints(constraints)
    facts = ModelFacts.of(model)
    devices = int(devices or getattr(system, "chips"))
    levels = _level_sizes(system)
    est_fn = estimator or _default_estimator()
    # The engine's compute-only step bound prunes before estimating; a stand-in estimator has none.
    lower_bound = None if estimator is not None else _default_lower_bound()
    if assumptions is not None and estimator is None:
        import functools

        est_fn = functools.partial(est_fn, assumptions=assumptions)
        lower_bound = functools.partial(lower_bound, assumptions=assumptions)
    all_shapes = list(enumerate(shapes(facts, devices, global_batch, space)))
    stats = SearchStats(shapes=len(all_shapes))
    if not all_shapes:
        raise FitError("strategy", f"no split of {devices} devices divides this model and global batch "
                                   f"{global_batch} under the constraints given (a global batch of "
                                   f"{nearby_batch(global_batch, devices)} would allow plain data parallelism)")
    # One probe estimate tells the per-device memory capacity the engine checks against.
    probe = next(variants(facts, all_shapes[0][1], global_batch, space, levels, None))
    try:
        capacity = float(est_fn(model, system, probe).memory.capacity_bytes)
    except NotFiniteError:  # the system's figures break the arithmetic of every split: say so
        raise
    except SpecError:
        capacity = None
    stats.capacity_bytes = capacity
    ctx = dict(estimator=est_fn, model=model, system=system, objective=objective, global_batch=global_batch,
               top=top, facts=facts, space=space, levels=levels, capacity=capacity, lower_bound=lower_bound)
    if objective == "throughput" and len(all_shapes) > top:
        ctx["seed_bar"], seeded = _seed_bar(ctx, all_shapes)
        stats.evaluated += seeded
    workers = cap_workers(workers)
    import multiprocessing as mp

    # A pool worker (a sweep's, say) is a daemon and may not start processes of its own.
    if len(all_shapes) < POOL_MIN_SHAPES or mp.current_process().daemon:
        workers = 1
    stats.workers = workers
    best: list = []
    if workers == 1:
        _init(ctx)
        tasks = _split(all_shapes, max(1, min(len(all_shapes), 64)))
        results = _track(map(_run_shapes, tasks), len(tasks), progress)
        results = list(results)
    else:
        # Fork shares the model and system with the workers without pickling them; the
        # initializer covers platforms that spawn.
        method = "fork" if "fork" in mp.get_all_start_methods() else None
        _init(ctx)
        tasks = _split(all_shapes, workers * 8)
        with process_pool(workers, mp_context=mp.get_context(method), initializer=_init,
                          initargs=(ctx,)) as pool:
            results = list(_track(pool.map(_run_shapes, tasks), len(tasks), progress))
    for local, n in results:
        best.extend(local)
        for k, v in n.items():
            setattr(stats, k, getattr(stats, k) + v)
    best.sort(key=lambda b: b[0])
    candidates = []
    for key, strat in best[:top]:
        s = key[0]
        strat = Strategy.model_validate(strat.model_dump())
        est = est_fn(model, system, strat)
        candidates.append(Candidate(strategy=strat, estimate=est, score=display_score(s, objective),
                                    objective=objective))
    stats.wall_s = time.perf_counter() - t0
    if not candidates:
        raise FitError("strategy", f"no strategy of {model.name if hasattr(model, 'name') else 'the model'} "
                                   f"fits in memory on {devices} devices at global batch {global_batch} "
                                   f"({stats.evaluated} costed, {stats.pruned_memory} pruned by the memory bound)")
    return SearchResult(candidates, stats)


def _track(iterable, total: int, progress: bool):
    """Wrap ``iterable`` in a Rich progress bar when asked (the CLI asks only on a terminal)."""
    if not progress:
        yield from iterable
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("searching", total=total)
        for item in iterable:
            bar.advance(task)
            yield item


def search(model, system, global_batch: int, objective: str = "throughput", top: int = 10,
           constraints: dict | None = None, **kwargs) -> list[Candidate]:
    """The ``top`` best strategies for ``model`` on all chips of ``system``, best first.

    ``objective``: "throughput" (samples/s, higher first), "cost" (USD per sample) or "energy"
    (J per sample), lower first. ``constraints`` fixes or limits fields, e.g.
    ``{"tp": [1, 2, 4, 8], "recompute": "none", "precision": "fp8", "orders": "default"}``;
    ``{"exhaustive": True}`` turns off the two named pruning rules of `space`. Raises `FitError`
    when no strategy fits. Keyword options: ``workers`` (processes; default all cores),
    ``estimator`` (a stand-in for `dojosim.engine.estimate`), ``devices`` (default system.chips),
    ``assumptions`` (the engine's figures, `dojosim.assumptions`; default DEFAULT).
    """
    return search_with_stats(model, system, global_batch, objective, top, constraints, **kwargs).candidates


def best_throughput(model, system, global_batch: int, constraints: dict | None = None, **kwargs):
    """The fastest candidate, or None when nothing fits (fleets and capacity use this)."""
    try:
        return search(model, system, global_batch, "throughput", 1, constraints, **kwargs)[0]
    except FitError:
        return None


def nearby_batch(global_batch: int, devices: int) -> int:
    """The multiple of ``devices`` nearest ``global_batch`` (at least one sample per device)."""
    return max(devices, round(global_batch / devices) * devices)


def best_with_batch(model, system, global_batch: int, constraints: dict | None = None,
                    adjust_batch: bool = True, **kwargs):
    """(fastest candidate or None, global batch used).

    When no split of the device count divides the batch (25-chip Dojo tiles and a batch of 256
    share no factor), and ``adjust_batch``, the batch moves to the nearest multiple of the
    device count, so that plain data parallelism is possible; callers report the batch used.
    """
    cand = best_throughput(model, system, global_batch, constraints, **kwargs)
    if cand is not None or not adjust_batch:
        return cand, global_batch
    nb = nearby_batch(global_batch, system.chips)
    if nb == global_batch:
        return None, global_batch
    return best_throughput(model, system, nb, constraints, **kwargs), nb


__all__ = ["Candidate", "SearchStats", "SearchResult", "search", "search_with_stats", "best_throughput",
           "score", "best_with_batch", "nearby_batch", "OBJECTIVES"]
