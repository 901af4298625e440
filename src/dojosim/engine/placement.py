"""Placement: where the groups of each parallel dimension sit on the hardware tree.

Ranks are laid out innermost-first in ``order`` (default tp, cp, ep, pp, dp: tensor-parallel
ranks are neighbours, data-parallel ranks are far apart), and rank r runs on chip r, chips being
numbered so that the children of one instance of a level are consecutive (the layout Megatron
and NCCL use on DGX nodes, and that a Dojo compiler uses when it carves a slice of the mesh).

For every dimension, a `Group` records per hardware level:

- ``spans[i]``: how many different children of one instance of level i the ranks of one group
  occupy (1 = the group does not communicate across level i);
- ``sharers[i]``: how many ranks inside one child of level i send across level i at the same
  time (this rank included) when every group of that dimension runs its collective at once:
  they share the child's ports (the 8 GPUs of a DGX node share its 8 NICs; the 25 D1s of a tile
  share the tile's edge links). 0 where the group does not cross the level;
- ``inside[i]``: how many ranks of the group sit inside one child of level i (the product of
  the inner spans when groups line up with the levels; the smallest such count when groups
  straddle level boundaries, since that child's ranks carry the most data outwards). 0 where
  the group does not cross the level;
- ``grids[i]``: on mesh, torus and ring levels, the sub-grid the group uses, one
  ``(extent, hop_stride, wraps)`` per topology dimension.

Expert parallelism does not add devices: its ranks are the innermost ``ep`` ranks of the
cp x dp ranks (Megatron-core folds CP into the expert data-parallel space the same way).
Besides the five dimensions, `place` returns two derived groups the engine needs: ``dp_cp``
(the gradient reduction group when cp > 1) and ``edp`` (expert-data-parallel: the ranks that
hold the same experts and reduce their gradients).

Results are cached by the system's network figures, so placing the same split twice is free.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..errors import StrategyError

DIMS = ("tp", "cp", "ep", "pp", "dp")
GRID_KINDS = ("mesh2d", "torus", "ring")


class Group:
    """The ranks of one parallel dimension that communicate together, seen against the levels.

    Plain attributes (no validation) because the strategy search reads them in its hot loop.
    ``levels`` is the network description of the system the group was placed on (one tuple per
    level, see `level_info`); `dojosim.engine.comm` reads it, so a Group carries what costing it
    needs.
    """

    __slots__ = ("dim", "n", "spans", "sharers", "inside", "grids", "levels", "_phases", "_layout")

    def __init__(self, dim: str, n: int, spans: tuple, sharers: tuple, inside: tuple, grids: tuple,
                 levels: tuple):
        self.dim = dim
        self.n = n
        self.spans = spans
        self.sharers = sharers
        self.inside = inside
        self.grids = grids
        self.levels = levels
        self._phases = None  # filled lazily by comm (per-level costing parameters)
        self._layout = None  # filled lazily by `layout`

    @property
    def crossed(self) -> tuple[int, ...]:
        """Indices of the levels this group communicates across, innermost first."""
        return tuple(i for i, s in enumerate(self.spans) if s > 1)

    @property
    def outermost(self) -> int:
        """The outermost level the group crosses (-1 when n == 1)."""
        c = self.crossed
        return c[-1] if c else -1

    def __repr__(self) -> str:
        return (f"Group({self.dim}, n={self.n}, spans={self.spans}, sharers={self.sharers}, "
                f"inside={self.inside}, grids={self.grids})")


# --- the system, reduced to the figures placement and costing need ---------------------------

def level_info(system) -> tuple:
    """One hashable tuple per level, innermost first:
    (name, children, kind, shape, link_bandwidth, latency_s, egress_bandwidth, oversubscription).

    Duck-typed on `dojosim.hardware.Level`; used as the cache key, so editing a system in place
    and placing again gives fresh results.
    """
    out = []
    for lv in system.levels:
        topo = lv.topology
        shape = getattr(topo, "shape", None)
        out.append((lv.name, int(lv.children), topo.kind, tuple(shape) if shape else None,
                    float(lv.link_bandwidth), float(lv.latency_s),
                    float(getattr(lv, "egress_bandwidth", None) or 0.0) or None,
                    float(getattr(topo, "oversubscription", 1.0) or 1.0)))
    return tuple(out)


def _grid_shape(kind: str, shape, children: int) -> tuple[int, ...]:
    if shape:
        return tuple(shape)
    if kind == "mesh2d":  # a mesh without a shape: the most square grid holding the children
        a = int(math.isqrt(children))
        while children % a:
            a -= 1
        return (children // a, a)
    return (children,)


# --- the public entry point ------------------------------------------------------------------

def place(system, degrees: dict, order: tuple = DIMS) -> dict:
    """Map the parallel degrees onto ``system``'s levels; dim -> `Group`.

    Keys of the result: tp, cp, ep, pp, dp, and the derived dp_cp and edp.
    Raises `StrategyError` (naming ``strategy.order`` or the degree) for impossible mappings.
    """
    degs = tuple(1 if degrees.get(d) is None else int(degrees[d]) for d in DIMS)
    # a fresh dict each call: callers may add to it without touching the cache
    return dict(_place_cached(level_info(system), degs, tuple(order)))


@lru_cache(maxsize=4096)
def _place_cached(levels: tuple, degs: tuple, order: tuple) -> dict:
    deg = dict(zip(DIMS, degs))
    for d, v in deg.items():
        if v < 1:
            raise StrategyError(f"strategy.{d}", f"must be at least 1, got {v}")
    bad = [d for d in order if d not in DIMS]
    if bad or len(set(order)) != len(order) or any(d not in order for d in DIMS if d != "ep"):
        raise StrategyError("strategy.order", f"must list each of {', '.join(DIMS)} once (innermost first), got {list(order)}")
    layout = [d for d in order if d != "ep"]
    stride, s = {}, 1
    for d in layout:
        stride[d] = s
        s *= deg[d]
    n_ranks = s
    sizes = [1]
    for lv in levels:
        sizes.append(sizes[-1] * lv[1])
    chips = sizes[-1]
    if n_ranks > chips:
        raise StrategyError("strategy.dp", f"tp*cp*pp*dp = {n_ranks} ranks, but the system has {chips} chips")

    # cp and dp form the space expert parallelism lives in; the one listed first is inner.
    inner, outer = ("cp", "dp") if order.index("cp") < order.index("dp") else ("dp", "cp")
    a, b = deg[inner], deg[outer]
    sa, sb = stride[inner], stride[outer]
    ep = deg["ep"]
    if (a * b) % ep:
        raise StrategyError("strategy.ep", f"ep={ep} must divide dp*cp = {a * b}")
    if ep <= a:
        if a % ep:
            raise StrategyError("strategy.ep", f"ep={ep} must divide {inner}={a} (or be a multiple of it)")
        ep_f = [(sa, ep)]
        edp_f = [(sa * ep, a // ep), (sb, b)]
    else:
        if ep % a:
            raise StrategyError("strategy.ep", f"ep={ep} must divide {inner}={a} or be a multiple of it")
        ep_f = [(sa, a), (sb, ep // a)]
        edp_f = [(sb * (ep // a), b // (ep // a))]
    factors = {d: [(stride[d], deg[d])] for d in layout}
    factors["ep"] = ep_f
    factors["dp_cp"] = [(sa, a), (sb, b)]
    factors["edp"] = edp_f

    sizes = tuple(sizes)
    return {d: _group(d, _merge(f), levels, sizes, n_ranks) for d, f in factors.items()}


def _merge(factors: list) -> tuple:
    """Drop size-1 factors, sort by stride, and join contiguous ones ((1,2),(2,4) -> (1,8))."""
    fs = sorted((s, n) for s, n in factors if n > 1)
    out: list = []
    for s, n in fs:
        if out and out[-1][0] * out[-1][1] == s:
            out[-1] = (out[-1][0], out[-1][1] * n)
        else:
            out.append((s, n))
    return tuple(out)


def _aligned(factors: tuple, sizes: list) -> bool:
    """True when every group of this dimension has the same shape on every level: each factor's
    stride and extent divide, or are multiples of, every level size."""
    for s, n in factors:
        e = s * n
        for size in sizes:
            if (size % s and s % size) or (size % e and e % size):
                return False
    return True


@lru_cache(maxsize=16384)
def _group(dim: str, factors: tuple, levels: tuple, sizes: tuple, n_ranks: int) -> Group:
    # cached: the orders of one split share most groups (a group depends only on the dimensions
    # inside it), and so do splits sharing a dimension's degree and stride
    n = math.prod(f[1] for f in factors)
    nl = len(levels)
    if n == 1:
        return Group(dim, 1, (1,) * nl, (0,) * nl, (0,) * nl, (None,) * nl, levels)
    if _aligned(factors, sizes):
        return _group_aligned(dim, n, factors, levels, sizes, n_ranks)
    return _group_enumerated(dim, n, factors, levels, sizes, n_ranks, representative=False)


def _group_aligned(dim: str, n: int, factors: tuple, levels: tuple, sizes: list, n_ranks: int) -> Group:
    """Closed form for groups that line up with every level (the common case; no arrays).

    Each factor (stride s, count k, extent e = s*k) occupies its own digits of the chip index,
    so per level it contributes ceil(min(e, instance)/max(s, child)) distinct children and
    ceil(min(e, child)/s) ranks inside one child; the products give spans and inside."""
    spans, sharers, inside, grids = [], [], [], []
    for i, lv in enumerate(levels):
        below, size = sizes[i], sizes[i + 1]
        per = [(-(-min(s * k, size) // max(s, below)), max(s, below) // below) for s, k in factors]
        span = math.prod(c for c, _ in per)
        spans.append(span)
        if span == 1:
            sharers.append(0)
            inside.append(0)
            grids.append(None)
            continue
        sharers.append(min(below, n_ranks))
        inside.append(math.prod(-(-min(s * k, below) // s) for s, k in factors))
        if lv[2] in GRID_KINDS:
            local = [0]
            for c, step in per:
                local = [x + j * step for x in local for j in range(c)]
            grids.append(_sub_grid(local, _grid_shape(lv[2], lv[3], lv[1]), lv[2] != "mesh2d"))
        else:
            grids.append(None)
    return Group(dim, n, tuple(spans), tuple(sharers), tuple(inside), tuple(grids), levels)


def _group_enumerated(dim: str, n: int, factors: tuple, levels: tuple, sizes: list, n_ranks: int,
                      representative: bool) -> Group:
    """Exact spans by listing ranks: one group (``representative``) or all of them (the worst
    group per level counts, for groups that straddle level boundaries).

    The ranks are listed group by group (groups in order of their lowest rank), each group's
    ascending, so the (group, child) and (group, instance) runs of every level are already
    sorted: they are found where the keys change, without sorting."""
    ix = np.int32 if n_ranks < 2**31 else np.int64   # (int32 divides faster)
    offsets = np.zeros(1, dtype=ix)
    for s, k in factors:
        offsets = (offsets[:, None] + s * np.arange(k, dtype=ix)[None, :]).ravel()
    offsets.sort()
    if representative:
        bases = np.zeros(1, dtype=ix)
    else:
        ranks = np.arange(n_ranks, dtype=ix)
        base = ranks.copy()
        for s, k in factors:
            base -= ((ranks // s) % k) * s
        bases = np.flatnonzero(base == ranks).astype(ix)   # each group's lowest rank, ascending
    members = (bases[:, None] + offsets[None, :]).ravel()
    total = members.size
    first = np.zeros(total + 1, dtype=bool)       # a group's first member (and the end)
    first[::n] = True

    spans, sharers, inside, grids = [], [], [], []
    for i, lv in enumerate(levels):
        below, kids = sizes[i], lv[1]
        child = members // below                  # global index of the child holding each rank
        # runs of one (group, child): the children of one group and how many of its ranks each holds
        new_pair = first.copy()
        new_pair[1:total] |= child[1:] != child[:-1]
        edges = np.flatnonzero(new_pair)
        pair_at = edges[:-1]
        per_child = edges[1:] - pair_at
        pc = child[pair_at]
        # runs of pairs of one (group, instance of level i): how many children each spans
        new_key = first[edges]
        inst = pc // kids
        new_key[1:-1] |= inst[1:] != inst[:-1]
        key_edges = np.flatnonzero(new_key)
        cnt = key_edges[1:] - key_edges[:-1]
        span = int(cnt.max())
        spans.append(span)
        if span == 1:
            sharers.append(0)
            inside.append(0)
            grids.append(None)
            continue
        crossing_pair = np.repeat(cnt > 1, cnt)   # pairs of a group that crosses level i
        inside.append(int(per_child[crossing_pair].min()))
        if representative:
            sharers.append(min(below, n_ranks))  # every rank of the child belongs to a crossing group
        else:
            crossing = np.repeat(crossing_pair, per_child)
            sharers.append(int(np.bincount(child[crossing]).max()))
        if lv[2] in GRID_KINDS:
            worst = np.argmax(cnt)
            local = (pc[key_edges[worst]:key_edges[worst + 1]] % kids).tolist()
            grids.append(_sub_grid(local, _grid_shape(lv[2], lv[3], kids), lv[2] != "mesh2d"))
        else:
            grids.append(None)
    return Group(dim, n, tuple(spans), tuple(sharers), tuple(inside), tuple(grids), levels)


def _sub_grid(local: list, shape: tuple, torus: bool) -> tuple:
    """(extent, hop_stride, wraps) per dimension for the children ``local`` of a grid ``shape``
    (first dimension fastest)."""
    out = []
    step = 1
    for size in shape:
        coords = sorted({(c // step) % size for c in local})
        step *= size
        e = len(coords)
        if e == 1:
            out.append((1, 1, False))
            continue
        h = min(y - x for x, y in zip(coords, coords[1:]))
        out.append((e, h, torus and e * h == size))
    return tuple(out)


# --- what the search needs: which level orders place the groups differently -----------------

def switch_levels(sizes) -> tuple:
    """`level_info` tuples for a system known only by its children per level (innermost first):
    one switch per level, unit figures (the layout does not depend on them)."""
    return tuple((f"level{i}", int(n), "switch", None, 1.0, 0.0, None, 1.0) for i, n in enumerate(sizes))


def layout(levels: tuple, degrees: dict, order: tuple) -> tuple:
    """What costing sees of a placement, hashable: per group its size, spans, sharers, inside and
    the grid dimensions it spans (extent > 1, in grid order: `topology.level_phases` skips the
    others, so a group along the rows of a square mesh costs as one along its columns) on
    ``levels`` (`level_info`). Two orders with the same layout cost the same, so the search keeps
    one of them. An order `place` refuses is its own layout (the estimate says why)."""
    degs = tuple(1 if degrees.get(d) is None else int(degrees[d]) for d in DIMS)
    try:
        groups = _place_cached(levels, degs, tuple(order))
    except StrategyError:
        return ("refused", tuple(order))
    return tuple(_group_layout(groups[d]) for d in _LAYOUT_DIMS)


_LAYOUT_DIMS = DIMS + ("dp_cp", "edp")


def _group_layout(g: Group) -> tuple:
    if g._layout is None:  # groups are cached and shared, so this runs once per group
        g._layout = (g.dim, g.n, g.spans, g.sharers, g.inside,
                     tuple(None if grid is None else tuple(x for x in grid if x[0] > 1) for grid in g.grids))
    return g._layout
