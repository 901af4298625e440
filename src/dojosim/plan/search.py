"""Strategy search: cost every valid split of a model on a system and rank them.

The space (`space.py`) is walked shape by shape — parallel degrees and ZeRO stage first, then the
micro-batch, interleave, recompute, sequence-parallel and level-mapping variants of each — and
whatever a memory lower bound says cannot fit is dropped before the engine is called. The rest
are costed best-first by a lower bound on their step time (`_run_shapes`), so that only the
variants that could still enter the top K are estimated; big searches may spread the shapes
over a process pool.

Workers return only (score, position, strategy) for their best few; the parent re-estimates the
final top K, so no large `Estimate` objects cross process boundaries.
"""
from __future__ import annotations

import bisect
import heapq
import math
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
from .space import ModelFacts, Shape, Space, groups, placement_levels, shapes, variants

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
    pruned_bound: int = 0           # skipped: lower bounds on the step and busy time could not beat the top K
    evaluated: int = 0              # estimate calls
    bound_estimates: int = 0        # estimates at the least collective times of a group of orders
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


def _default_assumptions():
    from ..assumptions import DEFAULT

    return DEFAULT


def _default_estimator() -> Callable:
    # The function, not the package attribute: `dojosim.engine.estimate` is also a submodule name.
    from ..engine.estimate import estimate

    return estimate


# Per-process state: set before the pool forks (or by the initializer), read by `_run_shapes`.
_CTX: dict = {}


def _init(ctx: dict) -> None:
    _CTX.clear()
    _CTX.update(ctx)


_RC_RANK = {"none": 0, "selective": 1, "full": 2}


def on_grid(x: float) -> float:
    """``x`` rounded down to GRID_BITS significant bits. Exact (a power-of-two scaling and a
    floor) and monotone: x <= y gives on_grid(x) <= on_grid(y), for either sign."""
    m, e = math.frexp(x)
    return math.ldexp(math.floor(math.ldexp(m, GRID_BITS)), e - GRID_BITS)


def rank_key(est, strategy: Strategy, objective: str, global_batch: int, system=None) -> tuple:
    """How the search ranks an estimated split, lower first, before enumeration order: (score on
    the grid, busy time on the grid, `simplicity`). Input-bound splits all tie on the score (they
    wait on the same hosts); the busy time tells the one with the most slack apart."""
    busy = est.step_time_s - est.breakdown.get("input", 0.0)
    return (on_grid(score(est, objective, global_batch, system)), on_grid(busy), simplicity(strategy))


def simplicity(s: Strategy) -> tuple:
    """Tie-break between equally scored splits: prefer the one with less machinery (no recompute,
    lower ZeRO stage, no interleave, fewer parallel dimensions, the default level order)."""
    return (_RC_RANK.get(s.recompute, 3), s.zero, s.interleave,
            sum(1 for d in (s.tp, s.pp, s.cp, s.ep) if d > 1), s.order != DEFAULT_ORDER)


# The ranking. Splits whose scores agree to about 9 significant digits are tied by construction:
# the engine reaches the same step through the same terms added in another order (every
# input-bound split waits (1 + overhead) x the hosts' delivery time, reached as the rest plus
# the stall), so such scores differ in their last bits (~1e-16 relative), while a difference the
# model makes is far above 1e-9. The key's first field is the score rounded down to GRID_BITS
# significant bits (a relative grid of 2^-30, ~9.3e-10); rounding is monotone, so the key is a
# total preorder that keeps every difference above the grid. Ties go to the lesser busy time (the
# step less its input stall, on the same grid), then the simpler split, then the first enumerated.
GRID_BITS = 30

# A bound adds the same terms as the estimate in another order, so it may exceed an equal step or
# busy time in its last bits (a few 1e-16 relative). Every bound is lowered by this much before it
# is rounded to the grid, which keeps its key at or below the key of what it bounds: 4,000 times
# the excess, 1,000 times finer than the grid (so it rarely costs a bound its bucket).
BOUND_SLACK = 1e-12

