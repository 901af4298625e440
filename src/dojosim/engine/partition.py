"""The compiler's mapping of a CNN over the chips of a spatial (``cp``) split, block by block.

When one sample's work is spread over ``r`` chips (a Dojo tile's D1s, say), each block of the
network - a run of layers that share feature-map sizes - picks its own partition, as a
dataflow compiler would:

  images    whole images to chips (an FSD clip's cameras x frames): no exchange;
  rows, columns, depth
            slabs of every image along one spatial axis (depth for 3-D grids): each convolution
            receives kernel//2 boundary slices from each neighbour (a halo) over the mesh;
  channels  output channels to chips: every chip needs the whole input of each convolution (an
            all-gather of it, a reduce-scatter of its gradient on the way back), no halo;
  tokens    a block without convolutions (attention, linear layers on tokens): split by rows of
            its tokens, costed as context parallelism.

A partition is feasible when every convolution of the block has at least ``r`` units along it
(images; slabs at least as thick as the halo; channels). The block takes the feasible partition
with the least exchange plus load imbalance (work units that do not divide evenly over ``r``),
both in seconds at the chip's link rate. The largest ``r`` at which every block has a feasible
partition caps the spatial split (`Model.spatial_rows`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

AXES = {2: ("rows", "columns"), 3: ("depth", "rows", "columns")}


@dataclass(frozen=True)
class BlockPlan:
    """How one repetition of a block is spread over ``r`` chips, per sample and pass."""

    partition: str
    halo: float = 0.0          # elements one chip receives from EACH neighbour, all convs
    halo_ops: float = 0.0      # convolutions that exchange a halo
    gather: float = 0.0        # elements of the inputs all-gathered (channels partition)
    gather_ops: float = 0.0
    imbalance: float = 1.0     # busiest chip's work / the average chip's


def _convs(block):
    # A convolution on a pooled 1x1 map (squeeze-excitation) is tiny: every chip computes it
    # whole on the pooled vector, so it constrains no partition.
    return [op for op in block.ops if op.kind == "conv" and op.spatial and math.prod(op.spatial) > 1]


def _in_elems(op) -> float:
    return max(op.reads - op.params, 0.0)


def _imb(units: float, r: int) -> float:
    return math.ceil(units / r - 1e-9) / (units / r) if units >= r else math.inf


def options(block, r: int) -> list[BlockPlan]:
    """Every feasible partition of ``block`` over ``r`` chips (r > 1)."""
    convs = _convs(block)
    if not convs:
        halo_ops = [op for op in block.ops if op.halo > 0]
        if not halo_ops:
            return [BlockPlan("tokens")]
        # ops with a row halo but no spatial shape (traced graphs): rows, as before
        h = sum(op.halo_per_rank(r) for op in halo_ops)
        n = sum(1 for op in halo_ops if op.halo_per_rank(r) > 0)
        return [BlockPlan("rows", h, n)]
    flops = sum(op.flops for op in convs) or 1.0
    out = []
    images = min(op.images for op in convs)
    if images >= r:
        imb = sum(op.flops * _imb(op.images, r) for op in convs) / flops
        out.append(BlockPlan("images", imbalance=imb))
    nd = len(convs[0].spatial)
    if all(len(op.spatial) == nd for op in convs) and nd in AXES:
        for j, axis in enumerate(AXES[nd]):
            halo = n = imb = 0.0
            ok = True
            for op in convs:
                kh = op.kernel[j] // 2 if op.kernel else 0
                units = op.images * op.spatial[j]                 # slabs over all images
                if units / r < max(kh, 1):
                    ok = False
                    break
                if kh and (r > op.images or op.images % r):   # some image is cut between chips
                    halo += kh * _in_elems(op) / (op.images * op.spatial[j])   # one image's boundary
                    n += 1
                imb += op.flops * _imb(units, r)
            if ok:
                out.append(BlockPlan(axis, halo, n, imbalance=imb / flops))
    c_out = min(op.gemm[1] for op in convs if op.gemm)
    if c_out >= r:
        gather = sum(_in_elems(op) for op in convs)
        imb = sum(op.flops * _imb(op.gemm[1], r) for op in convs if op.gemm) / flops
        out.append(BlockPlan("channels", gather=gather, gather_ops=len(convs), imbalance=imb))
    return out


@dataclass(frozen=True, eq=False)
class Plans:
    """The partition each block takes (`plans`), as arrays over the blocks."""

    partitions: tuple[str, ...]
    halo: np.ndarray
    halo_ops: np.ndarray
    gather: np.ndarray
    gather_ops: np.ndarray
    imbalance: np.ndarray


_FIELDS = ("halo", "halo_ops", "gather", "gather_ops", "imbalance")


@dataclass(frozen=True, eq=False)
class _Options:
    """The feasible partitions of each of a run of blocks over ``r`` chips, padded to one width:
    per block and option the bytes-per-element moved (both neighbours' halos; a gather moves
    (r-1)/r of the input in and, backward, out), the imbalance's extra compute fraction, and
    the `BlockPlan` fields."""

    names: tuple[tuple[str, ...], ...]
    moved: np.ndarray          # (blocks, width), inf where a block has fewer options
    extra: np.ndarray          # imbalance - 1
    fields: np.ndarray         # (len(_FIELDS), blocks * width)


_OPTIONS: dict = {}
_OPTIONS_MAX = 1024


def _options_of(blocks: tuple, r: int) -> _Options:
    """Memoized by the blocks' identity (blocks are frozen; a search asks for the same ones for
    every micro-batch). None feasible: rows, as far as they go (the strategy check stops such
    splits before an estimate)."""
    hit = _OPTIONS.get((id(blocks), r))
    if hit is not None and hit[0] is blocks:
        return hit[1]
    opts = [options(b, r) or [BlockPlan("rows", imbalance=1.0)] for b in blocks]
    width = max((len(o) for o in opts), default=1)
    pad = (math.inf, 0.0) + (0.0,) * len(_FIELDS)
    rows = np.array([row for o in opts for row in
                     [(2.0 * p.halo + 2.0 * p.gather * (r - 1) / r, p.imbalance - 1.0, p.halo, p.halo_ops, p.gather,
                       p.gather_ops, p.imbalance) for p in o] + [pad] * (width - len(o))],
                    dtype=float).reshape(len(opts) * width, 2 + len(_FIELDS)).T
    moved, extra = rows[0].reshape(len(opts), width), rows[1].reshape(len(opts), width)
    fields = rows[2:]
    if len(_OPTIONS) >= _OPTIONS_MAX:
        _OPTIONS.clear()
    out = _Options(tuple(tuple(p.partition for p in o) for o in opts), moved, extra, fields)
    _OPTIONS[(id(blocks), r)] = (blocks, out)
    return out


def plans(blocks: tuple, r: int, compute_s: np.ndarray, link_bytes_per_s: float, element_bytes: float) -> Plans:
    """The cheapest feasible partition of each of ``blocks`` over ``r`` chips (r > 1), given one
    repetition's compute seconds of each: exchange seconds at the link rate plus the
    imbalance's extra compute (the first of equals, in `options` order)."""
    o = _options_of(blocks, r)
    cost = o.moved * element_bytes / max(link_bytes_per_s, 1.0) + o.extra * compute_s[:, None]
    pick = np.argmin(cost, axis=1)
    chosen = o.fields[:, np.arange(len(pick)) * cost.shape[1] + pick]
    return Plans(tuple(n[i] for n, i in zip(o.names, pick.tolist())), *chosen)


def limit(block) -> int | None:
    """The most chips one sample's work on ``block`` can be spread over (None: no limit here)."""
    convs = _convs(block)
    if not convs:
        rows = [op.images * max(op.reads - op.params, 0.0) / op.halo for op in block.ops if op.halo > 0]
        return int(min(rows)) if rows else None
    best = min(op.images for op in convs)
    nd = len(convs[0].spatial)
    if all(len(op.spatial) == nd for op in convs) and nd in AXES:
        for j in range(nd):
            cap = min(op.images * op.spatial[j] // max(op.kernel[j] // 2 if op.kernel else 0, 1) for op in convs)
            best = max(best, cap)
    c_out = [op.gemm[1] for op in convs if op.gemm]
    if c_out:
        best = max(best, min(c_out))
    return int(best)
