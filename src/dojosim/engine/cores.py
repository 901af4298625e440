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


def _ceil(a: float, b: float) -> int:
    c = int(a / b - 1e-9)
    return c + 1 if c * b < a - 1e-9 else max(c, 1)


@lru_cache(maxsize=65536)
def matrix_time(ca: CoreArray, groups: float, m: float, n: float, k: float, eb: float) -> tuple[float, str]:
    """Seconds and the binding resource of ``groups`` independent (m x k) @ (k x n) GEMMs on
    one chip; operands in ``eb``-byte elements, partial sums in fp32. (Memoized: a search asks
    for the same shapes over and over.)"""
    if m <= 0 or n <= 0 or k <= 0 or groups <= 0:
        return 0.0, "mac"
    mm, mn, mk = ca.mac
    P = ca.cores
    tm, tn, tk = _ceil(m, mm), _ceil(n, mn), _ceil(k, mk)   # array tiles along each dimension
    g = max(int(round(groups)), 1)
    frag = (mm * mk + mk * mn) * eb                             # bytes the array reads per step
    if g >= P:
        # whole GEMMs per node: activations local, the group's weights arrive over the mesh
        per = _ceil(g, P)
        steps = per * tm * tn * tk
        return _slowest(ca, steps, steps * frag, per * n * k * eb, per * m * n * eb)
    c = P // g                                                  # nodes per GEMM
    # Output columns per node row: powers of two around the split that balances the A and B
    # panels each node receives (pc ~ sqrt(c n / m)), capped by the array tiles available.
    ideal = math.sqrt(c * n / m)
    top = min(c, tn)
    base = int(math.log2(max(ideal, 1.0)))
    cands = {1} | {2 ** (base + d) for d in (-1, 0, 1) if base + d >= 0 and 2 ** (base + d) <= top}
    t_side = math.sqrt(max(ca.tile_bytes / (ca.acc_bytes + 2.0 * eb), 1.0))
    best = None
    for pc in cands:
        pr = min(c // pc, tm)
        ks = min(max(c // (pr * pc), 1), tk)                    # reduction cut over idle nodes
        bm, bn, bk = _ceil(tm, pr) * mm, _ceil(tn, pc) * mn, _ceil(tk, ks) * mk
        steps = (bm // mm) * (bn // mn) * (bk // mk)
        # A rows are local to one node of each output row and shared with the other pc - 1;
        # the B panel (weights) arrives whole. Blocks beyond the node's SRAM share are cut into
        # square output tiles, each re-reading its A and B panels.
        a_in, b_in = bm * bk * eb * (pc - 1) / pc, bk * bn * eb
        restream = max(1.0, min(bm, bn) / t_side) if bm * bn * ca.acc_bytes > ca.tile_bytes else 1.0
        inbound = (a_in + b_in) * restream + (bm * bn * ca.acc_bytes * (ks - 1) / ks if ks > 1 else 0.0)
        cand = _slowest(ca, steps, steps * frag, inbound, bm * bn * eb)
        if best is None or cand[0] < best[0]:
            best = cand
    return best


def _slowest(ca: CoreArray, steps: float, loaded: float, inbound: float, out: float) -> tuple[float, str]:
    mac = steps * ca.cycle_flops / (ca.core_peak * ca.issue_eff)
    sram = max(loaded / ca.load_bw, (inbound + out) / ca.store_bw)
    mesh = inbound / ca.mesh_in_bw
    if mac >= sram and mac >= mesh:
        return mac, "mac"
    return (sram, "sram") if sram >= mesh else (mesh, "mesh")


def vector_time(ca: CoreArray, flops: float, read_bytes: float, write_bytes: float) -> tuple[float, str]:
    """Seconds and the binding resource of element-wise work spread over every node (each node
    works on the rows it already holds: nothing crosses the mesh)."""
    P = ca.cores
    simd = flops / (P * ca.simd_flops * ca.simd_eff)
    sram = max(read_bytes / (P * ca.load_bw), write_bytes / (P * ca.store_bw))
    return (simd, "simd") if simd >= sram else (sram, "sram")


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
