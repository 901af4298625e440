"""Compute: the time of each op of the graph on one device, as a roofline with a shape-aware
efficiency model shared by every chip.

An op takes max(FLOPs / (peak x efficiency), bytes / (bandwidth x memory_efficiency)) plus a
fixed per-kernel cost. The efficiency of a GEMM falls when one of its dimensions is comparable to
the tensor-core tile (`gemm_half_dim`); fused attention runs at a fixed fraction of a GEMM. Chips
differ only in their data: peak FLOP/s per dtype and the bandwidth of the memory the operands
live in (HBM on GPUs, SRAM on Dojo's D1).

The ops of a model are costed all at once, as numpy arrays over an `OpTable` (built once per
model): `op_costs` for one (split, micro-batch, device), `block_sums` per block. Everything here
is computed once per (model, system, precision, split, micro-batch) and cached by the caller; the
result is a handful of plain floats per block.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..workload.graph import BACKWARD_FLOP_FACTOR, COMPUTE_KINDS, Block, Op
from ..assumptions import DEFAULT, Assumptions
from .cores import CoreArray, make_core_array, matrix_time, vector_time
from .precision import precision as precision_of

# What bound each op's time, summed per block (BlockTime.bound_s), in this order: the matrix or
# vector units, a D1 node's SRAM ports or mesh (engine/cores.py), the chip's memory (HBM or the
# D1's aggregate SRAM), operands streaming from an outer pool, and the fixed per-op cost.
# The first four are engine/cores.py's BOUNDS (mac, simd, sram, mesh) by index.
BOUND_KEYS = ("matrix", "vector", "sram", "mesh", "memory", "stream", "overhead")
_MATRIX, _VECTOR, _MEMORY, _STREAM, _OVERHEAD = 0, 1, 4, 5, 6

# Vector (non tensor-core) work: norms, activations, softmax run on the fp32/vector units.
_VECTOR_KEYS = ("fp32", "tf32", "bf16")


def peak_for(peaks: dict[str, float], precision: str) -> float:
    """Peak FLOP/s of the chip's tensor units in ``precision`` (first listed fallback)."""
    for key in precision_of(precision).peak_keys:
        value = peaks.get(key)
        if value:
            return float(value)
    return float(max(peaks.values()))


def vector_peak(peaks: dict[str, float]) -> float:
    for key in _VECTOR_KEYS:
        value = peaks.get(key)
        if value:
            return float(value)
    return float(max(peaks.values()))


def dim_efficiency(d, half_dim: float):
    """Share of a GEMM's peak kept by a dimension of size ``d`` (tile quantization, reuse);
    element-wise over an array of sizes (``half_dim`` > 0)."""
    return np.where(d > 0, d / (d + half_dim), 0.0)


def gemm_efficiency(m, n, k, a: Assumptions = DEFAULT):
    e = dim_efficiency(np.array([m, n, k]), a.gemm_half_dim)
    return a.gemm_peak_efficiency * e[0] * e[1] * e[2]


@dataclass(frozen=True, slots=True)
class Split:
    """How the ops of one device are cut: tensor, sequence and context parallel."""

    tp: int = 1
    cp: int = 1
    ep: int = 1
    sequence_parallel: bool = False


# Ops whose work and parameters tensor parallelism divides; the first three also their saved
# activations without sequence parallelism (the Op.tp hints, workload/graph.py).
_TP_CUT = ("column", "row", "heads", "split")
_TP_SAVED = ("row", "heads", "split")


def _one_of(names, choices) -> np.ndarray:
    """Element-wise ``name in choices`` over an array of names (or one name)."""
    names = np.asarray(names)
    out = names == choices[0]
    for c in choices[1:]:
        out |= names == c
    return out


def _work_cut(tp, seq, sequence_parallel: bool):
    """Where tensor parallelism divides an op's work (SP splits the replicated norms and dropouts
    along the sequence); element-wise over the ops' ``tp`` hints and ``seq`` flags."""
    return _one_of(tp, _TP_CUT) | (seq & sequence_parallel)