# Recompute modes in the order of their compute time: each redoes at least what the one before did.
RECOMPUTE_BY_COMPUTE = ("none", "selective", "full")


@dataclass
class _Cells:
    """A group's variants by micro-batch and recompute mode, each with all the group's orders."""

    si: int                      # shape index (ties resolve to the earlier strategy enumerated)
    gi: int
    group: Group
    rcs: tuple                   # recompute modes, lightest compute first
    limit: dict                  # per mode: the first micro-batch index that cannot fit
    key: int                     # names the group's fields but ZeRO and interleave (bounds are shared)
    bounds: list | None = None   # per micro-batch: recompute mode -> compute-only step bound
    least: object = None         # `LeastComm` over the group's orders, once needed


def _engine_bounds(c: dict) -> dict:
    """The engine's bounds for the search, memoized per process: lower bounds shared by every
    ZeRO stage and level order of a variant, and one `LeastComm` per group of level orders."""
    from ..engine.comm_api import LeastComm
    from ..engine.bounds import bound_estimate, input_floor, step_lower_bounds
    from ..engine.estimate import chip_assumptions, comm_context

    return dict(step_lower_bounds=step_lower_bounds, bound_estimate=bound_estimate, comm_context=comm_context,
                LeastComm=LeastComm, a=chip_assumptions(c["system"], c["assumptions"]), lb={}, comm_lb={}, least={},
                floor=input_floor(c["model"], c["system"], c["global_batch"], c["assumptions"]))


def _least(b: dict, c: dict, cells: _Cells):
    """The least collective times over the group's level orders (shared by every group of one
    split)."""
    if cells.least is None:
        g = cells.group
        key = (g.base["dp"], g.base["tp"], g.base["pp"], g.base["cp"], g.base["ep"], g.orders)
        least = b["least"].get(key)
        if least is None:
            strat = g.make(g.micro_batches[0], "none", g.orders[0])
            ctxs = [b["comm_context"](c["system"], strat.model_copy(update={"order": o}), b["a"]) for o in g.orders]
            least = b["least"][key] = b["LeastComm"](ctxs)
        cells.least = least
    return cells.least


def _compute_bounds(b: dict, c: dict, g: Group, key: int, ivs: tuple) -> list[dict]:
    """`step_lower_bounds` of each (micro-batch, recompute) of ``g``. Neither the ZeRO stage nor
    the interleave changes what they share, so the groups of one ``key`` (all their interleaves
    ``ivs``) are bounded together."""
    memo, v = b["lb"], g.base["interleave"]
    missing = [mb for mb in g.micro_batches if (key, mb, v) not in memo]
    if missing:
        rows = b["step_lower_bounds"](c["model"], c["system"], g.make(missing[0], "none", DEFAULT_ORDER), missing,
                                      RECOMPUTE_BY_COMPUTE, c["assumptions"], interleaves=ivs)
        for mb, row in zip(missing, rows):
            for i, iv in enumerate(ivs):
                memo[(key, mb, iv)] = {rc: by_iv[i] for rc, by_iv in zip(RECOMPUTE_BY_COMPUTE, row)}
    return [memo[(key, mb, v)] for mb in g.micro_batches]


def _comm_bound(b: dict, c: dict, cells: _Cells, mi: int, ri: int, ivs: tuple) -> float:
    """`step_lower_bound` of one variant with its per micro-batch collectives at their least time
    over the group's orders (shared as `_compute_bounds`: every interleave ``ivs`` at once)."""
    g, mb, rc = cells.group, cells.group.micro_batches[mi], cells.rcs[ri]
    memo_key = (cells.key, mb, rc)
    lbs = b["comm_lb"].get(memo_key)
    if lbs is None:
        row = b["step_lower_bounds"](c["model"], c["system"], g.make(mb, rc, g.orders[0]), (mb,), (rc,),
                                     c["assumptions"], _least(b, c, cells), interleaves=ivs)[0][0]
        lbs = b["comm_lb"][memo_key] = dict(zip(ivs, row))
    return lbs[g.base["interleave"]]


