"""How long a job runs on a partition: `estimate` (through the split search) on the partition's
own `System`, cached by (workload, batch, partition shape).

A job's work is a number of samples. Trace jobs carry a duration on the GPUs they asked for
instead; that duration is turned into samples once, by timing the same workload on that many
reference GPUs (`REFERENCE`, an H100 by default) — so every system then runs the same work.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache

from ...errors import FitError, SpecError

# The accelerator a trace's "GPUs" are read as, and a job's size request is measured in
# (H100-equivalents by peak bf16 FLOP/s). The public traces ran older GPUs (Philly: P100/P40);
# reading them as H100s keeps their shape (sizes, durations) and puts them on today's hardware.
REFERENCE = "h100-dgx"
# What the per-partition search may try. Narrower than `dojosim search`: the default level
# order, no interleaving, ZeRO 0/1, no full recompute, sequence parallelism with tp. On ResNet-50,
# ViT-L/16 and GPT-2 over 128-3,000 chips this finds splits within 4% of the full search's in a
# third to a half of the time (docs/cloud.md); a stream needs one search per workload and shape.
SEARCH_CONSTRAINTS = {"orders": "default", "interleave": [1], "zero": [0, 1],
                      "recompute": ["none", "selective"], "sequence_parallel": [True]}


@dataclass(frozen=True)
class Timing:
    """One workload on one partition: throughput, power, useful FLOPs per sample."""

    samples_per_s: float
    power_w: float
    flops_per_sample: float
    split: str = ""

    @property
    def ok(self) -> bool:
        return self.samples_per_s > 0


NO_FIT = Timing(0.0, 0.0, 0.0, "does not fit")
STAND_IN = Timing(1.0, 1.0, 1.0, "collecting")     # answered while a dry run lists partitions


def _search_one(args) -> "Timing":
    model, system, batch = args
    return _timing(_best_default(model, system, batch))


def _best_default(model, system, batch: int):
    from ..search import best_with_batch

    try:
        cand, _ = best_with_batch(model, system, batch, dict(SEARCH_CONSTRAINTS), workers=1)
    except (FitError, SpecError):
        return None
    return cand


def _timing(cand) -> "Timing":
    if cand is None:
        return NO_FIT
    e = cand.estimate
    per_step = e.samples_per_s * e.step_time_s          # samples in one step
    return Timing(e.samples_per_s, e.power_w, e.model_flops_per_step / per_step, cand.strategy.label())


class Timer:
    """Caches models and per-partition timings for one stream (pure: same inputs, same output).

    In *collecting* mode `time` only notes what it was asked for and answers a stand-in, so a
    dry run over the stream lists every (workload, batch, partition) it needs; `run_pending`
    then searches them all at once, spread over worker processes."""

    def __init__(self, workloads: dict[str, object], search_fn=None):
        """``search_fn(model, system, batch) -> Timing`` replaces the split search (tests)."""
        self.workloads = workloads       # name -> Model
        self._cache: dict[tuple, Timing] = {}
        self.searches = 0
        self._search = search_fn
        self.collecting = False
        self._pending: dict[tuple, tuple] = {}

    def run_pending(self, workers: int | None = None) -> None:
        """Search every partition noted while collecting (in parallel when there are many)."""
        items = list(self._pending.items())
        self._pending.clear()
        jobs = []
        for ck, (workload, batch, make_system) in items:
            try:
                system = make_system()
            except SpecError:
                self._cache[ck] = NO_FIT
                continue
            jobs.append((ck, (self.workloads[workload], system, batch)))
        self.searches += len(jobs)
        workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
        if self._search is not None or workers == 1 or len(jobs) < 4:
            for ck, args in jobs:
                self._cache[ck] = self._search(*args) if self._search is not None else _search_one(args)
            return
        from concurrent.futures import ProcessPoolExecutor

        # largest partitions first: they take longest, so the pool ends evenly
        jobs.sort(key=lambda kv: -kv[1][1].chips)
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for (ck, _), t in zip(jobs, ex.map(_search_one, [a for _, a in jobs])):
                self._cache[ck] = t

    def time(self, workload: str, batch: int, system_key: tuple, make_system) -> Timing:
        """Timing of ``workload`` at ``batch`` on the partition whose System ``make_system`` builds;
        ``system_key`` names that System (equal keys, equal Systems) for the cache."""
        ck = (workload, batch, system_key)
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        if self.collecting:
            self._pending.setdefault(ck, (workload, batch, make_system))
            return STAND_IN
        self._pending[ck] = (workload, batch, make_system)
        self.run_pending(1)
        return self._cache[ck]

    def reference(self, workload: str, batch: int, gpus: float) -> Timing:
        """The workload on ``gpus`` reference GPUs (rounded up to a buildable count)."""
        from ...hardware import with_devices

        base = _reference_system()
        node = base.level_chips(0)
        n = max(1, math.ceil(gpus - 1e-9))
        if n > node:
            n = math.ceil(n / node) * node
        return self.time(workload, batch, (REFERENCE, n), lambda: with_devices(base, n))


@lru_cache(maxsize=1)
def _reference_system():
    from ...hardware import load_system

    return load_system(REFERENCE)


@lru_cache(maxsize=1)
def reference_peak() -> float:
    """Peak FLOP/s of one reference GPU: the unit of a job's size request."""
    from .partitions import chip_peak

    return chip_peak(_reference_system().chip)