def _saved_cut(tp, seq, sequence_parallel: bool):
    """Where tensor parallelism divides the activations an op saves. Korthikanti et al. 2022, §4:
    without sequence parallelism the input of a column-parallel GEMM (and of the norms and
    dropouts) is replicated on every tensor-parallel rank - their 10sbh term; with it, every
    saved tensor is split (34sbh/t)."""
    return _one_of(tp, _TP_SAVED) | (((np.asarray(tp) == "column") | seq) & sequence_parallel)


def _cp_tp_factor(tp_cut, split: Split):
    """cp, times tp where tensor parallelism cuts (element-wise): by how much a device's share of
    an op's work or saved activations is smaller. Context parallelism splits every op of a token
    model along the sequence (attention: the queries; each rank still attends to all keys)."""
    cp = float(split.cp)
    return np.where(tp_cut, cp * split.tp, cp)


def _params_factor(params_cut, expert, split: Split):
    """By how much a device holds fewer of an op's parameters (element-wise)."""
    return np.where(params_cut, float(split.tp), 1.0) * np.where(expert, split.ep, 1)


def shard(op: Op, split: Split) -> float:
    """Factor by which this device's share of the op's per-sample work is smaller."""
    return float(_cp_tp_factor(_work_cut(op.tp, op.seq, split.sequence_parallel), split))


def param_shard(op: Op, split: Split) -> float:
    """Factor by which this device holds fewer of the op's parameters than the whole model."""
    return float(_params_factor(op.tp in _TP_CUT, op.expert, split))


@dataclass(frozen=True, slots=True)
class OpTime:
    fwd_s: float
    bwd_s: float
    fwd_flops: float      # this device's FLOPs for one micro-batch
    bwd_flops: float
    stream_fwd_s: float = 0.0   # of fwd_s/bwd_s: exposed streaming of operands from the pool
    stream_bwd_s: float = 0.0
    bound: str = ""             # BOUND_KEYS entry that set the op's time (forward pass)


@dataclass(frozen=True, slots=True)
class Device:
    """What compute needs to know of one chip, as plain floats."""

    tensor_peak: float        # FLOP/s of the tensor units in the run's precision
    half_peak: float          # bf16/fp16 peak (fp8 runs keep non-GEMM tensor ops here)
    vector_peak: float        # FLOP/s of the vector units
    act_bandwidth: float      # bytes/s of the memory activations live in (HBM, or SRAM on D1)
    element_bytes: float
    fp8: bool
    # NVIDIA fp8 as Transformer Engine runs it: the layers' linear GEMMs in fp8, the rest bf16
    te_fp8: bool = False
    # SRAM-only chips (D1): operands beyond `fast_bytes` live in, and stream from, the pool
    # attached above the chip at `spill_bandwidth` (per chip). 0 = no such limit (GPUs: HBM).
    fast_bytes: float = 0.0
    spill_bandwidth: float = 0.0
    a: Assumptions = DEFAULT      # the efficiency figures on this chip (`Assumptions.for_chip`)
    cores: CoreArray | None = None  # a many-core chip (D1) costed from its nodes (engine/cores.py)


def make_device(chip, precision: str, act_bandwidth: float, spill_bandwidth: float = 0.0,
                a: Assumptions = DEFAULT) -> Device:
    peaks = dict(chip.peak_flops)
    sram_only = not chip.dram_bytes and spill_bandwidth > 0
    tensor, vector = peak_for(peaks, precision), vector_peak(peaks)
    return Device(
        tensor_peak=tensor,
        half_peak=peak_for(peaks, "bf16"),
        vector_peak=vector,
        act_bandwidth=act_bandwidth,
        element_bytes=precision_of(precision).element_bytes,
        fp8=precision_of(precision).fp8,
        te_fp8=precision == "fp8" and bool(peaks.get("fp8")),
        fast_bytes=chip.sram_bytes * a.sram_operand_fraction if sram_only else 0.0,
        spill_bandwidth=spill_bandwidth if sram_only else 0.0,
        a=a,
        cores=make_core_array(a, tensor, vector),
    )