def _run_shapes(task: list[tuple[int, Shape]]) -> tuple[list, dict]:
    """Cost the variants of the given shapes best-first; return the best ``top`` and counters.

    Every variant (a group's micro-batch and recompute mode, with all its level orders) waits in
    one queue ordered by lower bounds on its score (as `rank_key`'s first field, on the grid)
    and busy time, refined in stages as it reaches the front: the engine's compute-only bound (shared
    by the ZeRO stages), then with the per micro-batch collectives at their least time over the
    orders, then one whole estimate at those least times (`bound_estimate`, which also says
    exactly whether the variant fits); only then is each order estimated. The first two bound
    the busy time as well as the step, and no step is shorter than the hosts' delivery
    (`input_floor`). Once the top K is full and the front's keys rank after its K-th's (a later
    grid step, or the same step and a later busy time), nothing left can enter it, and the
    search stops: the same top K as estimating everything. Memory grows with the micro-batch and
    with lighter recompute, so a variant that does not fit also rules out the larger
    micro-batches of its recompute mode and of the modes keeping more activations (the facts
    `tests/test_search_engine.py` checks on the engine). The bounds apply to the throughput
    objective with the real engine; otherwise every variant is estimated, in enumeration order.
    """
    c = _CTX
    est_fn, model, system = c["estimator"], c["model"], c["system"]
    objective, gb, top = c["objective"], c["global_batch"], c["top"]
    n = {"enumerated": 0, "pruned_memory": 0, "pruned_fit": 0, "pruned_bound": 0, "evaluated": 0,
         "bound_estimates": 0, "rejected": 0, "not_fit": 0}
    b = _engine_bounds(c) if c.get("engine") and objective == "throughput" else None
    # without counting (`search` returns no stats), a group the bounds rule out is never placed
    count = c.get("count", True)
    floor = b["floor"] if b else 0.0
    best: list = []  # the best `top` (key, strategy), ascending keys

    low = 1.0 - BOUND_SLACK

    def keyed(step_lb: float) -> float:
        # the least score key a variant with this step bound can have (see BOUND_SLACK)
        step_lb = (step_lb if step_lb > floor else floor) * low
        return on_grid(-gb / step_lb) if step_lb > 0 else -math.inf

    def beaten(score_key: float, busy_lb: float) -> bool:
        # True when a variant with these bounds cannot enter the top K, not even tied with the K-th.
        # The queue is ordered by (score key, raw busy bound): if its front is beaten, so is the rest.
        if b is None or len(best) < top:
            return False
        bar = best[-1][0]
        return score_key > bar[0] or (score_key == bar[0] and on_grid(busy_lb * (1.0 - BOUND_SLACK)) > bar[1])

    queue: list = []
    keys: dict = {}  # a group's fields but ZeRO and interleave -> a small number naming them
    ivs: dict = {}   # that number -> the interleaves of its groups
    found = []
    for si, shape in task:
        for gi, g in enumerate(groups(c["facts"], shape, gb, c["space"], c["levels"], c["capacity"])):
            if count:
                n["enumerated"] += g.size + g.bound_pruned
                n["pruned_memory"] += g.bound_pruned
            if g.micro_batches:
                key = keys.setdefault(tuple(v for k, v in sorted(g.base.items()) if k not in ("zero", "interleave")),
                                      len(keys))
                ivs.setdefault(key, {})[g.base["interleave"]] = None
                found.append((si, gi, g, key))
    ivs = {k: tuple(v) for k, v in ivs.items()}
    for si, gi, g, key in found:
        rcs = tuple(r for r in RECOMPUTE_BY_COMPUTE if r in g.recomputes)
        lbs = _compute_bounds(b, c, g, key, ivs[key]) if b else None
        cells = _Cells(si, gi, g, rcs, dict.fromkeys(rcs, len(g.micro_batches)), key, lbs)
        # the group waits at its best variant's bound; its variants queue when it comes up. A
        # queue entry: (score key, busy bound, position, stage, cells, mi, ri, step bound).
        lb = min(min(row[r] for r in rcs) for row in lbs) if lbs else 0.0
        queue.append((keyed(lb), lb, (si, gi), 0, cells, 0, 0, lb))
    heapq.heapify(queue)
    while queue:
        k, busy_lb, pos, stage, cells, mi, ri, step_lb = heapq.heappop(queue)
        g = cells.group
        per_mb = len(g.orders) if count or stage else 0
        if beaten(k, busy_lb):
            if count:
                n["pruned_bound"] += sum(q[4].group.size if q[3] == 0 else len(q[4].group.orders)
                                         for q in queue + [(k, busy_lb, pos, stage, cells)])
            break
        if stage == 0:
            for mi_ in range(len(g.micro_batches)):
                for ri_, rc in enumerate(cells.rcs):
                    # the compute-only bound: on the step and, as nothing in it waits on input, the busy time
                    bound = cells.bounds[mi_][rc] if cells.bounds else 0.0
                    k_ = keyed(bound)
                    if beaten(k_, bound):  # the bar only falls: this variant can never be reached
                        n["pruned_bound"] += per_mb
                    else:
                        heapq.heappush(queue, (k_, bound, (*pos, mi_, ri_), 1, cells, mi_, ri_, bound))
            continue
        if mi >= cells.limit[cells.rcs[ri]]:
            n["pruned_fit"] += per_mb
            continue
        if b is not None and stage < 3:
            try:
                if stage == 1:
                    step_new = busy_new = _comm_bound(b, c, cells, mi, ri, ivs[cells.key])
                else:
                    n["bound_estimates"] += 1
                    est = b["bound_estimate"](model, system, g.make(g.micro_batches[mi], cells.rcs[ri], g.orders[0]),
                                              _least(b, c, cells), c["assumptions"])
                    if not est.memory.fits:
                        n["pruned_fit"] += per_mb
                        _no_fit(cells, mi, ri)
                        continue
                    # every term grows with the collective times, and the busy time with the terms
                    step_new, busy_new = est.step_time_s, est.step_time_s - est.breakdown.get("input", 0.0)
            except SpecError:
                step_new, busy_new = step_lb, busy_lb
            step_lb, busy_lb = max(step_lb, step_new), max(busy_lb, busy_new)
            heapq.heappush(queue, (keyed(step_lb), busy_lb, pos, stage + 1, cells, mi, ri, step_lb))
            continue
        _estimate_orders(cells, mi, ri, n, best)
    return best, n


