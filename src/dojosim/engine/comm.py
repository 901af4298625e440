"""Collective costs on the real topology of each level: α-β, hierarchical, with link sharing.

``collective_time(kind, size_bytes, group, assumptions) -> seconds`` for kind in all_reduce,
reduce_scatter, all_gather, all_to_all, p2p, broadcast. ``size_bytes`` is the full buffer a rank
holds: all_reduce S in and out; reduce_scatter S in, S/n out; all_gather S/n in, S out;
all_to_all S sent by each rank in total; p2p and broadcast the message.

A group that crosses several levels runs one phase per level (`docs/communication.md`):
reduce-scatter innermost first, so the slow outer links carry only 1/(ranks inside) of the data;
all-gather the mirror image; all-reduce = reduce-scatter in, all-reduce at the outermost level,
all-gather out. Per level the algorithm fits the topology (`topology.py`): ring or tree on a
switch / fat tree, dimension-ordered rings on a mesh or torus sub-grid. The bandwidth terms of
the levels combine as set by `comm_level_overlap` (pipelined: the slowest level); latency terms add.

Everything here is plain floats: the per-level parameters are computed once per Group and kept
on it, so a call is a few dozen float operations.
"""
from __future__ import annotations

from ..assumptions import DEFAULT, Assumptions
from . import topology as T

KINDS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "p2p", "broadcast")


def _phases(group, a: Assumptions = DEFAULT) -> tuple:
    """Per crossed level: the `topology.Phase` parameters, innermost first; cached on the group
    together with the two assumptions they were computed from."""
    key = (a.comm_bandwidth_efficiency, a.comm_step_overhead_s)
    cached = group._phases
    if cached is None or cached[0] != key:
        cached = group._phases = (key, T.level_phases(group, a))
    return cached[1]


def collective_time(kind: str, size_bytes: float, group, a: Assumptions = DEFAULT) -> float:
    """Seconds for one collective of ``kind`` over ``group`` (a `placement.Group`) under the
    assumptions ``a`` (link efficiency, per-step and launch costs, level overlap)."""
    if group.n <= 1 or size_bytes <= 0.0:
        return 0.0
    phases = _phases(group, a)
    if kind == "all_reduce":
        bw, lat = _all_reduce(phases, size_bytes)
    elif kind == "reduce_scatter" or kind == "all_gather":
        bw, lat = _scatter_gather(phases, size_bytes)
    elif kind == "all_to_all":
        bw, lat = _all_to_all(phases, size_bytes, group.n)
    elif kind == "p2p":
        return a.collective_launch_s + T.p2p(phases[-1], size_bytes)
    elif kind == "broadcast":
        bw, lat = _broadcast(phases, size_bytes)
    else:
        raise ValueError(f"unknown collective {kind!r}; expected one of {', '.join(KINDS)}")
    return a.collective_launch_s + _combine(bw, a.comm_level_overlap) + lat


def _combine(terms: list, overlap: float) -> float:
    """Bandwidth terms of the levels: the slowest, plus the unoverlapped rest."""
    if len(terms) == 1:
        return terms[0]
    top = max(terms)
    return top + (1.0 - overlap) * (sum(terms) - top)


def _scatter_gather(phases: tuple, size: float) -> tuple:
    """Innermost level first: each level works on what is left after the levels inside it."""
    bw, lat = [], 0.0
    for ph in phases:
        b, l = T.reduce_scatter(ph, size / ph.inside)
        bw.append(b)
        lat += l
    return bw, lat


def _all_reduce(phases: tuple, size: float) -> tuple:
    bw, lat = [], 0.0
    last = len(phases) - 1
    for k, ph in enumerate(phases):
        if k < last:  # reduce-scatter on the way out, all-gather on the way back
            b, l = T.reduce_scatter(ph, size / ph.inside)
            bw.append(2.0 * b)
            lat += 2.0 * l
        else:
            b, l = T.all_reduce(ph, size / ph.inside)
            bw.append(b)
            lat += l
    return bw, lat


def _all_to_all(phases: tuple, size: float, n: int) -> tuple:
    """Each rank sends size/n to every rank; the share for ranks outside its own child of level
    i (but inside its instance of level i) crosses level i."""
    bw, lat = [], 0.0
    for k, ph in enumerate(phases):
        outside = phases[k + 1].inside if k + 1 < len(phases) else n
        peers = max(1, outside - ph.inside)
        b, l = T.all_to_all(ph, size * peers / n, peers)
        bw.append(b)
        lat += l
    return bw, lat


def _broadcast(phases: tuple, size: float) -> tuple:
    bw, lat = [], 0.0
    for ph in phases:
        b, l = T.broadcast(ph, size)
        bw.append(b)
        lat += l
    return bw, lat


def bandwidth_lower_bound(kind: str, size_bytes: float, group, a: Assumptions = DEFAULT) -> float:
    """A bound no algorithm beats on this placement (used by the property tests): the data that
    must leave one child of the outermost crossed level, through that child's share of the
    ports, at full efficiency-adjusted rate."""
    if group.n <= 1 or size_bytes <= 0.0:
        return 0.0
    ph = _phases(group, a)[-1]
    inside = ph.inside                            # ranks of the group inside one child
    frac = (group.n - inside) / group.n
    volume = {"all_reduce": size_bytes / inside,
              "reduce_scatter": frac * size_bytes / inside,
              "all_gather": frac * size_bytes / inside,
              "all_to_all": frac * size_bytes,
              "p2p": size_bytes / inside,
              "broadcast": size_bytes / inside}[kind]
    return volume / ph.max_rank_bw
