"""Compute: the time of each op of the graph on one device, as a roofline with a shape-aware
efficiency model shared by every chip.

An op takes max(FLOPs / (peak x efficiency), bytes / (bandwidth x memory_efficiency)) plus a
fixed per-kernel cost. The efficiency of a GEMM falls when one of its dimensions is comparable to
the tensor-core tile (`gemm_half_dim`); fused attention runs at a fixed fraction of a GEMM. Chips
differ only in their data: peak FLOP/s per dtype and the bandwidth of the memory the operands
live in (HBM on GPUs, SRAM on Dojo's D1).

Everything here is computed once per (model, system, precision, split, micro-batch) and cached by
the caller; the result is a handful of plain floats per block.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..workload.graph import COMPUTE_KINDS, Block, Op
from ..assumptions import DEFAULT, Assumptions
from .cores import CoreArray, make_core_array, matrix_time, vector_time
from .precision import precision as precision_of

# What bound each op's time, summed per block (BlockTime.bound_s), in this order: the matrix or
# vector units, a D1 node's SRAM ports or mesh (engine/cores.py), the chip's memory (HBM or the
# D1's aggregate SRAM), operands streaming from an outer pool, and the fixed per-op cost.
BOUND_KEYS = ("matrix", "vector", "sram", "mesh", "memory", "stream", "overhead")
_CORE_BOUND = {"mac": "matrix", "simd": "vector", "sram": "sram", "mesh": "mesh"}

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


def dim_efficiency(d: float, half_dim: float) -> float:
    """Share of a GEMM's peak kept by a dimension of size ``d`` (tile quantization, reuse)."""
    return d / (d + half_dim) if d > 0 else 0.0


def gemm_efficiency(m: float, n: float, k: float, a: Assumptions = DEFAULT) -> float:
    h = a.gemm_half_dim
    return a.gemm_peak_efficiency * dim_efficiency(m, h) * dim_efficiency(n, h) * dim_efficiency(k, h)


@dataclass(frozen=True, slots=True)
class Split:
    """How the ops of one device are cut: tensor, sequence and context parallel."""

    tp: int = 1
    cp: int = 1
    ep: int = 1
    sequence_parallel: bool = False


def shard(op: Op, split: Split) -> float:
    """Factor by which this device's share of the op's per-sample work is smaller.

    Context parallelism splits every op of a token model along the sequence (attention: the
    queries; each rank still attends to all keys), so it divides every op.
    """
    f = float(split.cp)
    if op.tp in ("column", "row", "heads", "split"):
        f *= split.tp
    elif split.sequence_parallel and op.seq:
        f *= split.tp   # SP splits the replicated norms/dropouts along the sequence
    return f


def saved_shard(op: Op, split: Split) -> float:
    """Factor by which this device keeps fewer of the op's saved activations.

    Korthikanti et al. 2022, §4: without sequence parallelism the input of a column-parallel
    GEMM (and of the norms and dropouts) is replicated on every tensor-parallel rank - their
    10sbh term; with it, every saved tensor is split (34sbh/t).
    """
    f = float(split.cp)
    if op.tp in ("row", "heads", "split"):
        f *= split.tp
    elif split.sequence_parallel and (op.tp == "column" or op.seq):
        f *= split.tp
    return f


def param_shard(op: Op, split: Split) -> float:
    """Factor by which this device holds fewer of the op's parameters than the whole model."""
    f = float(split.tp) if op.tp in ("column", "row", "heads", "split") else 1.0
    if op.expert:
        f *= split.ep
    return f


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


def memory_time(nbytes: float, dev: Device) -> tuple[float, float]:
    """Seconds to move ``nbytes`` of an op's operands, and the part of it spent streaming from
    the pool because they do not fit the chip's fast memory (always 0 on HBM chips)."""
    eff = dev.a.memory_efficiency
    fast_bw = dev.act_bandwidth * eff
    if dev.spill_bandwidth <= 0 or nbytes <= dev.fast_bytes:
        return nbytes / fast_bw, 0.0
    streamed = (nbytes - dev.fast_bytes) / (dev.spill_bandwidth * eff)
    return dev.fast_bytes / fast_bw + streamed, streamed


def is_te_fp8(op: Op, dev: Device, in_layer: bool) -> bool:
    """True when Transformer Engine runs this op's GEMMs in fp8: a linear layer's GEMM inside
    a transformer layer (not the attention core, the embedding, the output layer or a conv)."""
    return dev.te_fp8 and in_layer and op.kind == "matmul" and op.gemm is not None