def _no_fit(cells: _Cells, mi: int, ri: int) -> None:
    """The variant (mi, ri) does not fit: nor do larger micro-batches of its recompute mode and of
    the modes keeping more activations."""
    for r in cells.rcs[:ri + 1]:
        cells.limit[r] = min(cells.limit[r], mi)


def _estimate_orders(cells: _Cells, mi: int, ri: int, n: dict, best: list) -> None:
    """Estimate every level order of variant (mi, ri), keeping the best ``top`` in ``best``."""
    c = _CTX
    est_fn, model, system, gb, top = c["estimator"], c["model"], c["system"], c["global_batch"], c["top"]
    g = cells.group
    for oi, order in enumerate(g.orders):
        strat = g.make(g.micro_batches[mi], cells.rcs[ri], order)
        n["evaluated"] += 1
        try:
            est = est_fn(model, system, strat)
        except SpecError:
            n["rejected"] += 1
            continue
        if not est.memory.fits:  # no order changes memory
            n["not_fit"] += 1
            n["pruned_fit"] += len(g.orders) - oi - 1
            _no_fit(cells, mi, ri)
            return
        key = (*rank_key(est, strat, c["objective"], gb, system), cells.si, (cells.gi, mi, ri, oi))
        if len(best) < top or key < best[-1][0]:
            bisect.insort(best, (key, strat), key=lambda e: e[0])
            del best[top:]