def memory_time(nbytes, dev: Device):
    """Seconds to move ``nbytes`` of an op's operands, and the part of it spent streaming from
    the pool because they do not fit the chip's fast memory (always 0 on HBM chips); element-wise
    over an array of byte counts."""
    eff = dev.a.memory_efficiency
    fast_bw = dev.act_bandwidth * eff
    nbytes = np.asarray(nbytes, dtype=float)
    if dev.spill_bandwidth <= 0:
        return nbytes / fast_bw, np.zeros_like(nbytes)
    fits = nbytes <= dev.fast_bytes
    streamed = np.where(fits, 0.0, (nbytes - dev.fast_bytes) / (dev.spill_bandwidth * eff))
    return np.where(fits, nbytes / fast_bw, dev.fast_bytes / fast_bw + streamed), streamed


def _te_fp8_kind(kind, has_gemm):
    """Where an op is a linear layer's GEMM (element-wise over kinds and has-a-GEMM flags)."""
    return (np.asarray(kind) == "matmul") & has_gemm


def is_te_fp8(op: Op, dev: Device, in_layer: bool) -> bool:
    """True when Transformer Engine runs this op's GEMMs in fp8: a linear layer's GEMM inside
    a transformer layer (not the attention core, the embedding, the output layer or a conv)."""
    return bool(dev.te_fp8 and in_layer and _te_fp8_kind(op.kind, op.gemm is not None))


@dataclass(frozen=True, eq=False)
class OpTable:
    """The ops of a run of blocks as arrays, one entry per op in order: what the cost model reads
    of each op. Built once per model (`op_table`); costed per split by `op_costs`."""

    names: tuple[str, ...]
    block: np.ndarray          # index of the op's block
    counts: np.ndarray         # repetitions of each block
    flops: np.ndarray          # forward FLOPs per sample
    bwd_flops: np.ndarray
    pass_flops: np.ndarray     # (2, ops): flops and bwd_flops, costed together
    reads: np.ndarray
    writes: np.ndarray
    params: np.ndarray
    saved: np.ndarray
    work_cut: tuple            # (without, with sequence parallelism): tp divides the op's work
    saved_cut: tuple           # ... its saved activations
    params_cut: np.ndarray     # tp divides its parameters
    expert: np.ndarray
    row: np.ndarray            # row-parallel (tp == "row")
    fp8_kind: np.ndarray       # a linear layer's GEMM inside a layer: Transformer Engine's fp8
    attention: np.ndarray      # kind == "attention"
    attn_core: np.ndarray      # an attention core with its (seq, heads, head_dim)
    gemm_op: np.ndarray        # a compute op with a GEMM shape (not an attention core)
    plain: np.ndarray          # a compute op with neither (a fixed-efficiency GEMM)
    vector_op: np.ndarray      # not a compute kind: vector work
    groups: np.ndarray
    gm: np.ndarray             # one group's GEMM (m per sample, n, k), 0 without a GEMM
    gn: np.ndarray
    gk: np.ndarray
    n_cut: np.ndarray          # tp cuts the GEMM's n (column, heads) ...
    k_cut: np.ndarray          # ... or its k (row)
    a_seq: np.ndarray          # attention cores: sequence, heads, head dimension
    a_heads: np.ndarray
    a_dim: np.ndarray
    heads_cut: np.ndarray      # tp splits the heads
    gemm_index: np.ndarray     # indices of the gemm_op and attn_core ops
    gemm_shapes: np.ndarray    # of the gemm_ops: one index (into the ops) per distinct shape ...
    gemm_shape_of: np.ndarray  # ... and each gemm_op's distinct shape (the same on every split)
    kind: np.ndarray           # 0 vector_op, 1 attn_core, 2 gemm_op, 3 plain
    grouped: np.ndarray        # a gemm_op of several groups
    shapeless: np.ndarray      # an attention op without its (seq, heads, head_dim)
    attn_index: np.ndarray
    # Derived once here, not per split (a split's costs are a few dozen numpy calls on arrays
    # of a few dozen ops: each call saved counts): whether any op is grouped or shapeless, and
    # where `block_sums` adds each op's rows (row x blocks + the op's block).
    any_grouped: bool = False
    any_shapeless: bool = False
    sum_cells: np.ndarray | None = None

    @property
    def n_blocks(self) -> int:
        return len(self.counts)


_NO_SHAPE = (0.0, 0.0, 0.0)


