"""Every figure the engine assumes, in one immutable object you can see and move.

`Assumptions` holds one typed field per engine constant (what `engine/constants.py` held as
module globals before). Each field says where its value comes from: a published ``source``, or
``assumed`` with a ``low``/``high`` range and the ``reason`` for it. `DEFAULT` is what every
estimate uses unless told otherwise:

    estimate(model, system, strategy, assumptions=DEFAULT.replace(memory_efficiency=0.7))

Three layers decide the value the engine sees for a chip (`Assumptions.for_chip`):
1. the defaults below;
2. a chip preset's ``efficiency:`` block (a chip whose microarchitecture differs carries its own
   sourced figures; `hardware.spec` reads it into ``Chip.efficiency``);
3. explicit overrides (`replace`, `from_mapping`, a run file's ``assumptions:``), which win over
   both. A sampled quantile (`at_quantiles`, used by `dojosim.ranges`) is applied to the range
   of whichever layer supplied the value, so one draw moves every chip alike.

Objects are frozen and hashable: the engine's caches key on them, and no module global is read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from .errors import SpecError, UnknownNameError


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """Where one assumption comes from and which values it may take."""

    name: str
    default: Any
    kind: str      # "fraction" (0, 1], "share" [0, 1], "pos" > 0, "nonneg" >= 0, "int" >= 1, "bool"
    source: str = ""               # published basis (always given, also for assumed figures)
    assumed: bool = False
    low: float | None = None       # plausible range of an assumed figure
    high: float | None = None
    reason: str = ""               # why that range
    unit: str = ""                 # "s" for times (YAML may say "5 us"), or a units dimension ("bytes", "bandwidth", "flops"); "" for plain numbers
    structural: bool = False       # a count that follows from the algorithm: named, not assumed, not overridable

    def to_dict(self) -> dict:
        out = {"name": self.name, "value": self.default, "source": self.source, "assumed": self.assumed}
        if self.structural:
            out["structural"] = True
        if self.assumed:
            out.update(low=self.low, high=self.high, reason=self.reason)
        return out


def _f(default, kind, source, *, low=None, high=None, reason="", unit="", structural=False):
    assumed = low is not None
    return field(default=default, metadata={"info": (kind, source, assumed, low, high, reason, unit, structural)})


def _count(default, source):
    """A structural count: it follows from the algorithm (``source`` says how), so it has no
    range, is never sampled, and a run file cannot override it."""
    return _f(default, "pos", source, structural=True)


@dataclass(frozen=True)
class Assumptions:
    """One immutable set of engine figures. Build variants with `replace` or `from_mapping`."""

    # --- compute -------------------------------------------------------------------------------
    gemm_peak_efficiency: float = _f(
        0.80, "fraction",
        "cuBLAS reaches ~250-270 of 312 TFLOP/s fp16 on 8k GEMMs on A100 (NVIDIA 'Matrix "
        "multiplication background' guide); Narayanan et al. SC'21 report ~80% in isolation",
        low=0.65, high=0.90,
        reason="applied to Dojo's and TPU's matrix units too, for which no GEMM benchmark is published")
    gemm_half_dim: float = _f(
        128.0, "pos",
        "each GEMM dimension d keeps d/(d+128) of the peak: CUTLASS's default 128x128 thread-block tile",
        low=64.0, high=256.0,
        reason="tile and wave quantization differ by kernel and chip (64-256 tiles are common)")
    vector_efficiency: float = _f(
        0.5, "fraction",
        "direct (non-matrix) convolution kernels reach ~50% of the FP32 FMA peak (round figure)",
        low=0.3, high=0.7, reason="hand-written direct kernels vary widely; used only where it beats the matrix path")
    attention_fwd_efficiency: float = _f(
        0.40, "fraction",
        "FlashAttention-2 (Dao 2023): fused attention reaches 25-40% of peak on A100, backward at the low end",
        low=0.30, high=0.55, reason="FlashAttention-1/Megatron fused softmax at the low end, FA-2/3 above it")
    attention_bwd_efficiency: float = _f(
        0.30, "fraction", "FlashAttention-2 (Dao 2023): the backward pass at the low end of 25-40%",
        low=0.20, high=0.45, reason="as attention_fwd_efficiency")
    memory_efficiency: float = _f(
        0.80, "fraction",
        "STREAM-like copies reach ~1.7 of 2.0 TB/s (A100) and ~2.9 of 3.35 TB/s (H100): 80-90% of peak",
        low=0.70, high=0.90, reason="also used for Dojo's SRAM streams, for which nothing is published")
    backward_bytes_factor: float = _f(
        2.0, "pos",
        "backward of a memory-bound op reads the saved input and output gradient and writes the "
        "input gradient (+ weight gradient): about twice the forward's traffic",
        low=1.5, high=3.0, reason="fusion lowers it, weight gradients raise it")
    kernel_overhead_s: float = _f(
        5e-6, "nonneg",
        "CUDA launch latency ~3-5 us; small kernels rarely finish under ~5 us (Nsight measurements)",
        low=2e-6, high=10e-6, reason="Dojo's compiler-scheduled graph pays a per-op sync nobody has measured",
        unit="s")
    fp8_gemm_only: bool = _f(
        True, "bool",
        "Transformer Engine runs linear layers in fp8 but attention, norms, softmax and the output layer in bf16")
    # fp8 as NVIDIA Transformer Engine runs it (precision "fp8" on a chip with an fp8 peak: H100,
    # H200, B200). In fp8: the GEMMs of te.Linear / LayerNormLinear / LayerNormMLP, i.e. a
    # transformer layer's QKV, attention-output, FC1, FC2 and MoE-expert GEMMs (forward and both
    # gradients). In bf16: the attention core (TE's fp8 attention, `fp8_dpa`, is opt-in), norms,
    # activations, the embedding, the output layer + loss (Megatron-LM builds only the layers
    # from TE modules) and convolutions (no TE fp8 path). (TE docs, "Using FP8 with Transformer
    # Engine".) Dojo's cfp8, and fp8 on chips without an fp8 peak, follow `fp8_gemm_only`.
    fp8_gemm_efficiency: float = _f(
        0.88, "fraction",
        "large cuBLASLt GEMMs on H100 SXM reach ~1,250-1,400 of 1,979 dense fp8 TFLOP/s (~63-70%) "
        "against ~700-760 of 989 bf16 (~71-77%) (SemiAnalysis, 'MI300X vs H100 vs H200 Benchmark "
        "Part 1: Training', Dec 2024): an fp8 GEMM keeps ~0.88 of the share of its (2x) peak that a "
        "bf16 GEMM of the same shape keeps (power/clock limit reached sooner, epilogue not faster)",
        low=0.80, high=0.95,
        reason="H200 shares the H100's SMs and 700 W limit; for B200 no independent GEMM measurement "
               "was found and the same ~1.8x fp8/bf16 vendor-benchmark ratio is assumed")
    fp8_cast_bytes_per_element: float = _f(
        4.0, "pos",
        "TE's fused cast_transpose of each fp8 GEMM's input (forward) and output gradient "
        "(backward): read 2 B of bf16, write the fp8 copy and its transpose (1 + 1 B); the amax "
        "comes out of the same kernel (TE source, cast_transpose)",
        low=2.0, high=4.0,
        reason="TE fuses the input cast into the LayerNorm before QKV/FC1 and the GeLU before FC2, "
               "saving the 2 B read there; 4 is the unfused figure")
    fp8_weight_cast_bytes_per_param: float = _f(
        4.0, "pos",
        "the weights' fp8 copies and transposes are made once per step (Megatron-LM passes TE's "
        "is_first_microbatch, later micro-batches reuse them): read 2 B, write 1 + 1 B per parameter")
    fp8_amax_tensors_per_gemm: float = _f(
        3.0, "pos",
        "delayed scaling (TE DelayedScaling, reduce_amax): each fp8 GEMM tracks the amax of its "
        "input, weight and output gradient; per micro-batch and pass one fused scale-update kernel "
        "and one all-reduce of 4 B per tensor over the data-parallel group")

    # --- memory --------------------------------------------------------------------------------
    sram_operand_fraction: float = _f(
        0.5, "fraction",
        "share of an SRAM-only chip's (D1) memory that holds an op's operands; the rest holds code, "
        "the weight shard, gradient accumulators and communication buffers (HC34)",
        low=0.3, high=0.7, reason="Tesla has not published how the 440 MB are split; half is a round middle")
    adam_state_bytes: float = _f(
        12.0, "pos", "mixed-precision Adam: fp32 master + momentum + variance (Rajbhandari et al. 2020, ZeRO §3.1: K=12)")
    adam_state_bytes_fp32: float = _f(
        8.0, "pos", "fp32 training keeps no master copy: momentum + variance only")
    reserved_memory_fraction: float = _f(
        0.05, "share",
        "CUDA context, cuBLAS/NCCL workspaces and fragmentation take ~2-5 GB of an 80 GB GPU "
        "(PyTorch memory docs; Megatron-LM reports)",
        low=0.03, high=0.08, reason="depends on the framework and allocator settings")
    zero3_live_layers: float = _f(
        2.0, "pos", "FSDP/ZeRO-3 keep the layer being computed and the prefetched next one gathered")

    # --- schedule and overheads ----------------------------------------------------------------
    adam_bytes_per_param: float = _f(
        30.0, "pos",
        "Adam reads fp32 master, m, v and the gradient (~16 B) and writes ~14 B per parameter; fused "
        "multi-tensor Adam runs at memory bandwidth")
    framework_overhead_fraction: float = _f(
        0.03, "nonneg",
        "Python, logging, loss-scale checks, clipping norm, syncs: analytical models run 5-12% fast "
        "end to end (Narayanan et al. SC'21); a flat 3% plus the modelled optimizer and data terms",
        low=0.01, high=0.08, reason="framework- and code-base dependent")
    overlap_compute_slowdown: float = _f(
        0.2, "nonneg",
        "NCCL runs one block per channel, 16-32 channels on 8-NIC nodes = 15-30% of an A100's SMs, "
        "and competes for HBM (NCCL docs; Rashidi et al. ISCA 2021)",
        low=0.1, high=0.3, reason="channel counts and memory contention vary by system")
    dp_overlap_fraction: float = _f(
        1.0, "share",
        "bucketed gradient reduction is issued as gradients become ready during the last backward "
        "pass (Li et al. 2020, 'PyTorch Distributed', §3.2.3)",
        low=0.7, high=1.0, reason="bucket sizes and stream priorities can leave part of the window unused")
    sharded_dp_flat_ring: bool = _f(
        True, "bool",
        "ZeRO-3 runs on Selene are bound by the per-GPU port, not the node (Narayanan et al. SC'21, "
        "Table 2); frameworks issue sharded collectives on the flat data-parallel group")

    moe_all_to_alls_per_pass: float = _f(
        2.0, "pos",
        "a mixture-of-experts layer sends its tokens to their experts and the results back: one "
        "all-to-all to dispatch and one to combine in each pass (Lepikhin et al. 2020, GShard §2.2)")

    # --- structural counts ---------------------------------------------------------------------
    # Not assumptions: each follows from the algorithm it counts (the source says how). They are
    # named here so that no number in engine/ is bare; they have no range and cannot be overridden.
    forward_passes: float = _count(
        1.0, "a training step runs each micro-batch's forward pass once; every op runs one kernel in it")
    backward_passes: float = _count(
        1.0, "and its backward pass once (the input and weight gradients of an op come out of the same "
        "pass); every op runs one kernel in it")
    recompute_passes: float = _count(
        1.0, "full activation recomputation reruns each layer's forward once, just before its backward "
        "(Chen et al. 2016, 'Training Deep Nets with Sublinear Memory Cost'; Korthikanti et al. 2022 §4)")
    spill_crossings: float = _count(
        2.0, "state that lives off the chip crosses its link twice per use: gradients are read and "
        "written back once per micro-batch (accumulation), optimizer state once per step, and "
        "activations are written in the forward pass and read back in the backward pass")
    pipeline_sends_per_chunk: float = _count(
        2.0, "per micro-batch, each pipeline chunk sends its output activation to the next stage and its "
        "input gradient back to the previous one (Narayanan et al. SC'21 §2.2)")
    fp8_amax_bytes: float = _count(
        4.0, "an amax is one fp32 scalar per tensor (Transformer Engine's DelayedScaling keeps its "
        "amax history in fp32)")
    fp8_bytes_per_element: float = _count(
        1.0, "an fp8 element (E4M3 or E5M2; Dojo's CFloat8, [CFP-WP]) is one byte")
    accumulator_bytes: float = _count(
        4.0, "a matrix unit accumulates its products in fp32 ([CFP-WP]: 'CFloat8 operands are expanded "
        "to wider types such as FP32'): a partial sum is 4 bytes")
    softmax_flops_per_score: float = _count(
        5.0, "a softmax over attention scores does five element-wise operations per score: a running "
        "max, a subtraction, an exp, a running sum and the rescale (FlashAttention, Dao et al. 2022, Alg. 1)")

    # --- communication -------------------------------------------------------------------------
    comm_bandwidth_efficiency: float = _f(
        0.85, "fraction",
        "NCCL bus bandwidth is ~80-90% of the link rate (nccl-tests in NVIDIA's DGX guides: "
        "~360-380 of 450 GB/s NVLink H100, ~23-24 of 25 GB/s per HDR port)",
        low=0.75, high=0.92, reason="the same value serves Dojo's mesh and TPU ICI, for which nothing is published")
    comm_step_overhead_s: float = _f(
        1e-6, "nonneg",
        "NCCL's tuning model charges ~0.5-1 us per NVLink hop and a few us per network hop (src/graph/tuning.cc)",
        low=0.5e-6, high=3e-6, reason="software step cost of a ring/tree step is not published per system",
        unit="s")
    collective_launch_s: float = _f(
        5e-6, "nonneg",
        "small all_reduce on 8 NVLink GPUs takes ~10-20 us in nccl-tests, half of it explained by step latencies",
        low=2e-6, high=10e-6, reason="kernel launch and proxy hand-off differ by library", unit="s")
    comm_level_overlap: float = _f(
        1.0, "share",
        "NCCL streams chunks through all levels at once; multi-node bus bandwidth close to the NIC "
        "rate supports full pipelining (1.0 = slowest level, 0.0 = sum of levels)",
        low=0.6, high=1.0, reason="hierarchical algorithms on other systems may run phases one after another")

    # --- a many-core chip (Tesla's D1), engine/cores.py ----------------------------------------
    # 0 = not a many-core chip: the GPU efficiency curve above applies. A chip preset whose
    # nodes are published (the D1) sets them under ``efficiency:`` with their sources.
    cores: float = _f(0, "nonneg", "compute nodes on the chip; 0 = costed as a GPU (no core model)")
    mac_m: float = _f(0, "nonneg", "rows (m) of the matrix unit's output tile; D1: 8 (8x8x4, HC34)")
    mac_n: float = _f(0, "nonneg", "columns (n) of the matrix unit's output tile; D1: 8 (8x8x4, HC34)")
    mac_k: float = _f(0, "nonneg", "reduction depth (k) of one matrix-unit step; D1: 4 (8x8x4, HC34)")
    core_sram_bytes: float = _f(0, "nonneg", "SRAM of one node; D1: 1.25 MB (HC34)", unit="bytes")
    core_load_bandwidth: float = _f(0, "nonneg", "SRAM load bandwidth of one node; D1: 400 GB/s (HC34)",
                                    unit="bandwidth")
    core_store_bandwidth: float = _f(0, "nonneg", "SRAM store bandwidth of one node; D1: 270 GB/s (HC34)",
                                     unit="bandwidth")
    simd_flops: float = _f(0, "nonneg", "FLOP/s of one node's SIMD unit; D1: 64 GFLOPS FP32 (AI Day 2021)",
                           unit="flops")
    mesh_bandwidth: float = _f(0, "nonneg", "on-die mesh bandwidth per node per direction; D1: 512 GB/s "
                               "(AI Day 2021)", unit="bandwidth")
    mesh_operand_links: float = _f(
        2.0, "pos", "mesh directions a node receives GEMM operands over at once (SUMMA-style: A panels "
        "along rows, B panels along columns)",
        low=1.0, high=4.0, reason="not published; a node has 4 directions, and compute and communication "
        "threads share its SRAM ports")

    # Names set explicitly (replace/from_mapping): they win over a chip's own figures.
    explicit: frozenset = field(default=frozenset(), repr=False)
    # Sampled quantiles in [0, 1] per assumed name (`at_quantiles`), applied per chip in for_chip.
    quantiles: tuple = field(default=(), repr=False)

    def __post_init__(self) -> None:
        for info in FIELDS.values():
            object.__setattr__(self, info.name, _checked(info, getattr(self, info.name), f"assumptions.{info.name}"))
        object.__setattr__(self, "_hash", hash(tuple(getattr(self, f.name) for f in fields(self))))

    def __hash__(self) -> int:  # computed once: the engine's caches hash it on every estimate
        return self._hash

    # --- building variants ---------------------------------------------------------------------
    def replace(self, **values) -> "Assumptions":
        """A copy with ``values`` set explicitly (they then win over chip overrides)."""
        return self.from_mapping(values, base=self)

    @classmethod
    def from_mapping(cls, data: Any, path: str = "assumptions", base: "Assumptions | None" = None) -> "Assumptions":
        """Overrides from a user mapping (a run file's ``assumptions:`` block); one-line SpecError
        naming the field on a bad key or value. Values may be numbers, or "5 us" for times."""
        base = base or DEFAULT
        if data is None:
            return base
        if not isinstance(data, Mapping):
            raise SpecError(path, f"expected a mapping of assumption names to values, got {type(data).__name__}")
        values = {}
        for key, raw in data.items():
            values[key] = check_value(key, raw, f"{path}.{key}")
        current = {f.name: getattr(base, f.name) for f in fields(base)}
        current.update(values)
        current["explicit"] = base.explicit | frozenset(values)
        return cls(**current)

    def at_quantiles(self, quantiles: Mapping[str, float]) -> "Assumptions":
        """A copy whose assumed fields ``quantiles`` sit at that quantile of their range (0 = low,
        0.5 = the value, 1 = high, see `at_quantile`); on a chip that carries its own figure, of
        the chip's range. Explicit overrides are kept as they are."""
        for name, u in quantiles.items():
            info = FIELDS.get(name)
            if info is None or not info.assumed:
                raise SpecError(f"assumptions.{name}", "is not an assumed figure with a range")
            if not (isinstance(u, int | float) and 0.0 <= u <= 1.0):
                raise SpecError(f"assumptions.{name}", f"quantile must be in [0, 1], got {u!r}")
        q = dict(self.quantiles)
        q.update({k: float(v) for k, v in quantiles.items() if k not in self.explicit})
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, u in q.items():
            info = FIELDS[name]
            current[name] = at_quantile(u, info.low, info.default, info.high)
        current["quantiles"] = tuple(sorted(q.items()))
        return Assumptions(**current)

    def for_chip(self, chip) -> "Assumptions":
        """The figures the engine uses on ``chip``: the chip's own ``efficiency`` figures replace
        the defaults, except where this object was set explicitly."""
        own = getattr(chip, "efficiency", None) or {}
        if not own:
            return self
        q = dict(self.quantiles)
        update = {}
        for name, entry in own.items():
            if name in self.explicit:
                continue
            value, low, high = entry.value, entry.low, entry.high
            if name in q and low is not None and high is not None:
                value = at_quantile(q[name], low, value, high)
            update[name] = value
        if not update:
            return self
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current.update(update)
        return Assumptions(**current)

    # --- reading -------------------------------------------------------------------------------
    @property
    def training_passes(self) -> float:
        """Passes of a micro-batch in which every op runs a kernel: forward and backward."""
        return self.forward_passes + self.backward_passes

    @staticmethod
    def describe(name: str) -> FieldInfo:
        """Source, range and reason of one field."""
        info = FIELDS.get(name)
        if info is None:
            raise UnknownNameError("assumptions", name, FIELDS, "assumption")
        return info

    def changed(self) -> dict[str, Any]:
        """Fields whose value differs from `DEFAULT` (what a report should mention)."""
        return {n: getattr(self, n) for n in FIELDS if getattr(self, n) != getattr(DEFAULT, n)}

    def to_dict(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in FIELDS}


def at_quantile(u: float, low: float, value: float, high: float) -> float:
    """The figure at quantile ``u`` of an assumed range: linear from ``low`` (u = 0) to the point
    ``value`` (u = 0.5) and on to ``high`` (u = 1), so the point figure is the median belief
    even where it does not sit in the middle of its range."""
    if u <= 0.5:
        return low + 2.0 * u * (value - low)
    return value + (2.0 * u - 1.0) * (high - value)


def _checked(info: FieldInfo, raw: Any, where: str):
    """``raw`` as a valid value of ``info`` or a one-line SpecError at ``where``."""
    if info.kind == "bool":
        if not isinstance(raw, bool):
            raise SpecError(where, f"must be true or false, got {raw!r}")
        return raw
    if isinstance(raw, str) and info.unit:
        from . import units

        raw = units.parse(raw, {"s": "time"}.get(info.unit, info.unit), path=where)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise SpecError(where, f"must be a number, got {raw!r}")
    if not math.isfinite(raw):
        raise SpecError(where, f"must be finite, got {raw!r}")
    if info.kind == "int":
        if raw != int(raw) or raw < 1:
            raise SpecError(where, f"must be a positive whole number, got {raw!r}")
        return int(raw)
    value = float(raw)
    if info.kind == "fraction" and not 0.0 < value <= 1.0:
        raise SpecError(where, f"must be in (0, 1], got {raw!r}")
    if info.kind == "share" and not 0.0 <= value <= 1.0:
        raise SpecError(where, f"must be in [0, 1], got {raw!r}")
    if info.kind == "pos" and value <= 0.0:
        raise SpecError(where, f"must be positive, got {raw!r}")
    if info.kind == "nonneg" and value < 0.0:
        raise SpecError(where, f"must not be negative, got {raw!r}")
    return value


def _field_table() -> dict[str, FieldInfo]:
    table = {}
    for f in fields(Assumptions):
        meta = f.metadata.get("info")
        if meta is None:
            continue
        kind, source, assumed, low, high, reason, unit, structural = meta
        table[f.name] = FieldInfo(f.name, f.default, kind, source, assumed, low, high, reason, unit, structural)
    return table


FIELDS: dict[str, FieldInfo] = _field_table()
DEFAULT = Assumptions()


def assumed_names() -> tuple[str, ...]:
    """The fields with a range, in declaration order (what `dojosim.ranges` samples)."""
    return tuple(n for n, info in FIELDS.items() if info.assumed)


def check_value(name: str, raw: Any, path: str) -> Any:
    """``raw`` as a valid value of the field ``name`` (a SpecError at ``path`` names it otherwise);
    used by readers of other files that carry assumption values (a chip's ``efficiency:``)."""
    info = FIELDS.get(name) if isinstance(name, str) else None
    if info is None:
        raise UnknownNameError(path, str(name), FIELDS, "assumption")
    if info.structural:
        raise SpecError(path, "is a count that follows from the algorithm, not an assumption; "
                              "it cannot be set (docs/assumptions.md)")
    return _checked(info, raw, path)