def _split(items: list, parts: int) -> list[list]:
    """Round-robin chunks, so each worker gets a mix of cheap and expensive shapes (each worker
    searches its chunk best-first on its own)."""
    chunks = [items[i::parts] for i in range(parts)]
    return [c for c in chunks if c]


def search_with_stats(model, system, global_batch: int, objective: str = "throughput", top: int = 10,
                      constraints: dict | None = None, *, workers: int | None = None,
                      estimator: Callable | None = None, devices: int | None = None,
                      progress: bool = False, assumptions=None, count: bool = True) -> SearchResult:
    """Like `search`, and also report what the search did (`SearchStats`). ``count=False`` leaves
    out of the counts the strategies of groups the bounds ruled out unseen (enumerated, pruned
    by memory or bound): their level orders are then never placed, which saves time on big
    systems; `search` does so."""
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
    levels = placement_levels(system)
    est_fn = estimator or _default_estimator()
    if assumptions is not None and estimator is None:
        import functools

        est_fn = functools.partial(est_fn, assumptions=assumptions)
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
               top=top, facts=facts, space=space, levels=levels, capacity=capacity,
               # the engine's step bounds prune; a stand-in estimator has none
               engine=estimator is None, assumptions=assumptions or _default_assumptions(), count=count)
    workers = cap_workers(workers)
    import multiprocessing as mp

    # A pool worker (a sweep's, say) is a daemon and may not start processes of its own. With the
    # engine's bounds the search runs best-first: one queue over every split costs far fewer
    # estimates than workers that each need their own top K first (GPT-3 on 1,024 A100s: 468
    # estimates serially, 966 over two workers), so it stays in this process.
    bounded = ctx["engine"] and objective == "throughput"
    if len(all_shapes) < POOL_MIN_SHAPES or mp.current_process().daemon or bounded:
        workers = 1
    stats.workers = workers
    best: list = []
    if workers == 1:
        _init(ctx)
        results = list(_track(map(_run_shapes, [all_shapes]), 1, progress))
    else:
        # Fork shares the model and system with the workers without pickling them; the
        # initializer covers platforms that spawn.
        method = "fork" if "fork" in mp.get_all_start_methods() else None
        _init(ctx)
        tasks = _split(all_shapes, workers)
        with process_pool(workers, mp_context=mp.get_context(method), initializer=_init,
                          initargs=(ctx,)) as pool:
            results = list(_track(pool.map(_run_shapes, tasks), len(tasks), progress))
    for local, n in results:
        best.extend(local)
        for k, v in n.items():
            setattr(stats, k, getattr(stats, k) + v)
    best.sort(key=lambda b: b[0])
    candidates = []
    for _, strat in best[:top]:
        strat = Strategy.model_validate(strat.model_dump())
        est = est_fn(model, system, strat)
        candidates.append(Candidate(strategy=strat, estimate=est, objective=objective,
                                    score=display_score(score(est, objective, global_batch, system), objective)))
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
    when no strategy fits. Keyword options: ``workers`` (processes for the cost and energy
    objectives; default all cores), ``estimator`` (a stand-in for `dojosim.engine.estimate`),
    ``devices`` (default system.chips), ``assumptions`` (the engine's figures,
    `dojosim.assumptions`; default DEFAULT).
    """
    return search_with_stats(model, system, global_batch, objective, top, constraints, count=False,
                             **kwargs).candidates


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
           "score", "rank_key", "best_with_batch", "nearby_batch", "OBJECTIVES"]