def op_table(blocks) -> OpTable:
    """The `OpTable` of ``blocks``' ops (one repetition of each block)."""
    ops = [op for b in blocks for op in b.ops]
    n = len(ops)
    sizes = [len(b.ops) for b in blocks]
    rows: list = []     # one flat list: numpy reads it without looking for nested rows
    add = rows.extend
    for op in ops:
        g, at = op.gemm_per_group or _NO_SHAPE, op.attn or _NO_SHAPE
        add((op.flops, op.bwd_flops, op.reads, op.writes, op.params, op.saved, op.groups, g[0], g[1], g[2],
             at[0], at[1], at[2], op.seq, op.expert, op.gemm is not None, op.attn is not None))
    cols = np.fromiter(rows, dtype=float, count=17 * n).reshape(n, 17).T
    flops, bwd, reads, writes, params, saved, groups = cols[:7]
    gemm, attn = cols[7:10], cols[10:13]
    seq, expert, has_gemm, has_attn = cols[13:] > 0
    tp = np.array([op.tp or "" for op in ops], dtype=str)
    kind = np.array([op.kind for op in ops], dtype=str)
    layer = np.repeat(np.array([b.layer for b in blocks], dtype=bool), sizes)
    attention = kind == "attention"
    attn_core = attention & has_attn
    compute = _one_of(kind, sorted(COMPUTE_KINDS))
    gemm_op = compute & has_gemm & ~attn_core
    gemm_index = np.flatnonzero(gemm_op)
    # what a GEMM's local shape depends on besides the split: its groups, shape and tp cut
    n_cut, k_cut = _one_of(tp, ("column", "heads")), tp == "row"
    keys = list(zip(*(x[gemm_index].tolist() for x in (groups, *gemm, n_cut, k_cut))))
    shapes: dict = {}    # shape -> (its position among the distinct shapes, its first op)
    for i, key in zip(gemm_index.tolist(), keys):
        shapes.setdefault(key, (len(shapes), i))
    shape_of = [shapes[key][0] for key in keys]
    return OpTable(
        names=tuple(op.name for op in ops),
        block=np.repeat(np.arange(len(blocks)), sizes),
        counts=np.array([float(b.count) for b in blocks], dtype=float),
        flops=flops, bwd_flops=bwd, pass_flops=cols[0:2], reads=reads, writes=writes, params=params, saved=saved,
        work_cut=(_work_cut(tp, seq, False), _work_cut(tp, seq, True)),
        saved_cut=(_saved_cut(tp, seq, False), _saved_cut(tp, seq, True)), params_cut=_one_of(tp, _TP_CUT),
        expert=expert, row=tp == "row", fp8_kind=layer & _te_fp8_kind(kind, has_gemm), attention=attention,
        attn_core=attn_core, gemm_op=gemm_op, plain=compute & ~has_gemm & ~attn_core, vector_op=~compute,
        groups=groups, gm=gemm[0], gn=gemm[1], gk=gemm[2], n_cut=n_cut, k_cut=k_cut,
        a_seq=attn[0], a_heads=attn[1], a_dim=attn[2], heads_cut=tp == "heads",
        gemm_index=gemm_index, attn_index=np.flatnonzero(attn_core),
        gemm_shapes=np.array([i for _, i in shapes.values()], dtype=int), gemm_shape_of=np.array(shape_of, dtype=int),
        kind=np.where(attn_core, 1, np.where(gemm_op, 2, np.where(compute, 3, 0))), grouped=gemm_op & (groups > 1),
        shapeless=attention & ~attn_core, any_grouped=bool((gemm_op & (groups > 1)).any()),
        any_shapeless=bool((attention & ~attn_core).any()),
        sum_cells=(np.arange(len(SUM_ROWS))[:, None] * len(blocks) + np.repeat(np.arange(len(blocks)), sizes)[None, :]).ravel(),
    )


@dataclass(frozen=True)
class OpCosts:
    """`op_costs`: per op of an `OpTable`, for one micro-batch on one device."""

    fwd_s: np.ndarray
    bwd_s: np.ndarray
    fwd_flops: np.ndarray      # this device's FLOPs
    bwd_flops: np.ndarray
    stream_fwd_s: np.ndarray   # of fwd_s/bwd_s: exposed streaming of operands from the pool
    stream_bwd_s: np.ndarray
    bound: np.ndarray          # index into BOUND_KEYS of what set the op's time (forward pass)


