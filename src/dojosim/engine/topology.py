"""Collective algorithms on ONE level of the hardware tree, as α-β closed forms.

A `Phase` holds what one crossed level offers one rank of a group: its share of the ports or
links (bytes/s per direction, efficiency applied, divided among the ranks that use them at the
same time) and the latency of one algorithm step. The functions return ``(bandwidth_s,
latency_s)`` so that `comm` can pipeline the bandwidth parts of several levels and add up the
latencies.

Switch and fat tree (every child has its own port into a non-blocking fabric, a fat tree
divided by its oversubscription):
  ring reduce-scatter / all-gather   (n-1)/n * D/B + (n-1) a
  ring all-reduce                    2(n-1)/n * D/B + 2(n-1) a
  double-binary-tree all-reduce      2 D/B + 2 ceil(log2 n) a     (the cheaper of the two is used)
  all-to-all (all peers at once)     D_out/B + a + (peers-1) o     (o: per-message software cost)
  p2p                                D/B + a
  broadcast (pipelined tree)         D/B + ceil(log2 n) a
Mesh, torus and ring (the group's sub-grid, one ring per line of each dimension, all lines at
once on disjoint links; dimensions one after another, data shrinking by the extent each time):
  reduce-scatter   sum_d (e_d-1)/e_d * D_d/B_d + (e_d-1) a_d,  D_{d+1} = D_d / e_d
  B_d = link share, twice that where the line closes into a ring (torus wrap-around: two rings
  in opposite directions each carry half). A line without wrap-around embeds its ring with the
  return edge on the reverse-direction links, so it runs at one link's rate.
  all-reduce = reduce-scatter + all-gather;  all-to-all: the larger of the injection bound
  (ports of a node) and the bisection bound n D/(4 * cut links * B).
"""
from __future__ import annotations

import math

from ..assumptions import DEFAULT, Assumptions

SWITCH, GRID = 0, 1


class Phase:
    """One crossed level, as seen by one rank of one group."""

    __slots__ = ("level", "topo", "n", "inside", "frac", "bw", "p2p_bw", "alpha", "p2p_alpha", "dims",
                 "cut_bw", "max_rank_bw", "step")

    def __init__(self, level, topo, n, inside, bw, p2p_bw, alpha, p2p_alpha, dims=(), cut_bw=0.0,
                 max_rank_bw=0.0, step=0.0):
        self.level = level          # level index
        self.topo = topo            # SWITCH or GRID
        self.n = n                  # ranks of the group in distinct children (span)
        self.inside = inside        # ranks of the group inside one child (data shrinks by this)
        self.frac = (n - 1) / n     # share of the data a rank's child must send out (set below)
        self.bw = bw                # switch: bytes/s per rank per direction
        self.p2p_bw = p2p_bw        # p2p: bytes/s for one sender
        self.alpha = alpha          # s per algorithm step
        self.p2p_alpha = p2p_alpha
        self.dims = dims            # grid: ((extent, ring bytes/s, alpha), ...) fastest first
        self.cut_bw = cut_bw        # grid: per-rank share of the bisection cut, bytes/s
        self.max_rank_bw = max_rank_bw  # most a rank can push out of its child, bytes/s
        self.step = step            # software cost of one more message (comm_step_overhead_s)

    def __repr__(self) -> str:
        return (f"Phase(level={self.level}, topo={'grid' if self.topo else 'switch'}, n={self.n}, "
                f"bw={self.bw:.4g}, alpha={self.alpha:.3g}, dims={self.dims})")