def op_time(op: Op, micro_batch: int, split: Split, dev: Device, in_layer: bool = True) -> OpTime:
    """Forward and backward seconds of ``op`` for one micro-batch on one device (``in_layer``:
    the op belongs to a repeated layer, where Transformer Engine's fp8 applies)."""
    a = dev.a
    s = shard(op, split)
    b = float(micro_batch)
    fwd_flops = op.flops * b / s
    bwd_flops = op.bwd_flops * b / s
    # Weights are read once per pass, activations once per sample.
    w_elems = op.params / param_shard(op, split)
    in_elems = max(op.reads - op.params, 0.0) * b / s
    out_elems = op.writes * b / s
    fp8_gemm = is_te_fp8(op, dev, in_layer)
    if fp8_gemm:
        # the GEMM reads its fp8 copies (1 B) and writes bf16
        mem_bytes = w_elems + in_elems + out_elems * dev.element_bytes
    else:
        mem_bytes = (in_elems + out_elems + w_elems) * dev.element_bytes
    t_mem_f, streamed_f = memory_time(mem_bytes, dev)
    t_mem_b, streamed_b = memory_time(mem_bytes * a.backward_bytes_factor, dev)

    if dev.cores is not None:
        t_math_f, t_math_b, math_bound = _core_math(op, b, split, dev, fwd_flops, bwd_flops)
    else:
        t_math_f, t_math_b, math_bound = _gpu_math(op, b, split, dev, fwd_flops, bwd_flops, fp8_gemm)
    t_f = max(t_math_f, t_mem_f) + a.kernel_overhead_s
    t_b = max(t_math_b, t_mem_b) + a.kernel_overhead_s
    if fp8_gemm:
        # cast_transpose of the input (forward) and of the output gradient (backward), one
        # memory-bound kernel each; the amax comes out of the same kernel
        t_f += memory_time(in_elems * a.fp8_cast_bytes_per_element, dev)[0] + a.kernel_overhead_s
        t_b += memory_time(out_elems * a.fp8_cast_bytes_per_element, dev)[0] + a.kernel_overhead_s
    # The part of the op's time that exists only because operands stream from the outer pool.
    stream_f = max(t_math_f, t_mem_f) - max(t_math_f, t_mem_f - streamed_f)
    stream_b = max(t_math_b, t_mem_b) - max(t_math_b, t_mem_b - streamed_b)
    if t_mem_f <= t_math_f:
        bound = math_bound
    else:
        bound = "stream" if t_mem_f - streamed_f < t_math_f else "memory"
    return OpTime(t_f, t_b, fwd_flops, bwd_flops, stream_f, stream_b, bound)


def _local_gemm(op: Op, b: float, split: Split) -> tuple[float, float, float]:
    """(m, n, k) of one of the op's groups on this device for one micro-batch."""
    m, n, k = op.gemm_per_group
    m = m * b / split.cp
    if op.tp in ("column", "heads"):
        n = n / split.tp
    elif op.tp == "row":
        k = k / split.tp
    return m, n, k