@lru_cache(maxsize=16)
def shards(t: OpTable, split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`shard`, `saved_shard` and `param_shard` of every op of ``t`` (kept for the split's
    bytes, which read them after its times; callers do not write into them)."""
    sp = split.sequence_parallel
    return (_cp_tp_factor(t.work_cut[sp], split), _cp_tp_factor(t.saved_cut[sp], split),
            _params_factor(t.params_cut, t.expert, split))


def op_costs(t: OpTable, micro_batch: int, split: Split, dev: Device) -> OpCosts:
    """Forward and backward seconds of every op of ``t`` for one micro-batch on one device, as a
    roofline: max(math, memory) plus the chip's fixed per-op cost."""
    a = dev.a
    b = float(micro_batch)
    s, _, ps = shards(t, split)
    # Forward and backward are costed as the two rows of one array where they follow the same
    # formula (the same element-wise operations: fewer numpy calls on short arrays).
    pass_flops = t.pass_flops * b / s
    fwd_flops, bwd_flops = pass_flops
    # Weights are read once per pass, activations once per sample.
    w_elems = t.params / ps
    in_elems = np.maximum(t.reads - t.params, 0.0) * b / s
    out_elems = t.writes * b / s
    # the GEMMs Transformer Engine runs in fp8 read their fp8 copies (1 B) and write bf16
    fp8_gemm = t.fp8_kind if dev.te_fp8 else None
    eb = dev.element_bytes
    mem_bytes = (in_elems + out_elems + w_elems) * eb
    if fp8_gemm is not None:
        mem_bytes = np.where(fp8_gemm, w_elems + in_elems + out_elems * eb, mem_bytes)
    t_mem, streamed = memory_time(mem_bytes * np.array([[1.0], [a.backward_bytes_factor]]), dev)
    t_mem_f, streamed_f = t_mem[0], streamed[0]

    # one group's GEMM on this device
    m = t.gm * b / split.cp
    n = np.where(t.n_cut, t.gn / split.tp, t.gn)
    k = np.where(t.k_cut, t.gk / split.tp, t.gk)
    if dev.cores is not None:
        read = in_elems * eb + w_elems * eb
        t_math_f, t_math_b, math_bound = _core_math(t, b, split, dev, fwd_flops, bwd_flops, m, n, k,
                                                    read, out_elems * eb)
        t_math = np.array([t_math_f, t_math_b])
    else:
        t_math, math_bound = _gpu_math(t, split, dev, pass_flops, m, n, k, fp8_gemm)
        t_math_f = t_math[0]
    hi = np.maximum(t_math, t_mem)
    t_f, t_b = hi + a.kernel_overhead_s
    if fp8_gemm is not None and fp8_gemm.any():
        # cast_transpose of the input (forward) and of the output gradient (backward), one
        # memory-bound kernel each; the amax comes out of the same kernel
        t_f = np.where(fp8_gemm, t_f + (memory_time(in_elems * a.fp8_cast_bytes_per_element, dev)[0]
                                        + a.kernel_overhead_s), t_f)
        t_b = np.where(fp8_gemm, t_b + (memory_time(out_elems * a.fp8_cast_bytes_per_element, dev)[0]
                                        + a.kernel_overhead_s), t_b)
    if dev.spill_bandwidth <= 0:    # nothing streams (`memory_time`): the same figures, fewer calls
        return OpCosts(t_f, t_b, fwd_flops, bwd_flops, streamed_f, streamed[1],
                       np.where(t_mem_f <= t_math_f, math_bound, _MEMORY))
    # The part of the op's time that exists only because operands stream from the outer pool.
    stream_f, stream_b = hi - np.maximum(t_math, t_mem - streamed)
    bound = np.where(t_mem_f <= t_math_f, math_bound,
                     np.where(t_mem_f - streamed_f < t_math_f, _STREAM, _MEMORY))
    return OpCosts(t_f, t_b, fwd_flops, bwd_flops, stream_f, stream_b, bound)


def _gpu_math(t: OpTable, split: Split, dev: Device, pass_flops, m, n, k, fp8_gemm):
    """Math seconds (forward and backward: the rows of ``pass_flops``, and of the result) and
    bound on a GPU-like chip: peak x a shape-aware efficiency."""
    a = dev.a
    half_for_fp8 = dev.half_peak if dev.fp8 and a.fp8_gemm_only else dev.tensor_peak
    # By the op's `kind` (vector, attention core, GEMM, shapeless compute): vector work (norms,
    # activations) at the vector units' peak. Fused attention tiles over the sequence (short
    # sequences fill fewer tiles); the head dimension is the tile's inner size, already in the
    # measured attention_* fractions. The efficiency of a grouped op is that of ONE of its
    # independent GEMMs (a grouped convolution with 16 channels per group is 16-wide, however
    # many groups it has).
    # (`gemm_efficiency`'s product, with the attention's sequence term, in one call)
    e = dim_efficiency(np.array([t.a_seq / max(split.cp, 1), m, n, k]), a.gemm_half_dim)
    base, ge = e[0], a.gemm_peak_efficiency * e[1] * e[2] * e[3]
    peak = np.array([dev.vector_peak, half_for_fp8, dev.tensor_peak, half_for_fp8])[t.kind]
    attention = np.array([[a.attention_fwd_efficiency], [a.attention_bwd_efficiency]])   # by pass
    eff = np.choose(t.kind, [1.0, base * attention, ge, a.gemm_peak_efficiency])
    # Narrow groups (depthwise, small group widths) run faster on the vector units than on badly
    # filled matrix tiles; libraries pick that path (cuDNN's grouped and depthwise kernels are
    # not tensor-core GEMMs).
    on_vector = t.grouped & (dev.vector_peak * a.vector_efficiency > dev.tensor_peak * ge) if t.any_grouped else None
    if on_vector is not None and on_vector.any():
        peak = np.where(on_vector, dev.vector_peak, peak)
        eff = np.where(on_vector, a.vector_efficiency, eff)
    # an attention op without its shape: the measured fractions
    if t.any_shapeless:
        eff = np.where(t.shapeless, attention, eff)
    if dev.te_fp8:
        # Transformer Engine: the layers' linear GEMMs at the fp8 peak, everything else in bf16
        tensor = ~t.vector_op if on_vector is None else ~t.vector_op & ~on_vector
        peak = np.where(tensor, np.where(fp8_gemm, dev.tensor_peak, dev.half_peak), peak)
        eff = np.where(tensor & fp8_gemm, eff * a.fp8_gemm_efficiency, eff)
    # seconds where the efficiency is positive, 0 elsewhere (no division by 0 attempted)
    t_math = np.divide(pass_flops, peak * eff, out=np.zeros(eff.shape), where=eff > 0)
    vector = (peak == dev.vector_peak) & (peak != dev.tensor_peak)
    bound = np.where(vector, _VECTOR, _MATRIX)
    return t_math, bound


def _core_math(t: OpTable, b: float, split: Split, dev: Device, fwd_flops, bwd_flops, m, n, k,
               read, write):
    """Math seconds (forward, backward) and bound on a many-core chip (D1), from
    engine/cores.py: GEMMs quantized to the matrix unit and cut over the nodes, vector work on
    the SIMD units."""
    ca, eb, bwd_bytes = dev.cores, dev.element_bytes, dev.a.backward_bytes_factor
    # vector work (and a narrow-group convolution's SIMD path)
    v_f, v_bound = vector_time(ca, fwd_flops, read, write)
    v_b = vector_time(ca, bwd_flops, read * bwd_bytes, write * bwd_bytes)[0]
    # Attention cores: QK^T and PV per head, softmax on the SIMD units; backward does ~2.5x the
    # forward work
    g_att = np.maximum(t.a_heads / np.where(t.heads_cut, split.tp, 1), 1.0)
    rows = np.maximum(t.a_seq * b / split.cp, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kv = np.where(t.attn_core, np.maximum(fwd_flops / (4.0 * rows * g_att * t.a_dim), 1.0), 1.0)
    # every GEMM of the model in one call: forward; input gradient (m x n) @ (n x k) and weight
    # gradient (k x m) @ (m x n); the two attention products
    # (each distinct GEMM shape once)
    gi, ui, of, ai = t.gemm_index, t.gemm_shapes, t.gemm_shape_of, t.attn_index
    g, m, n, k = t.groups[ui], m[ui], n[ui], k[ui]
    ga, ra, kva, da = g_att[ai], rows[ai], kv[ai], t.a_dim[ai]
    mt, mb = matrix_time(ca, np.concatenate([g, g, g, ga, ga]), np.concatenate([m, m, k, ra, ra]),
                         np.concatenate([n, k, n, kva, da]), np.concatenate([k, n, m, da, kva]), eb)
    ng, na = len(ui), len(ai)
    gemm_f, gemm_b, gemm_bound = (np.zeros(len(t.flops)) for _ in range(3))
    gemm_f[gi] = mt[:ng][of]
    gemm_b[gi] = (mt[ng:2 * ng] + mt[2 * ng:3 * ng])[of]
    gemm_bound[gi] = mb[:ng][of]
    att_f, att_bound = np.zeros(len(t.flops)), np.zeros(len(t.flops))
    att_f[ai] = mt[3 * ng:3 * ng + na] + mt[3 * ng + na:] + vector_time(ca, dev.a.softmax_flops_per_score * ra * kva * ga, 0.0, 0.0)[0]
    att_bound[ai] = mb[3 * ng:3 * ng + na]
    with np.errstate(divide="ignore", invalid="ignore"):
        att_b = np.where(fwd_flops > 0, att_f * bwd_flops / fwd_flops, 0.0)
    # a narrow-group convolution may run faster on the SIMD units than on an array filled to
    # n/8 of its columns
    simd = t.grouped & (v_f < gemm_f)
    peak = ca.cores * ca.core_peak * ca.issue_eff
    t_f = np.where(simd, v_f, np.choose(t.kind, [v_f, att_f, gemm_f, fwd_flops / peak]))
    t_b = np.where(simd, v_b, np.choose(t.kind, [v_b, att_b, gemm_b, bwd_flops / peak]))
    bound = np.where(simd, v_bound, np.choose(t.kind, [v_bound, att_bound, gemm_bound, _MATRIX]))
    return t_f, t_b, bound.astype(int)


@dataclass(frozen=True, slots=True)
class BlockTime:
    """One repetition of a block, for one micro-batch on one device."""

    fwd_s: float
    bwd_s: float
    fwd_flops: float
    bwd_flops: float
    attn_fwd_s: float          # forward time of attention-core ops (what selective recompute redoes)
    attn_fwd_flops: float
    ops: "OpRows | tuple"      # (name, forward s, backward s, this device's forward FLOPs) per op
    stream_fwd_s: float = 0.0  # of fwd_s/bwd_s: exposed operand streaming (SRAM-only chips)
    stream_bwd_s: float = 0.0
    bound_s: tuple[float, ...] = (0.0,) * len(BOUND_KEYS)   # fwd + bwd seconds by what bound them
    attn_bwd_s: float = 0.0    # backward time of attention-core ops (what ring attention hides behind)

    def scaled(self, f: float) -> "BlockTime":
        """``f`` repetitions' worth of time and FLOPs (the op list stays one repetition's)."""
        return BlockTime(self.fwd_s * f, self.bwd_s * f, self.fwd_flops * f, self.bwd_flops * f,
                         self.attn_fwd_s * f, self.attn_fwd_flops * f, self.ops,
                         self.stream_fwd_s * f, self.stream_bwd_s * f, tuple(x * f for x in self.bound_s),
                         self.attn_bwd_s * f)


# Rows of `block_sums`: these sums of the ops' figures, then the seconds by what bound them
# (BOUND_KEYS order); one column per block.
SUM_ROWS = ("fwd_s", "bwd_s", "fwd_flops", "bwd_flops", "attn_fwd_s", "attn_fwd_flops", "stream_fwd_s",
            "stream_bwd_s", "attn_bwd_s")


def block_sums(t: OpTable, c: OpCosts, dev: Device) -> np.ndarray:
    """One repetition of each block of ``t``: the `SUM_ROWS` of its ops' costs ``c``, then the
    forward + backward seconds by what bound each op (the fixed per-op cost counted as
    overhead), as a (len(SUM_ROWS) + len(BOUND_KEYS), blocks) array. Sums run over the ops in
    order."""
    nb = t.n_blocks
    att = t.attention
    rows = np.array([c.fwd_s, c.bwd_s, c.fwd_flops, c.bwd_flops, np.where(att, c.fwd_s, 0.0),
                     np.where(att, c.fwd_flops, 0.0), c.stream_fwd_s, c.stream_bwd_s,
                     np.where(att, c.bwd_s, 0.0)])
    sums = np.bincount(t.sum_cells, weights=rows.ravel(), minlength=len(SUM_ROWS) * nb)
    fixed = dev.a.training_passes * dev.a.kernel_overhead_s
    bounds = np.bincount(c.bound * nb + t.block, weights=c.fwd_s + c.bwd_s - fixed, minlength=len(BOUND_KEYS) * nb)
    bounds = bounds.reshape(len(BOUND_KEYS), nb)
    bounds[_OVERHEAD] = np.bincount(t.block, weights=np.full(len(t.block), fixed), minlength=nb)
    return np.concatenate([sums.reshape(len(SUM_ROWS), nb), bounds])


class OpRows:
    """(name, forward s, backward s, this device's forward FLOPs) of a run of ops of an
    `OpTable` (the roofline's), made into tuples when first read: a search costs many splits
    and reads none of them."""

    __slots__ = ("_names", "_costs", "_lo", "_hi", "_rows")

    def __init__(self, names: tuple[str, ...], costs: OpCosts, lo: int = 0, hi: int | None = None):
        self._names, self._costs, self._lo, self._hi, self._rows = names, costs, lo, hi, None

    @property
    def rows(self) -> tuple[tuple[str, float, float, float], ...]:
        if self._rows is None:
            c, sl = self._costs, slice(self._lo, self._hi)
            self._rows = tuple(zip(self._names[sl], c.fwd_s[sl].tolist(), c.bwd_s[sl].tolist(),
                                   c.fwd_flops[sl].tolist()))
        return self._rows

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def block_time_of(column, ops: "OpRows | tuple") -> BlockTime:
    """A `BlockTime` from one column of `block_sums` (or of sums of its columns)."""
    v = column.tolist()
    n = len(SUM_ROWS)
    return BlockTime(v[0], v[1], v[2], v[3], v[4], v[5], ops, v[6], v[7], tuple(v[n:]), v[8])


def block_time(block: Block, micro_batch: int, split: Split, dev: Device) -> BlockTime:
    """One repetition of ``block`` for one micro-batch on one device."""
    t = op_table((block,))
    c = op_costs(t, micro_batch, split, dev)
    return block_time_of(block_sums(t, c, dev)[:, 0], OpRows(t.names, c))


def op_time(op: Op, micro_batch: int, split: Split, dev: Device, in_layer: bool = True) -> OpTime:
    """Forward and backward seconds of ``op`` for one micro-batch on one device (``in_layer``:
    the op belongs to a repeated layer, where Transformer Engine's fp8 applies)."""
    c = op_costs(op_table((Block(op.name, (op,), layer=in_layer),)), micro_batch, split, dev)
    return OpTime(float(c.fwd_s[0]), float(c.bwd_s[0]), float(c.fwd_flops[0]), float(c.bwd_flops[0]),
                  float(c.stream_fwd_s[0]), float(c.stream_bwd_s[0]), BOUND_KEYS[int(c.bound[0])])


def fp8_layer_facts(blocks, split: Split, dev: Device) -> tuple[float, float]:
    """(parameters, GEMMs) per layer on one device that Transformer Engine runs in fp8: what its
    once-per-step weight casts and per-pass amax bookkeeping scale with. (0, 0) without TE fp8."""
    if not dev.te_fp8:
        return 0.0, 0.0
    params = gemms = layers = 0.0
    for b in blocks:
        if not b.layer:
            continue
        layers += b.count
        for op in b.ops:
            if is_te_fp8(op, dev, True):
                params += b.count * op.params / param_shard(op, split)
                gemms += b.count
    return (params / layers, gemms / layers) if layers else (0.0, 0.0)
