"""The engine's view of communication: one place that turns (dimension, collective, bytes) into
seconds for one strategy on one system, with the groups placed once and the times memoized.

It wraps the communication engineer's `placement.place` and `comm.collective_time`, and adds
the one engine-level choice about sharded data parallelism (`flat`, see `sharded_dp_flat_ring`).
"""
from __future__ import annotations

from ..assumptions import DEFAULT, Assumptions


class CommContext:
    """Collective times for the parallel groups of one strategy on one system."""

    def __init__(self, system, strategy, assumptions: Assumptions = DEFAULT):
        from .comm import collective_time
        from .placement import place

        self.system = system
        self.a = assumptions
        degrees = {"tp": strategy.tp, "cp": strategy.cp, "ep": strategy.ep, "pp": strategy.pp,
                   "dp": strategy.dp}
        self.groups = place(system, degrees, tuple(strategy.order))
        self._time = collective_time
        self._memo: dict[tuple, float] = {}

    def time(self, dim: str, kind: str, size_bytes: float) -> float:
        """Seconds of one ``kind`` collective of ``size_bytes`` over the ``dim`` group."""
        if size_bytes <= 0:
            return 0.0
        key = (dim, kind, size_bytes)
        t = self._memo.get(key)
        if t is None:
            group = self.groups.get(dim)
            if group is None or getattr(group, "n", 2) <= 1:
                t = 0.0
            else:
                t = float(self._time(kind, size_bytes, group, self.a))
            self._memo[key] = t
        return t

    def sharded(self, dim: str, kind: str, size_bytes: float) -> float:
        """A ZeRO/FSDP collective over ``dim``: as `time`, or as a flat ring over the whole group
        when `sharded_dp_flat_ring` is set - every rank's (n-1)/n share of the data then crosses
        its own port into the outermost level the group spans (never faster than `time`)."""
        t = self.time(dim, kind, size_bytes)
        if not self.a.sharded_dp_flat_ring or t == 0.0:
            return t
        key = ("flat", dim, kind, size_bytes)
        f = self._memo.get(key)
        if f is None:
            from .comm import _phases

            group = self.groups[dim]
            port = _phases(group, self.a)[-1].max_rank_bw
            n = group.n
            volume = (n - 1) / n * size_bytes * (2.0 if kind == "all_reduce" else 1.0)
            f = max(t, volume / port) if port > 0 else t
            self._memo[key] = f
        return f


class LeastComm:
    """The least time any of several `CommContext`s (one strategy under different level orders)
    gives each collective.

    Every term of a step grows with every collective time it reads (a sum, an overlap, a max),
    so a step costed with these least times is a lower bound on the step of each order: the
    search bounds a whole group of orders with one estimate. The groups' membership (which
    derived groups exist) is the same for every order.
    """

    def __init__(self, contexts: list):
        self.contexts = contexts
        self.groups = contexts[0].groups
        self.a = contexts[0].a
        self._memo: dict[tuple, float] = {}

    def time(self, dim: str, kind: str, size_bytes: float) -> float:
        key = (dim, kind, size_bytes)
        t = self._memo.get(key)
        if t is None:
            t = self.contexts[0].time(dim, kind, size_bytes)
            for c in self.contexts[1:]:
                t = min(t, c.time(dim, kind, size_bytes))
            self._memo[key] = t
        return t

    def sharded(self, dim: str, kind: str, size_bytes: float) -> float:
        key = ("sharded", dim, kind, size_bytes)
        t = self._memo.get(key)
        if t is None:
            t = self._memo[key] = min(c.sharded(dim, kind, size_bytes) for c in self.contexts)
        return t