def _gpu_math(op: Op, b: float, split: Split, dev: Device, fwd_flops: float,
              bwd_flops: float, fp8_gemm: bool = False) -> tuple[float, float, str]:
    """Math seconds (forward, backward) on a GPU-like chip: peak x a shape-aware efficiency."""
    a = dev.a
    on_vector = False
    if op.kind == "attention" and op.attn is not None:
        seq, heads, head_dim = op.attn
        peak = dev.half_peak if dev.fp8 and a.fp8_gemm_only else dev.tensor_peak
        # Fused attention tiles over the sequence (short sequences fill fewer tiles); the head
        # dimension is the tile's inner size, already in the measured attention_* fractions.
        base = dim_efficiency(seq / max(split.cp, 1), a.gemm_half_dim)
        eff_f = base * a.attention_fwd_efficiency
        eff_b = base * a.attention_bwd_efficiency
    elif op.kind in COMPUTE_KINDS:
        peak = dev.tensor_peak
        if op.gemm is not None:
            # The efficiency of a grouped op is that of ONE of its independent GEMMs (a grouped
            # convolution with 16 channels per group is 16-wide, however many groups it has).
            m, n, k = _local_gemm(op, b, split)
            eff_f = eff_b = gemm_efficiency(m, n, k, a)
            if op.groups > 1 and dev.vector_peak * a.vector_efficiency > peak * eff_f:
                # Narrow groups (depthwise, small group widths) run faster on the vector units
                # than on badly filled matrix tiles; libraries pick that path (cuDNN's grouped
                # and depthwise kernels are not tensor-core GEMMs).
                peak, eff_f = dev.vector_peak, a.vector_efficiency
                eff_b = eff_f
                on_vector = True
        else:
            eff_f = eff_b = a.gemm_peak_efficiency
            if dev.fp8 and a.fp8_gemm_only:
                peak = dev.half_peak
        if op.kind == "attention":
            eff_f, eff_b = a.attention_fwd_efficiency, a.attention_bwd_efficiency
    else:
        peak = dev.vector_peak
        eff_f = eff_b = 1.0

    if dev.te_fp8 and op.kind in COMPUTE_KINDS and not on_vector:
        # Transformer Engine: the layers' linear GEMMs at the fp8 peak, everything else in bf16
        peak = dev.tensor_peak if fp8_gemm else dev.half_peak
        if fp8_gemm:
            eff_f, eff_b = eff_f * a.fp8_gemm_efficiency, eff_b * a.fp8_gemm_efficiency
    t_math_f = fwd_flops / (peak * eff_f) if eff_f > 0 else 0.0
    t_math_b = bwd_flops / (peak * eff_b) if eff_b > 0 else 0.0
    return t_math_f, t_math_b, ("vector" if peak == dev.vector_peak and peak != dev.tensor_peak else "matrix")


def _io_bytes(op: Op, b: float, split: Split, eb: float) -> tuple[float, float]:
    """Bytes this device's share of ``op`` reads (activations and weights) and writes."""
    s = shard(op, split)
    read = max(op.reads - op.params, 0.0) * b / s * eb + op.params / param_shard(op, split) * eb
    return read, op.writes * b / s * eb


def _core_math(op: Op, b: float, split: Split, dev: Device, fwd_flops: float,
               bwd_flops: float) -> tuple[float, float, str]:
    """Math seconds (forward, backward) on a many-core chip (D1), from engine/cores.py: GEMMs
    quantized to the matrix unit and cut over the nodes, vector work on the SIMD units."""
    ca, eb, bwd_bytes = dev.cores, dev.element_bytes, dev.a.backward_bytes_factor
    if op.kind == "attention" and op.attn is not None:
        # QK^T and PV per head, softmax on the SIMD units; backward does ~2.5x the forward work
        seq, heads, head_dim = op.attn
        g = max(heads / (split.tp if op.tp == "heads" else 1), 1.0)
        rows = max(seq * b / split.cp, 1.0)
        kv = max(fwd_flops / (4.0 * rows * g * head_dim), 1.0)
        t1, bound = matrix_time(ca, g, rows, kv, head_dim, eb)
        t2, _ = matrix_time(ca, g, rows, head_dim, kv, eb)
        t3, _ = vector_time(ca, dev.a.softmax_flops_per_score * rows * kv * g, 0.0, 0.0)
        t_f = t1 + t2 + t3
        return t_f, t_f * bwd_flops / fwd_flops if fwd_flops > 0 else 0.0, _CORE_BOUND[bound]
    if op.kind in COMPUTE_KINDS and op.gemm is not None:
        m, n, k = _local_gemm(op, b, split)
        g = float(op.groups)
        t_f, bound = matrix_time(ca, g, m, n, k, eb)
        # input gradient (m x n) @ (n x k) and weight gradient (k x m) @ (m x n)
        t_b = matrix_time(ca, g, m, k, n, eb)[0] + matrix_time(ca, g, k, n, m, eb)[0]
        if op.groups > 1:
            # a narrow-group convolution may run faster on the SIMD units than on an array
            # filled to n/8 of its columns
            read, write = _io_bytes(op, b, split, eb)
            v_f, v_bound = vector_time(ca, fwd_flops, read, write)
            if v_f < t_f:
                v_b = vector_time(ca, bwd_flops, read * bwd_bytes, write * bwd_bytes)[0]
                return v_f, v_b, _CORE_BOUND[v_bound]
        return t_f, t_b, _CORE_BOUND[bound]
    if op.kind in COMPUTE_KINDS:
        peak = ca.cores * ca.core_peak * ca.issue_eff
        return fwd_flops / peak, bwd_flops / peak, "matrix"
    read, write = _io_bytes(op, b, split, eb)
    t_f, bound = vector_time(ca, fwd_flops, read, write)
    t_b, _ = vector_time(ca, bwd_flops, read * bwd_bytes, write * bwd_bytes)
    return t_f, t_b, _CORE_BOUND[bound]