def level_phases(group, assumptions: Assumptions = DEFAULT) -> tuple:
    """The per-level parameters of a placed group (see `placement.Group`)."""
    levels = group.levels
    sizes = [1]
    for lv in levels:
        sizes.append(sizes[-1] * lv[1])
    eff = assumptions.comm_bandwidth_efficiency
    step = assumptions.comm_step_overhead_s
    out = []
    for i, span in enumerate(group.spans):
        if span <= 1:
            continue
        inside = max(1, group.inside[i])  # ranks of the group inside one child of this level
        _, _, kind, _, link, lat, _, oversub = levels[i]
        sharers = max(1, group.sharers[i])
        # Only the ranks next to a child's boundary send point-to-point across it.
        p2p_sharers = max(1, -(-sharers // inside))
        if kind in ("switch", "fat_tree"):
            port = link
            # A child cannot push more than its own egress (and that of everything inside it).
            for j in range(i):
                eg = levels[j][6]
                if eg:
                    port = min(port, eg * sizes[i] / sizes[j + 1])
            if kind == "fat_tree":
                port /= oversub
            port *= eff
            out.append(Phase(i, SWITCH, span, inside, port / sharers, port / p2p_sharers, lat + step, lat + step,
                             max_rank_bw=port / sharers, step=step))
        else:
            dims, inject = [], 0.0
            cut_bw, biggest = 0.0, 0
            p2p_bw, p2p_alpha = 0.0, 0.0
            for e, h, wraps in group.grids[i]:
                if e <= 1:
                    continue
                share = link * eff / (sharers * h)   # interleaved groups share every h-th link
                ring = share * (2.0 if wraps and e > 2 else 1.0)
                a = step + lat * h
                dims.append((e, ring, a))
                inject += 2.0 * share
                if not p2p_bw:
                    p2p_bw, p2p_alpha = link * eff / (p2p_sharers * h), a
                if e > biggest:
                    biggest = e
                    cut = span // e * (2 if wraps and e > 2 else 1)
                    cut_bw = cut * share
            dims.sort(key=lambda d: -d[1])  # fastest dimension first: it carries the most data
            out.append(Phase(i, GRID, span, inside, max(d[1] for d in dims), p2p_bw, dims[0][2], p2p_alpha,
                             tuple(dims), cut_bw, inject, step))
    # Where groups straddle boundaries unevenly, a child holding few ranks of its group must
    # send more than (span-1)/span of the data out: 1 - inside/outside, the larger of the two.
    for k, ph in enumerate(out):
        outside = out[k + 1].inside if k + 1 < len(out) else group.n
        ph.frac = max(ph.frac, 1.0 - ph.inside / outside)
    return tuple(out)


# --- algorithms on one level: each returns (bandwidth seconds, latency seconds) ---------------

def reduce_scatter(ph: Phase, data: float) -> tuple:
    """Reduce-scatter of ``data`` bytes per rank (the same cost for all-gather to ``data``)."""
    if ph.topo == SWITCH:
        return ph.frac * data / ph.bw, (ph.n - 1) * ph.alpha
    bw_t = lat = 0.0
    for e, ring, a in ph.dims:
        bw_t += (e - 1) / e * data / ring
        lat += (e - 1) * a
        data /= e
    # uneven straddling groups: scale by how much more than (n-1)/n the child must send
    return bw_t * ph.frac * ph.n / (ph.n - 1), lat


def all_reduce(ph: Phase, data: float) -> tuple:
    b, l = reduce_scatter(ph, data)
    ring = (2.0 * b, 2.0 * l)
    if ph.topo == SWITCH and ph.n > 2:
        steps = math.ceil(math.log2(ph.n))
        tree = (2.0 * data / ph.bw, 2.0 * steps * ph.alpha)
        if tree[0] + tree[1] < ring[0] + ring[1]:
            return tree
    return ring


def all_to_all(ph: Phase, out_bytes: float, peers: int) -> tuple:
    """Each rank sends ``out_bytes`` across this level, to ``peers`` ranks. The messages to all
    peers are posted at once (NCCL's grouped send/recv), so the wire latency is paid once and
    each further peer adds only the per-message software cost."""
    lat = ph.alpha + (peers - 1) * ph.step
    if ph.topo == SWITCH:
        return out_bytes / ph.bw, lat
    inject = out_bytes / ph.max_rank_bw
    bisect = ph.n * out_bytes / (4.0 * ph.cut_bw)
    return max(inject, bisect), lat


def p2p(ph: Phase, data: float) -> float:
    return data / ph.p2p_bw + ph.p2p_alpha


def broadcast(ph: Phase, data: float) -> tuple:
    if ph.topo == SWITCH:
        return data / ph.bw, math.ceil(math.log2(ph.n)) * ph.alpha
    return data / ph.bw, sum((e - 1) * a for e, _, a in ph.dims)
