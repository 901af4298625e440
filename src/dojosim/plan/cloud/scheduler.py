"""A discrete-event scheduler: jobs arrive, wait, get a partition, run for the time `estimate`
gives on that partition, and leave.

A plain event loop (a sorted arrival list and a heap of finish times), not SimPy: the scheduler
has two event kinds and no processes that talk to each other, so SimPy's processes (a generator
resumed through its own event heap for every event) would only add work per event and a
dependency (docs/cloud.md). Waiting jobs are kept in FIFO queues per *signature* (same workload, batch and
partition options), so one scheduling pass costs O(signatures), not O(queue length): the
earliest waiting job among the signatures that fit is the one a scan in arrival order would
start first.

Policies (`POLICIES`):
  fifo         strict arrival order; the head blocks everyone behind it; first-fit placement.
  first-fit    start any waiting job that fits, in arrival order; first-fit placement.
  best-fit     as first-fit, placing each job where it leaves the least free space.
  backfill     EASY backfilling with best-fit placement: the head of the queue gets a
               reservation at the earliest time enough space frees up; a later job may start
               now only if it fits and ends before that reservation.
  first-fit-backfill  the same with first-fit placement.
  elastic      backfill, and a job with a size range gets, among the partitions that are free,
               the one on which `estimate` says it finishes soonest.
"""
from __future__ import annotations

import bisect
import heapq
from collections import deque
from itertools import islice
from dataclasses import dataclass, field

from ...errors import SpecError

POLICIES = ("fifo", "first-fit", "best-fit", "backfill", "first-fit-backfill", "elastic")
# A waiting job this far down its signature's queue is not looked at for backfilling: it bounds
# the work per scheduling pass, as Slurm's bf_max_job_test does (default 500 jobs; with a few
# dozen signatures, 16 per signature is of that order). Assumed, range 8-64.
BACKFILL_DEPTH = 16


@dataclass
class Prepared:
    """A job as one pool sees it: partition options and the run time on each."""

    index: int
    arrival: float
    sig: tuple                   # (options...) shared by jobs that place alike
    options: tuple               # partition keys, in preference order
    runtimes: tuple              # seconds on each option
    grains: tuple                # grains each option holds


@dataclass
class SimResult:
    start: list
    end: list
    keys: list
    cells: list                  # per job: the grains it held (for the isolation check)
    rejected: dict               # job index -> reason
    times: list = field(default_factory=list)      # pass times
    busy: list = field(default_factory=list)       # busy grains after each pass
    queue: list = field(default_factory=list)      # waiting jobs after each pass
    frag: list = field(default_factory=list)       # free grains no waiting job can use
    held: list = field(default_factory=list)       # free grains a waiting job fits but may not
                                                   # take (FIFO order, a backfill reservation)
    snapshot: list | None = None
    snapshot_time: float | None = None
    passes: int = 0