@dataclass(frozen=True, slots=True)
class BlockTime:
    """One repetition of a block, for one micro-batch on one device."""

    fwd_s: float
    bwd_s: float
    fwd_flops: float
    bwd_flops: float
    attn_fwd_s: float          # forward time of attention-core ops (what selective recompute redoes)
    attn_fwd_flops: float
    ops: tuple[tuple[str, float, float], ...]
    stream_fwd_s: float = 0.0  # of fwd_s/bwd_s: exposed operand streaming (SRAM-only chips)
    stream_bwd_s: float = 0.0
    bound_s: tuple[float, ...] = (0.0,) * len(BOUND_KEYS)   # fwd + bwd seconds by what bound them
    attn_bwd_s: float = 0.0    # backward time of attention-core ops (what ring attention hides behind)

    def __add__(self, other: "BlockTime") -> "BlockTime":
        """Two blocks run one after the other (their op lists concatenated)."""
        return BlockTime(self.fwd_s + other.fwd_s, self.bwd_s + other.bwd_s,
                         self.fwd_flops + other.fwd_flops, self.bwd_flops + other.bwd_flops,
                         self.attn_fwd_s + other.attn_fwd_s, self.attn_fwd_flops + other.attn_fwd_flops,
                         self.ops + other.ops, self.stream_fwd_s + other.stream_fwd_s,
                         self.stream_bwd_s + other.stream_bwd_s,
                         tuple(x + y for x, y in zip(self.bound_s, other.bound_s)),
                         self.attn_bwd_s + other.attn_bwd_s)

    def stretched(self, f: float) -> "BlockTime":
        """The same work taking ``f`` times as long (the busiest chip of an uneven split)."""
        return BlockTime(self.fwd_s * f, self.bwd_s * f, self.fwd_flops, self.bwd_flops,
                         self.attn_fwd_s * f, self.attn_fwd_flops, self.ops,
                         self.stream_fwd_s * f, self.stream_bwd_s * f, tuple(x * f for x in self.bound_s),
                         self.attn_bwd_s * f)

    def scaled(self, f: float) -> "BlockTime":
        """``f`` repetitions' worth of time and FLOPs (the op list stays one repetition's)."""
        return BlockTime(self.fwd_s * f, self.bwd_s * f, self.fwd_flops * f, self.bwd_flops * f,
                         self.attn_fwd_s * f, self.attn_fwd_flops * f, self.ops,
                         self.stream_fwd_s * f, self.stream_bwd_s * f, tuple(x * f for x in self.bound_s),
                         self.attn_bwd_s * f)


def block_time(block: Block, micro_batch: int, split: Split, dev: Device) -> BlockTime:
    fs = bs = ff = bf = af = ab = aff = sf = sb = 0.0
    ops = []
    bounds = [0.0] * len(BOUND_KEYS)
    over, fixed = BOUND_KEYS.index("overhead"), dev.a.training_passes * dev.a.kernel_overhead_s
    for op in block.ops:
        t = op_time(op, micro_batch, split, dev, block.layer)
        bounds[BOUND_KEYS.index(t.bound)] += t.fwd_s + t.bwd_s - fixed
        bounds[over] += fixed
        fs += t.fwd_s
        bs += t.bwd_s
        ff += t.fwd_flops
        bf += t.bwd_flops
        sf += t.stream_fwd_s
        sb += t.stream_bwd_s
        if op.kind == "attention":
            af += t.fwd_s
            ab += t.bwd_s
            aff += t.fwd_flops
        ops.append((op.name, t.fwd_s, t.bwd_s, t.fwd_flops))  # fwd_flops: this device's, for the roofline
    return BlockTime(fs, bs, ff, bf, af, aff, tuple(ops), sf, sb, tuple(bounds), ab)


def fp8_layer_facts(blocks, split: Split, dev: Device) -> tuple[float, float]:
    """(parameters, GEMMs) per layer on one device that Transformer Engine runs in fp8: what its
    once-per-step weight casts and per-pass amax bookkeeping scale with. (0, 0) without TE fp8."""
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
