"""Compute on a chip built of many small cores with their own SRAM (Tesla's D1), from its
microarchitecture rather than from a GPU efficiency curve.

A D1 (docs/sources.md §1a) is 354 nodes; each has 1.25 MB SRAM (400 GB/s load, 270 GB/s store), one
8x8x4 MAC array (256 MAC per cycle = 1,024 GFLOPS BF16), a 64 B SIMD unit (64 GFLOPS FP32) and a
router on a 2-D mesh (512 GB/s per direction). An op's time on one chip is the slowest of:

  mac     matrix work: the GEMM cut over the nodes (output rows x columns, then its reduction
          depth when the output is too small to fill them) and quantized to the array's shape:
          every step is a full 8x8x4 step, however much of it is padding;
  simd    vector work (norms, activations, and a narrow-group convolution when the SIMD unit
          beats a badly filled array) at the SIMD unit's rate;
  sram    each node's load and store ports: the array reads its A and B fragments every step,
          and every byte arriving over the mesh is stored into SRAM;
  mesh    operands and partial sums moving between nodes: a node owns rows of the activation,
          receives the weights (B panel) it multiplies by, the A rows it shares with the nodes
          of its output row, and, when the reduction is cut over nodes, partial sums; operand
          blocks larger than the node's SRAM share are re-streamed once per output tile.

All of these overlap (nodes run compute and communication threads side by side, HC34), so the
op takes the largest; the chip's per-op synchronisation cost is added by the caller.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

BOUNDS = ("mac", "simd", "sram", "mesh")


@dataclass(frozen=True, slots=True, eq=False)   # hashed by identity: make_core_array reuses one
class CoreArray:
    """One chip's nodes, as plain floats (built from the chip's ``efficiency`` data)."""

    cores: int
    mac: tuple[int, int, int]      # (m, n, k) of one matrix-unit step
    core_peak: float               # FLOP/s of one node's matrix unit in the run's precision
    simd_flops: float              # FLOP/s of one node's SIMD unit
    tile_bytes: float              # SRAM of one node that holds an op's operand tiles
    load_bw: float                 # bytes/s, one node (times the memory efficiency)
    store_bw: float
    mesh_in_bw: float              # bytes/s one node receives operands at (links x rate x eff.)
    issue_eff: float               # fraction of steps that issue (gemm_peak_efficiency)
    simd_eff: float                # vector_efficiency
    acc_bytes: float               # one partial sum (accumulator_bytes)

    @property
    def cycle_flops(self) -> float:
        m, n, k = self.mac
        return 2.0 * m * n * k


def _ceil(a, b):
    """ceil(a / b), at least 1, forgiving float noise (8.000000001 tiles are 8); element-wise."""
    c = np.trunc(a / b - 1e-9)
    return np.where(c * b < a - 1e-9, c + 1.0, np.maximum(c, 1.0))


def matrix_time(ca: CoreArray, groups, m, n, k, eb: float) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and the binding resource (an index into `BOUNDS`) of ``groups`` independent
    (m x k) @ (k x n) GEMMs on one chip; operands in ``eb``-byte elements, partial sums in fp32.
    Element-wise over arrays of shapes (a whole model's GEMMs in one call); a GEMM with an
    empty dimension takes no time."""
    q = np.array(np.broadcast_arrays(groups, m, n, k), dtype=float)
    valid = (q > 0).all(axis=0)
    if not valid.all():
        q[:, ~valid] = 1.0
    mm, mn, mk = ca.mac
    P = ca.cores
    g = np.maximum(np.rint(q[0]), 1.0)
    m, n, k = q[1:]
    tiles = _ceil(q[1:], np.array([[mm], [mn], [mk]], dtype=float))   # array tiles along each dimension
    tm, tn, tk = tiles
    frag = (mm * mk + mk * mn) * eb                             # bytes the array reads per step

    # Each GEMM cut over c nodes. Output columns per node row: powers of two around the split
    # that balances the A and B panels each node receives (pc ~ sqrt(c n / m)), capped by the
    # array tiles available; every candidate is costed and the fastest kept (the first of
    # equals, in the order 1, 2^(b-1), 2^b, 2^(b+1)).
    c = np.maximum(np.floor(P / g), 1.0)                       # nodes per GEMM
    ideal = np.maximum(np.sqrt(c * n / m), 1.0)
    p2 = ideal / np.frexp(ideal)[0] * 0.5                       # 2 ** floor(log2(ideal)), exactly
    pcs = p2 * np.array([[0.0], [0.5], [1.0], [2.0]])
    pcs[0] = 1.0
    ok = (pcs >= 1.0) & (pcs <= np.minimum(c, tn))
    pc = np.where(ok, pcs, 1.0)
    # (exact integers below 2**53: the floor of a quotient is the integer division's)
    pr = np.minimum(np.floor(c / pc), tm)
    ks = np.minimum(np.maximum(np.floor(c / (pr * pc)), 1.0), tk)   # reduction cut over idle nodes
    cut = _ceil(tiles[:, None], np.array([pr, pc, ks]))
    sm, sn, sk = cut
    bm, bn, bk = cut * np.array([mm, mn, mk], dtype=float).reshape(3, 1, 1)
    steps = sm * sn * sk
    # A rows are local to one node of each output row and shared with the other pc - 1; the B
    # panel (weights) arrives whole. Blocks beyond the node's SRAM share are cut into square
    # output tiles, each re-reading its A and B panels.
    t_side = math.sqrt(max(ca.tile_bytes / (ca.acc_bytes + 2.0 * eb), 1.0))
    a_in, b_in = bm * bk * eb * (pc - 1) / pc, bk * bn * eb
    out = bm * bn * ca.acc_bytes
    restream = np.where(out > ca.tile_bytes, np.maximum(1.0, np.minimum(bm, bn) / t_side), 1.0)
    partial = np.where(ks > 1, out * (ks - 1) / ks, 0.0)
    cand_t, cand_b = _slowest(ca, steps, steps * frag, (a_in + b_in) * restream + partial, bm * bn * eb)
    pick = np.argmin(np.where(ok, cand_t, np.inf), axis=0)
    t, bound = np.choose(pick, cand_t), np.choose(pick, cand_b)

    whole = g >= P
    if whole.any():
        # whole GEMMs per node: activations local, the group's weights arrive over the mesh
        per = _ceil(g, P)
        steps = per * tm * tn * tk
        whole_t, whole_b = _slowest(ca, steps, steps * frag, per * n * k * eb, per * m * n * eb)
        t, bound = np.where(whole, whole_t, t), np.where(whole, whole_b, bound)
    return np.where(valid, t, 0.0), np.where(valid, bound, 0)