def _parse_policy(policy: str) -> tuple[bool, bool, bool, bool]:
    """(strict fifo, best-fit placement, backfill, elastic)"""
    if policy not in POLICIES:
        raise SpecError("policy", f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
    return (policy == "fifo", policy in ("best-fit", "backfill", "elastic"),
            policy in ("backfill", "first-fit-backfill", "elastic"), policy == "elastic")


def simulate(jobs: list[Prepared], pool, policy: str, *, snapshot_at: float | None = None,
             keep_cells: bool = True, incremental: bool = True) -> SimResult:
    """Run the stream on ``pool``. ``jobs`` must be sorted by arrival."""
    strict, best, backfill, elastic = _parse_policy(policy)
    n = max((j.index for j in jobs), default=-1) + 1
    res = SimResult(start=[None] * n, end=[None] * n, keys=[None] * n, cells=[None] * n, rejected={})
    queues: dict[tuple, deque] = {}
    waiting = 0
    finishes: list = []                  # heap of (end, seq, job index)
    running_ends: list = []              # sorted (end, job index) for reservations
    allocs: dict[int, object] = {}
    by_index = {j.index: j for j in jobs}
    seq = 0
    arrivals = jobs
    ai = 0
    snap_done = snapshot_at is None

    def start(j: Prepared, opt: int, now: float) -> None:
        nonlocal seq
        alloc = pool.allocate(j.options[opt], best)
        pool.own(alloc.cells, j.index)
        end = now + j.runtimes[opt]
        res.start[j.index], res.end[j.index], res.keys[j.index] = now, end, j.options[opt]
        if keep_cells:
            res.cells[j.index] = alloc.cells
        allocs[j.index] = alloc
        heapq.heappush(finishes, (end, seq, j.index))
        seq += 1
        bisect.insort(running_ends, (end, j.index))

    def choose(j: Prepared, now: float, limit: float | None) -> int | None:
        """The option to start ``j`` on now (fastest finish for elastic), or None."""
        pick = None
        for k, key in enumerate(j.options):
            if pool.fits(key) and (limit is None or now + j.runtimes[k] <= limit):
                if not elastic:
                    return k
                if pick is None or j.runtimes[k] < j.runtimes[pick]:
                    pick = k
        return pick

    def heads() -> list:
        return sorted(((q[0].arrival, q[0].index, sig) for sig, q in queues.items()))

    shadows: dict[int, float] = {}

    def shadow(j: Prepared) -> float:
        """When the head ``j`` could start if running jobs end as planned (its smallest option).
        Run times are exact, and a job backfilled behind ``j`` ends before this time, so the
        answer holds until ``j`` starts: it is computed once per head."""
        hit = shadows.get(j.index)
        if hit is None:
            k = min(range(len(j.options)), key=lambda k: j.grains[k])
            hit = pool.shadow(j.options[k], ((e, allocs[i]) for e, i in running_ends))
            shadows.clear()
            shadows[j.index] = hit
        return hit

    def pop(sig, j: Prepared) -> None:
        nonlocal waiting
        q = queues[sig]
        if q[0] is j:
            q.popleft()
        else:
            q.remove(j)
        if not q:
            del queues[sig]
        waiting -= 1

    def schedule(now: float, only: set | None) -> None:
        """One pass: start jobs until none can start. ``only``: when nothing was freed since the
        last pass, the signatures of the jobs that just arrived — the last pass left no other
        waiting job startable, and with nothing freed and the same head none has become so."""
        failed: set = set()
        while waiting:
            hs = heads()
            _, hidx, hsig = hs[0]
            head = by_index[hidx]
            if hsig not in failed and (only is None or hsig in only):
                opt = choose(head, now, None)
                if opt is not None:
                    pop(hsig, head)
                    start(head, opt, now)
                    if backfill:
                        failed.clear()    # a new head brings a new reservation: look again
                    continue
            if strict:
                return
            failed.add(hsig)
            limit = shadow(head) if backfill else None
            started = False
            for _, idx, sig in hs[1:]:
                if sig in failed:
                    continue
                if only is not None and sig not in only:
                    failed.add(sig)
                    continue
                j = by_index[idx]
                if limit is None:         # no reservation: the first waiting job that fits
                    opt = choose(j, now, None)
                    if opt is None:
                        failed.add(sig)
                        continue
                    pop(sig, j)
                    start(j, opt, now)
                    started = True
                    break
                # backfilling behind the head's reservation: the first job of this signature
                # (in arrival order, at most BACKFILL_DEPTH deep) that ends before it
                fitting = [k for k, key in enumerate(j.options) if pool.fits(key)]
                found = None
                if fitting:
                    room = limit - now
                    for cand in islice(queues[sig], BACKFILL_DEPTH):
                        rt = cand.runtimes
                        if len(fitting) == 1:
                            if rt[fitting[0]] <= room:
                                found = (cand, fitting[0])
                                break
                            continue
                        ok = [k for k in fitting if rt[k] <= room]
                        if ok:
                            found = (cand, min(ok, key=rt.__getitem__) if elastic else ok[0])
                            break
                if found is None:
                    failed.add(sig)
                    continue
                pop(sig, found[0])
                start(found[0], found[1], now)
                started = True
                break
            if not started:
                return

    def record(now: float) -> None:
        res.passes += 1
        free = pool.free_units
        frag = held = 0
        if waiting and free:
            usable = any(pool.fits(k) for q in queues.values() for k in q[0].options)
            frag, held = (0, free) if usable else (free, 0)
        res.times.append(now)
        res.busy.append(pool.units - free)
        res.queue.append(waiting)
        res.frag.append(frag)
        res.held.append(held)

    while ai < len(arrivals) or finishes:
        t_arr = arrivals[ai].arrival if ai < len(arrivals) else float("inf")
        t_fin = finishes[0][0] if finishes else float("inf")
        now = min(t_arr, t_fin)
        freed = False
        while finishes and finishes[0][0] <= now:
            freed = True
            _, _, idx = heapq.heappop(finishes)
            alloc = allocs.pop(idx)
            pool.release(alloc)
            del running_ends[bisect.bisect_left(running_ends, (res.end[idx], idx))]
        new = set()
        while ai < len(arrivals) and arrivals[ai].arrival <= now:
            j = arrivals[ai]
            ai += 1
            if not j.options:
                continue
            queues.setdefault(j.sig, deque()).append(j)
            new.add(j.sig)
            waiting += 1
        schedule(now, None if freed or not incremental else new)
        if not snap_done and now >= snapshot_at:
            res.snapshot, res.snapshot_time, snap_done = pool.snapshot(), now, True
        record(now)
    if not snap_done:
        res.snapshot, res.snapshot_time = pool.snapshot(), res.times[-1] if res.times else 0.0
    return res
