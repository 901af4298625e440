"""The engine's view of communication: one place that turns (dimension, collective, bytes) into
seconds for one strategy on one system, with the groups placed once and the times memoized.

It wraps the communication engineer's `placement.place` and `comm.collective_time`.
"""
from __future__ import annotations


class CommContext:
    """Collective times for the parallel groups of one strategy on one system."""

    def __init__(self, system, strategy):
        from .comm import collective_time
        from .placement import place

        self.system = system
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
            if group is None or getattr(group, "size", 2) <= 1:
                t = 0.0
            else:
                t = float(self._time(kind, size_bytes, group, self.system))
            self._memo[key] = t
        return t