def _slowest(ca: CoreArray, steps, loaded, inbound, out):
    """The slowest of the matrix unit, the SRAM ports and the mesh, and which it was (the first
    of equals in `BOUNDS` order)."""
    mac = steps * ca.cycle_flops / (ca.core_peak * ca.issue_eff)
    sram = np.maximum(loaded / ca.load_bw, (inbound + out) / ca.store_bw)
    mesh = inbound / ca.mesh_in_bw
    bound = np.where((mac >= sram) & (mac >= mesh), 0, np.where(sram >= mesh, 2, 3))
    return np.maximum(np.maximum(mac, sram), mesh), bound


def vector_time(ca: CoreArray, flops, read_bytes, write_bytes):
    """Seconds and the binding resource (1 = simd, 2 = sram) of element-wise work spread over
    every node (each node works on the rows it already holds: nothing crosses the mesh)."""
    P = ca.cores
    simd = flops / (P * ca.simd_flops * ca.simd_eff)
    sram = np.maximum(read_bytes / (P * ca.load_bw), write_bytes / (P * ca.store_bw))
    return np.maximum(simd, sram), np.where(simd >= sram, 1, 2)


@lru_cache(maxsize=256)
def make_core_array(a, tensor_peak: float, vector_peak: float) -> CoreArray | None:
    """The chip's nodes from its figures (`Assumptions.for_chip`); None for a chip without them
    (``cores`` = 0: costed as a GPU)."""
    if not (a.cores and a.mac_m and a.mac_n and a.mac_k and a.core_sram_bytes and a.core_load_bandwidth
            and a.core_store_bandwidth and a.mesh_bandwidth):
        return None
    cores = int(a.cores)
    simd = a.simd_flops or vector_peak / cores
    # a precision the matrix unit lacks (fp32 on the D1) runs on the SIMD unit
    core_peak = max(tensor_peak / cores, simd)
    return CoreArray(
        cores=cores, mac=(int(a.mac_m), int(a.mac_n), int(a.mac_k)),
        core_peak=core_peak, simd_flops=simd,
        tile_bytes=a.core_sram_bytes * a.sram_operand_fraction,
        load_bw=a.core_load_bandwidth * a.memory_efficiency, store_bw=a.core_store_bandwidth * a.memory_efficiency,
        mesh_in_bw=a.mesh_bandwidth * a.mesh_operand_links * a.comm_bandwidth_efficiency,
        issue_eff=a.gemm_peak_efficiency, simd_eff=a.vector_efficiency, acc_bytes=a.accumulator_bytes,
    )
