"""`estimate(model, system, strategy, assumptions=DEFAULT) -> Estimate`: one training step, costed.

The step of the busiest pipeline stage is assembled from:
  compute      forward + backward (+ recompute) of the stage's layers, per micro-batch, times m
  comm_tp/cp/ep/pp  the collectives on the critical path of each micro-batch
  bubble       (p-1)/v micro-batch times of pipeline fill and drain
  comm_zero    ZeRO-3/FSDP gathers and reduce-scatters not hidden behind compute
  comm_dp      gradient reduction not hidden behind the last backward pass
  memory_stream  Dojo: streaming of what does not fit in SRAM, beyond what compute hides
  optimizer    the Adam update at memory bandwidth
  input        hosts slower than the step
  overhead     framework overhead, a fixed fraction
Everything that does not depend on the batch split is computed once per (model, system, split,
assumptions) and cached, so repeated estimates (the strategy search) cost little. Every figure
the engine assumes comes from the `Assumptions` passed in (after the chip's own overrides).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..assumptions import DEFAULT, Assumptions
from ..checks import check_inputs
from ..strategy import Strategy, check, stage_layers
from .comm_api import CommContext
from .datapath import InputPath, input_path, input_report
from .finite import check_finite
from .compute import (BOUND_KEYS, SUM_ROWS, BlockTime, Device, OpTable, Split, block_sums, block_time_of,
                      fp8_layer_facts, make_device, op_costs, op_table, OpRows, shards)
from .partition import plans
from .memory import Tier
from .result import BREAKDOWN_KEYS, Estimate, StageTiming
from . import terms as T
from .schedule import bubble_time

_CACHE: dict[tuple, tuple] = {}
_CACHE_MAX = 4096


def _cached(key: tuple, keep: tuple, make):
    """``make()``, memoized under ``key``. A key names objects by ``id``; the entry keeps those
    objects (``keep``) alive, so no other object can take their ids while it exists."""
    hit = _CACHE.get(key)
    if hit is not None:
        return hit[1]
    value = make()
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = (keep, value)
    return value


# --------------------------------------------------------------------------------------------
# Per (model, system) facts
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Parts:
    """The model cut into the blocks before, in and after the pipeline-split layers, with the
    per-sample FLOP totals the estimate reports (summed once per model)."""

    pre: tuple
    layers: tuple
    post: tuple
    n_layers: int
    train_flops: float = 0.0         # forward + backward per sample
    layer_fwd_flops: float = 0.0     # forward of all layers per sample (what full recompute redoes)
    layer_attn_flops: float = 0.0    # forward of the layers' attention cores (selective recompute)
    table: OpTable | None = None     # every op of pre + layers + post, as arrays (engine/compute.py)
    group: np.ndarray | None = None  # of each block of the table: 0 pre, 1 layers, 2 post
    first_expert_reads: np.ndarray | None = None   # of each block: its first MoE expert op's reads
    has_expert: np.ndarray | None = None
    op_ends: tuple = (0, 0, 0, 0)    # where each group's ops start and end in the table
    blocks: tuple = ()               # pre + layers + post
    block_ends: tuple = (0, 0, 0, 0)
    # Derived from the table once per model, not per split (`_map_blocks`, `_block_bytes`):
    group_cells: np.ndarray | None = None   # where each row of each block adds (row x 3 + group)
    row_writes: np.ndarray | None = None    # of each op: its writes if row-parallel, else 0
    row_ops: np.ndarray | None = None       # 1.0 where row-parallel
    kv_reads: np.ndarray | None = None      # an attention op's K and V (reads beyond writes), else 0
    byte_cells: np.ndarray | None = None    # where `_block_bytes`' per-op rows add (row x blocks + block)
    byte_group_cells: np.ndarray | None = None   # ... and its per-block rows (row x 3 + group)


def _parts(model) -> Parts:
    blocks = model.blocks
    idx = [i for i, b in enumerate(blocks) if b.layer]
    if not idx:
        pre, layers, post, n = (), tuple(blocks), (), sum(b.count for b in blocks)
    else:
        first, last = idx[0], idx[-1]
        layers = tuple(blocks[first:last + 1])
        pre, post, n = tuple(blocks[:first]), tuple(blocks[last + 1:]), sum(b.count for b in layers if b.layer) or 1
    blocks = pre + layers + post
    firsts = [next((op for op in b.ops if op.expert), None) for b in blocks]
    table = op_table(blocks)
    ends = (0, len(pre), len(pre) + len(layers), len(blocks))
    train, layer_fwd, layer_attn = _flop_totals(table, ends)
    group = np.array([0] * len(pre) + [1] * len(layers) + [2] * len(post), dtype=int)
    return Parts(pre, layers, post, n,
                 table=table, group=group,
                 group_cells=(np.arange(len(_TIME_ROWS))[:, None] * 3 + group[None, :]).ravel(),
                 row_writes=np.where(table.row, table.writes, 0.0), row_ops=table.row.astype(float),
                 kv_reads=np.where(table.attention, np.maximum(table.reads - table.writes, 0.0), 0.0),
                 byte_cells=(np.arange(_BYTE_ROWS)[:, None] * len(blocks) + table.block[None, :]).ravel(),
                 byte_group_cells=(np.arange(_BYTE_ROWS + 1)[:, None] * 3 + group[None, :]).ravel(),
                 first_expert_reads=np.array([op.reads if op else 0.0 for op in firsts], dtype=float),
                 has_expert=np.array([op is not None for op in firsts], dtype=bool),
                 op_ends=tuple(sum(len(b.ops) for b in g) for g in ((), pre, pre + layers, blocks)),
                 blocks=blocks, block_ends=ends,
                 train_flops=train, layer_fwd_flops=layer_fwd, layer_attn_flops=layer_attn)


def _flop_totals(t: OpTable, block_ends: tuple) -> tuple[float, float, float]:
    """Per sample: forward + backward FLOPs of every block (`Model.flops_train_per_sample`), and
    the forward FLOPs of the layers and of their attention ops; summed op by op in block order,
    as Python floats (the same sums, in the same order, as over the ops themselves)."""
    flops, bwd, att = t.flops.tolist(), t.bwd_flops.tolist(), t.attention.tolist()
    counts = t.counts.tolist()
    starts = np.searchsorted(t.block, np.arange(len(counts) + 1)).tolist()
    train = layer_fwd = layer_attn = 0
    for i, c in enumerate(counts):
        a, e = starts[i], starts[i + 1]
        train += int(c) * sum(f + b for f, b in zip(flops[a:e], bwd[a:e]))
        if block_ends[1] <= i < block_ends[2]:
            layer_fwd += int(c) * sum(flops[a:e])
            layer_attn += int(c) * sum(f for f, x in zip(flops[a:e], att[a:e]) if x)
    return train, layer_fwd, layer_attn


# The parts of each model (by identity; the entry keeps the model, so no other object takes its
# id while it is here): its blocks cut at the layers, its op table and FLOP totals, derived once
# from the frozen model, as its ops are - they outlive `_CACHE.clear()`: a new split costs the
# same ops again, it does not re-read them. The same per system (`_SYSTEMS`): its memories, its
# chip count and power, its chip's assumptions.
_PARTS: dict[int, tuple] = {}
_SYSTEMS: dict[int, tuple] = {}
_PARTS_MAX = 256


def _by_identity(store: dict, obj, key, make):
    """``make()``, kept under ``key`` for ``obj`` (by identity: the entry keeps ``obj``)."""
    hit = store.get(id(obj))
    if hit is None:
        if len(store) >= _PARTS_MAX:
            store.clear()
        hit = store[id(obj)] = (obj, {})
    memo = hit[1]
    value = memo.get(key)
    if value is None:
        value = memo[key] = make()
    return value


def _model_parts(model) -> Parts:
    return _by_identity(_PARTS, model, "parts", lambda: _parts(model))


def _system_memories(system) -> "Memories":
    return _by_identity(_SYSTEMS, system, "mem", lambda: _memories(system))


@dataclass(frozen=True)
class SystemFacts:
    chips: int
    power_w: float


def _system_facts(system) -> SystemFacts:
    return SystemFacts(system.chips, system.power_w)


@dataclass(frozen=True)
class Memories:
    """Where one chip's state can live and how fast it streams (per chip)."""

    tiers: list
    act_bandwidth: float       # memory the activations live in
    state_bandwidth: float     # memory weights/optimizer state live in when they fit
    stream_bandwidth: float    # chip <- level pool streaming (0 when no pool)
    input_bandwidth: float     # whole-system host input bytes/s (0 = unlimited)
    input: InputPath           # the hosts behind it (engine/datapath.py)


def _memories(system) -> Memories:
    chip = system.chip
    tiers: list[Tier] = []
    stream_bw = 0.0
    if chip.dram_bytes > 0:
        tiers.append(Tier("hbm", chip.dram_bytes, chip.dram_bandwidth))
        act_bw = chip.dram_bandwidth
    else:
        tiers.append(Tier("sram", chip.sram_bytes, chip.sram_bandwidth))
        act_bw = chip.sram_bandwidth
    for i, lv in enumerate(system.levels):
        if not lv.memory_pools:
            continue
        n = system.level_chips(i)
        cap = sum(p.count * p.capacity_bytes for p in lv.memory_pools) / n
        bw = sum(p.count * min(p.bandwidth, p.link_bandwidth) for p in lv.memory_pools) / n
        tiers.append(Tier(f"{lv.name}_pool", cap, bw))
        if stream_bw == 0.0:
            stream_bw = bw
    # A chip file without any bandwidth is legal data; keep the arithmetic finite (1 B/s).
    act_bw = act_bw or 1.0
    tiers = [Tier(tr.name, tr.capacity, tr.bandwidth or 1.0) for tr in tiers]
    path = input_path(system)
    return Memories(tiers, act_bw, tiers[0].bandwidth, stream_bw, path.bandwidth(), path)


# --------------------------------------------------------------------------------------------
# Per (model, system, precision, split, micro-batch) costs
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Costs:
    """Seconds and bytes of one micro-batch on one device, averaged per layer where split."""

    layer: BlockTime           # one average layer
    pre: BlockTime             # all blocks before the layers (first stage)
    post: BlockTime            # all blocks after the layers (last stage)
    layer_params: float        # parameters of one average layer on this device
    layer_expert_params: float  # of which in MoE experts (replicated only over dp*cp/ep ranks)
    pre_params: float
    post_params: float
    layer_saved: float         # bytes saved for backward by one layer, one micro-batch
    layer_input: float         # bytes of one layer's input (what full recompute keeps)
    pre_saved: float
    post_saved: float
    tp_row_bytes: float        # bytes of row-parallel outputs per layer (TP all-reduce payload)
    pre_tp_row_bytes: float
    post_tp_row_bytes: float
    tp_rows: float             # row-parallel ops per layer: one TP collective each per pass
    pre_tp_rows: float
    post_tp_rows: float
    a2a_bytes: float           # MoE dispatch payload per layer (0 for dense)
    kv_bytes: float            # attention K+V per layer (CP exchange payload)
    boundary_bytes: float      # activation passed between pipeline stages
    halo_bytes: float          # conv rows one rank receives per neighbour per layer, spatial (cp) split
    halo_ops: float            # convolutions per layer that exchange a halo
    edge_halo_bytes: float     # the same for the blocks before/after the layers (one stage)
    edge_halo_ops: float
    tensor_peak: float         # the chip's tensor FLOP/s in the run's precision (for MFU)
    gather_bytes: float = 0.0  # inputs all-gathered per layer by channel-split convolutions
    gather_ops: float = 0.0
    edge_gather_bytes: float = 0.0
    edge_gather_ops: float = 0.0
    partitions: tuple = ()     # (block, partition) of a spatial split (engine/partition.py)


@dataclass(frozen=True)
class Mapped:
    """Blocks as mapped over a spatial split: their time (load imbalance included), what their
    chosen partitions exchange per micro-batch, and the partition of each block."""

    time: BlockTime
    halo_bytes: float = 0.0      # one rank receives from each neighbour, all repetitions
    halo_ops: float = 0.0
    gather_bytes: float = 0.0    # inputs all-gathered by channel-split convolutions
    gather_ops: float = 0.0
    partitions: tuple = ()       # (block name, partition)


# Rows of `block_sums` that are seconds (stretched by a partition's imbalance), not FLOPs.
_TIME_ROWS = np.array([not r.endswith("flops") for r in SUM_ROWS] + [True] * len(BOUND_KEYS))


def _map_blocks(parts: Parts, mb, split, dev, link_bw: float) -> tuple[Mapped, Mapped, Mapped]:
    """All repetitions of the blocks before, in and after the layers for one micro-batch on one
    device; with a spatial split of a CNN (cp > 1), each block on its own partition
    (engine/partition.py). Every op is costed in one pass (`op_costs`)."""
    t = parts.table
    c = op_costs(t, mb, split, dev)
    sums = block_sums(t, c, dev)
    stretch = 1.0
    exchange = np.zeros((4, 3))         # per group: halo, halo ops, gather, gather ops
    names = ((), (), ())
    if split.cp > 1:
        eb = dev.element_bytes
        p = plans(parts.blocks, split.cp, sums[0] + sums[1], link_bw, eb)
        stretch = np.where(p.imbalance > 1.0, p.imbalance, 1.0)
        n = t.counts
        per_block = np.array([n * p.halo * mb * eb, n * p.halo_ops, n * p.gather * mb * eb, n * p.gather_ops])
        cells = np.arange(4)[:, None] * 3 + parts.group[None, :]
        exchange = np.bincount(cells.ravel(), weights=per_block.ravel(), minlength=12).reshape(4, 3)
        named = list(zip((b.name for b in parts.blocks), p.partitions))
        ends = parts.block_ends
        names = tuple(tuple(named[ends[g]:ends[g + 1]]) for g in range(3))
    # every repetition of each block, the busiest chip's time; summed per group in block order
    # (without a spatial split nothing stretches: sums * 1.0 is sums)
    scaled = (sums if split.cp <= 1 else np.where(_TIME_ROWS[:, None], sums * stretch, sums)) * t.counts
    totals = np.bincount(parts.group_cells, weights=scaled.ravel(), minlength=3 * len(_TIME_ROWS))
    totals = totals.reshape(len(_TIME_ROWS), 3)
    ends, x = parts.op_ends, exchange.tolist()
    return tuple(Mapped(block_time_of(totals[:, g], OpRows(t.names, c, ends[g], ends[g + 1])), x[0][g], x[1][g],
                        x[2][g], x[3][g], names[g]) for g in range(3))


def _link_bandwidth(system) -> float:
    """The rate a chip talks to its mesh neighbours at (what a partition's exchange is costed at
    when choosing it)."""
    if system.levels:
        return system.levels[0].link_bandwidth
    return system.scale_out.link_bandwidth if system.scale_out else 1.0


@dataclass(frozen=True)
class BlockBytes:
    """What a run of blocks holds and sends for one micro-batch on one device (all repetitions)."""

    params: float = 0.0         # parameters on this device
    expert_params: float = 0.0  # of which in MoE experts
    saved: float = 0.0          # bytes saved for the backward pass
    tp_row_bytes: float = 0.0   # outputs of row-parallel ops (the TP collectives' payload)
    tp_rows: float = 0.0        # row-parallel ops: one TP collective each per pass
    a2a_bytes: float = 0.0      # MoE dispatch payload
    kv_bytes: float = 0.0       # attention K and V (the CP exchange payload)


_BYTE_ROWS = 6   # per-op rows `_block_bytes` sums per block (then one per block: the MoE dispatch)
_IN_ELEMENTS = np.array([False, False, True, True, False, True, True])[:, None]   # of those rows


def _block_bytes(parts: Parts, mb, split, eb, dev: Device) -> tuple[BlockBytes, BlockBytes, BlockBytes]:
    """`BlockBytes` of the blocks before, in and after the layers."""
    t = parts.table
    nb = t.n_blocks
    _, saved_shard, param_shard = shards(t, split)
    params = t.params / param_shard
    saved = t.saved * mb / saved_shard
    if dev.te_fp8:
        # Transformer Engine keeps an fp8 GEMM's input for the weight gradient as its fp8 copy
        # (1 byte per element, not 2)
        saved = saved * np.where(t.fp8_kind, dev.a.fp8_bytes_per_element / dev.element_bytes, 1.0)
    per_op = np.array([params, np.where(t.expert, params, 0.0) if parts.has_expert.any() else np.zeros(len(params)),
                       saved, parts.row_writes * mb / split.cp, parts.row_ops,
                       # K and V of the full sequence
                       parts.kv_reads * mb / split.tp])
    per_block = np.bincount(parts.byte_cells, weights=per_op.ravel(), minlength=_BYTE_ROWS * nb).reshape(-1, nb)
    # then the MoE dispatch of each block (a block without an expert op reads 0 there); all
    # repetitions, in bytes where the row counts elements
    a2a = parts.first_expert_reads * mb / split.cp
    per_block = np.concatenate([per_block, a2a[None, :]]) * t.counts * np.where(_IN_ELEMENTS, eb, 1.0)
    tot = np.bincount(parts.byte_group_cells, weights=per_block.ravel(), minlength=3 * (_BYTE_ROWS + 1))
    # rows: params, expert params, saved, tp row bytes, tp rows, kv, a2a
    return tuple(BlockBytes(*v[:5], a2a_bytes=v[6], kv_bytes=v[5]) for v in tot.reshape(-1, 3).T.tolist())


@dataclass(frozen=True)
class Times:
    """The compute side of `Costs` (all `step_lower_bound` needs): one average layer, the
    blocks before and after the layers, and the blocks as mapped."""

    layer: BlockTime
    pre: BlockTime
    post: BlockTime
    mapped: tuple              # Mapped of the blocks before, in and after the layers
    dev: Device


def _times(model, system, precision: str, split: Split, mb: int, mem: Memories, a: Assumptions) -> Times:
    dev: Device = make_device(system.chip, precision, mem.act_bandwidth, mem.stream_bandwidth, a)
    parts = _model_parts(model)
    m_pre, m_layers, m_post = _map_blocks(parts, mb, split, dev, _link_bandwidth(system))
    return Times(m_layers.time.scaled(1.0 / parts.n_layers), m_pre.time, m_post.time, (m_pre, m_layers, m_post), dev)


def _cached_times(model, system, precision: str, split: Split, mb: int, a: Assumptions) -> Times:
    mem = _system_memories(system)
    return _cached(("times", id(model), id(system), precision, split, mb, a), (model, system),
                   lambda: _times(model, system, precision, split, mb, mem, a))


def _costs(model, times: Times, split: Split, mb: int) -> Costs:
    dev = times.dev
    parts = _model_parts(model)
    n = parts.n_layers
    eb = dev.element_bytes
    m_pre, m_layers, m_post = times.mapped
    layer = times.layer
    pb, lb, qb = _block_bytes(parts, mb, split, eb, dev)
    hidden = model.hidden or 0
    seq = model.seq_len or 1
    if hidden:
        layer_input = seq * hidden * mb * eb / split.cp
    else:
        first = parts.layers[0].ops[0] if parts.layers and parts.layers[0].ops else None
        layer_input = (max(first.reads - first.params, 0.0) * mb * eb) if first else 0.0
    if split.sequence_parallel:
        layer_input /= split.tp
    boundary = layer_input if split.sequence_parallel else layer_input / split.tp  # scatter-gather
    return Costs(
        layer=layer, pre=m_pre.time, post=m_post.time,
        layer_params=lb.params / n, layer_expert_params=lb.expert_params / n, pre_params=pb.params,
        post_params=qb.params, layer_saved=lb.saved / n, layer_input=layer_input, pre_saved=pb.saved,
        post_saved=qb.saved, tp_row_bytes=lb.tp_row_bytes / n, pre_tp_row_bytes=pb.tp_row_bytes,
        post_tp_row_bytes=qb.tp_row_bytes, tp_rows=lb.tp_rows / n, pre_tp_rows=pb.tp_rows,
        post_tp_rows=qb.tp_rows, a2a_bytes=lb.a2a_bytes / n, kv_bytes=lb.kv_bytes / n,
        boundary_bytes=boundary, tensor_peak=dev.tensor_peak,
        halo_bytes=m_layers.halo_bytes / n, halo_ops=m_layers.halo_ops / n,
        edge_halo_bytes=m_pre.halo_bytes + m_post.halo_bytes, edge_halo_ops=m_pre.halo_ops + m_post.halo_ops,
        gather_bytes=m_layers.gather_bytes / n, gather_ops=m_layers.gather_ops / n,
        edge_gather_bytes=m_pre.gather_bytes + m_post.gather_bytes,
        edge_gather_ops=m_pre.gather_ops + m_post.gather_ops,
        partitions=m_pre.partitions + m_layers.partitions + m_post.partitions,
    )


# --------------------------------------------------------------------------------------------
# The estimate
# --------------------------------------------------------------------------------------------

def _choose_micro_batch(model, system, s: Strategy, a: Assumptions) -> int:
    """The fastest micro-batch that fits, by the search's rule: every divisor of the per-replica
    batch (interleaving: those leaving a multiple of pp micro-batches), ascending; memory grows
    with the micro-batch, so the first that does not fit ends the walk; ties go to the smaller.
    When none fits, the smallest (estimated anyway, reported as not fitting)."""
    per_replica = s.global_batch // s.dp
    options = [d for d in range(1, per_replica + 1) if per_replica % d == 0]
    if s.pp > 1 and s.interleave > 1:
        options = [d for d in options if (per_replica // d) % s.pp == 0] or [1]
    best, best_step = options[0], None
    for d in options:
        est = _estimate(model, system, s.model_copy(update={"micro_batch": d}), a)
        if not est.memory.fits:
            break
        if best_step is None or est.step_time_s < best_step:
            best, best_step = d, est.step_time_s
    return best


def estimate(model, system, strategy: Strategy, assumptions: Assumptions = DEFAULT) -> Estimate:
    """Predict one training step of ``model`` on ``system`` under ``strategy``, with the engine's
    figures taken from ``assumptions`` (`dojosim.assumptions`; the chip's own figures apply
    unless ``assumptions`` sets them explicitly).

    Pure and deterministic. Raises `StrategyError` for an impossible split; a split that does not
    fit in memory is still estimated and reported with ``memory.fits = False``.

    Per-(model, system) work is memoized by object identity: treat a Model or System as frozen
    once estimated, and change a copy (``system.model_copy(update=...)``) to try variants.
    """
    s = check_inputs(model, system, strategy, assumptions)
    facts = _by_identity(_SYSTEMS, system, "facts", lambda: _system_facts(system))
    a = chip_assumptions(system, assumptions)
    check(s, devices=facts.chips, layers=model.layers, heads=model.heads, kv_heads=model.kv_heads,
          experts=model.experts, seq_len=model.seq_len, rows=model.spatial_rows)
    if s.micro_batch is None:
        mb = _choose_micro_batch(model, system, s, a)
        est = _estimate(model, system, s.model_copy(update={"micro_batch": mb}), a)
        return check_finite(_with_note(est, f"micro_batch chosen by the engine: {mb} (the fastest that fits, "
                                            f"{s.global_batch // s.dp // mb} micro-batches per replica)"), system)
    return check_finite(_estimate(model, system, s, a), system)




def _staged_partitions(partitions, parts: Parts, stages) -> list[list]:
    """[block, partition, pipeline stage] of a spatial split: the blocks before the layers run
    on the first stage, those after on the last, each layer block where its layers fall."""
    if not partitions:
        return []
    bounds, acc = [], 0.0
    for n in stages:
        acc += n
        bounds.append(acc)
    stage_of = {}
    done = 0.0
    for b in parts.layers:   # a non-layer block between layers goes where it falls
        mid = done + (b.count / 2.0 if b.layer else 0.0)
        stage_of[b.name] = next((i for i, e in enumerate(bounds) if mid <= e + 1e-9), len(bounds) - 1)
        done += b.count if b.layer else 0
    last = len(stages) - 1
    for b in parts.pre:
        stage_of.setdefault(b.name, 0)
    for b in parts.post:
        stage_of.setdefault(b.name, last)
    return [[name, part, stage_of.get(name, 0)] for name, part in partitions]


def _shares(seconds: dict[str, float]) -> dict[str, float]:
    """Each key's share of the total (what bound the ops' time, forward + backward)."""
    total = sum(seconds.values())
    return {k: v / total for k, v in seconds.items() if v > 0} if total > 0 else {}


def _stage_compute(costs: "Costs | Times", stages: tuple[float, ...], recompute: str):
    """The slowest stage's index, its edge blocks, and its forward, backward and recompute seconds
    for one micro-batch (recompute FLOPs enter the hardware FLOPs per whole model)."""
    k, edges, fwd_s, bwd_s = _slowest_stage_compute(costs, stages)
    return k, edges, fwd_s, bwd_s, _recompute_s(costs, stages[k], recompute)


def _slowest_stage_compute(costs: "Costs | Times", stages: tuple[float, ...]):
    """(index, edge blocks, forward s, backward s) of the stage with the longest compute."""
    L, pre, post = costs.layer, costs.pre, costs.post
    pp = len(stages)
    k = _slowest_stage(stages, L.fwd_s + L.bwd_s, pre.fwd_s + pre.bwd_s, post.fwd_s + post.bwd_s)
    n = stages[k]
    edges = [b for i, b in ((0, pre), (pp - 1, post)) if i == k]
    return k, edges, n * L.fwd_s + sum(b.fwd_s for b in edges), n * L.bwd_s + sum(b.bwd_s for b in edges)


def _recompute_s(costs: "Costs | Times", n_layers: float, recompute: str) -> float:
    """Seconds of one micro-batch's recomputed forward passes on a stage of ``n_layers``."""
    L = costs.layer
    return n_layers * (L.fwd_s if recompute == "full" else L.attn_fwd_s if recompute == "selective" else 0.0)


def _fp8_facts(model, system, precision: str, split: Split, mem: Memories, a: Assumptions):
    """(parameters per layer Transformer Engine runs in fp8, fp8 GEMMs per layer), cached."""
    parts: Parts = _model_parts(model)
    return _cached(("fp8", id(model), id(system), precision, split), (model, system),
                   lambda: fp8_layer_facts(parts.layers, split, make_device(
                       system.chip, precision, mem.act_bandwidth, a=a)))


def _cached_costs(model, system, precision: str, split: Split, mb: int, a: Assumptions) -> Costs:
    return _cached(("costs", id(model), id(system), precision, split, mb, a), (model, system),
                   lambda: _costs(model, _cached_times(model, system, precision, split, mb, a), split, mb))


def comm_context(system, s: Strategy, a: Assumptions) -> CommContext:
    """The collective times of ``s``'s placed groups on ``system`` (cached per split and order;
    ``a`` as `chip_assumptions` returned it)."""
    return _cached(("comm", id(system), s.tp, s.cp, s.ep, s.pp, s.dp, s.order, a), (system,),
                   lambda: CommContext(system, s, a))


def chip_assumptions(system, assumptions: Assumptions = DEFAULT) -> Assumptions:
    """``assumptions`` with ``system``'s chip overrides applied (cached)."""
    return _by_identity(_SYSTEMS, system, assumptions, lambda: assumptions.for_chip(system.chip))


def _stages(model, s: Strategy, n_layers: int) -> tuple[float, ...]:
    """Layers per pipeline stage. A model without a layer count (a CNN cut into blocks) is split
    evenly, fractions allowed, as before uneven stages existed."""
    if s.pp > 1 and model.layers and (s.uneven_fields or n_layers % s.pp):
        return tuple(float(n) for n in stage_layers(s, n_layers))
    return (n_layers / s.pp,) * s.pp


def _slowest_stage(stages: tuple[float, ...], layer_s: float, pre_s: float, post_s: float) -> int:
    """Index of the stage with the longest compute (first wins a tie); the only stage when pp = 1."""
    last = len(stages) - 1
    if last > 0 and stages.count(stages[0]) == last + 1:
        # even stages (the search's common case): only the first, a middle and the last differ
        n = stages[0]
        first, mid, end = n * layer_s + pre_s + 0.0, n * layer_s + 0.0 + 0.0, n * layer_s + 0.0 + post_s
        return 0 if first >= mid and first >= end else 1 if last > 1 and mid >= end else last
    cost = [n * layer_s + (pre_s if i == 0 else 0.0) + (post_s if i == last else 0.0)
            for i, n in enumerate(stages)]
    return max(range(len(stages)), key=cost.__getitem__)


def _recompute_flops(parts: Parts, s: Strategy) -> float:
    """FLOPs the devices execute beyond the model's: the recomputed forward passes."""
    if s.recompute == "full":
        return parts.layer_fwd_flops * s.global_batch
    if s.recompute == "selective":
        return parts.layer_attn_flops * s.global_batch
    return 0.0


def _notes(s: Strategy, stages, k: int, n_layers: int, fits: bool, input_info: dict, spill: dict,
           mem: Memories) -> list[str]:
    """What the user should know about this estimate, beside its numbers."""
    notes = []
    if len(set(stages)) > 1:
        how = ("as the run gives them" if s.uneven_fields else
               f"balanced: pp={s.pp} does not divide the {n_layers} layers")
        notes.append(f"uneven pipeline stages ({how}): {'/'.join(str(int(n)) for n in stages)} layers; "
                     f"times use the slowest stage ({k + 1} of {s.pp})")
    if not fits:
        notes.append("does not fit in memory: needs more than the device's capacity")
    if input_info.get("bound"):
        notes.append(input_info["note"])
    if spill:
        notes.append("state spills out of on-chip memory and is streamed from "
                     + ", ".join(t.name for t in mem.tiers[1:]))
    return notes


def _with_note(est: Estimate, note: str) -> Estimate:
    from dataclasses import replace

    return replace(est, notes=est.notes + (note,))


def _estimate(model, system, s: Strategy, a: Assumptions, comm: CommContext | None = None) -> Estimate:
    mb = s.micro_batch or 1
    m = s.micro_batches
    split = Split(s.tp, s.cp, s.ep, s.sequence_parallel)
    mem = _system_memories(system)
    costs = _cached_costs(model, system, s.precision, split, mb, a)
    if comm is None:
        comm = comm_context(system, s, a)
    parts: Parts = _model_parts(model)
    facts: SystemFacts = _by_identity(_SYSTEMS, system, "facts", lambda: _system_facts(system))
    pp, v = s.pp, s.interleave
    L = costs.layer
    recompute = s.recompute
    # Layers per stage: even, or uneven (given, or balanced when pp does not divide them). One
    # stage holds everything when pp = 1; otherwise the busiest is the one whose layers plus
    # extra block (embedding on the first, output layer + loss on the last) cost the most.
    stages = _stages(model, s, parts.n_layers)
    k, edges, fwd_s, bwd_s, re_s = _stage_compute(costs, stages, recompute)
    st = T.Stage(s, a, costs, comm, mem, stages, k, tuple(edges), fwd_s, bwd_s, re_s)
    layers_dev = st.layers
    edge_bounds = [sum(x) for x in zip(*(b.bound_s for b in edges))] or [0.0] * len(BOUND_KEYS)
    op_bounds = {key: layers_dev * x + e for key, x, e in zip(BOUND_KEYS, L.bound_s, edge_bounds)}
    fp8_params, fp8_gemms = _fp8_facts(model, system, s.precision, split, mem, a)

    # ---- per micro-batch on the busiest stage, then the pipeline ------------------------------
    comp = T.compute_term(st, fp8_params, fp8_gemms)
    tp_mb, cp_mb, ep_mb, pp_mb = T.tp_term(st, fp8_params), T.cp_term(st), T.ep_term(st), T.pp_term(st)
    per_mb = comp.per_mb_s + tp_mb + cp_mb + ep_mb + pp_mb
    busy = m * per_mb
    bubble = bubble_time(pp, m, v, per_mb)

    # ---- per step: memory, data parallelism, streaming, optimizer, input, overhead ------------
    memory = T.memory_term(st)
    dp = T.dp_term(st, memory)
    stream = T.stream_term(st, memory, busy)
    bd = dict.fromkeys(BREAKDOWN_KEYS, 0.0)
    bd["compute"] = m * (comp.per_mb_s - comp.stream_mb_s) + comp.weight_cast_s
    bd["comm_tp"] = m * tp_mb
    bd["comm_cp"] = m * cp_mb
    bd["comm_ep"] = m * ep_mb
    bd["comm_pp"] = m * pp_mb
    bd["bubble"] = bubble
    bd["comm_zero"] = dp.zero_s
    bd["comm_dp"] = dp.exposed_s + comp.amax_s
    bd["memory_stream"] = stream.seconds + m * comp.stream_mb_s
    bd["optimizer"] = T.optimizer_term(st, memory)
    subtotal = sum(bd.values())
    inp = T.input_term(model, st, subtotal)
    bd["input"] = inp.seconds
    input_info = input_report(mem.input, s.global_batch * model.input_bytes_per_sample, subtotal,
                               inp.delivery_s)
    bd["overhead"] = a.framework_overhead_fraction * (subtotal + inp.seconds)
    step = sum(bd.values())
    mem_rep, spill, params_dev, in_flight = memory.report, memory.spill, memory.params, memory.in_flight
    edge_acts, dp_raw, moved, t_in = memory.edge_acts, dp.raw_s, stream.bytes, inp.delivery_s

    # ---- throughput, FLOPs, energy -------------------------------------------------------------
    model_flops = parts.train_flops * s.global_batch
    hw_flops = model_flops + _recompute_flops(parts, s)
    devices, power = facts.chips, facts.power_w
    peak = devices * costs.tensor_peak
    tokens = model.seq_len * s.global_batch / step if model.seq_len else None
    # fp8 scale updates (one fused kernel per pass) belong to the passes' compute
    scale_upd = (comp.per_mb_s - (fwd_s + bwd_s + re_s)) / a.training_passes
    stage = StageTiming(forward_s=(fwd_s + scale_upd) / v, backward_s=(bwd_s + re_s + scale_upd) / v,
                        comm_s={"tp": tp_mb / v, "cp": cp_mb / v, "ep": ep_mb / v, "pp": pp_mb / v},
                        ops=tuple(L.ops))
    notes = _notes(s, stages, k, parts.n_layers, mem_rep.fits, input_info, spill, mem)
    return Estimate(
        model=model.name, system=system.name, devices=devices, strategy=s.model_dump(mode="json"),
        step_time_s=step, breakdown=bd,
        samples_per_s=s.global_batch / step, tokens_per_s=tokens,
        model_flops_per_step=model_flops, hardware_flops_per_step=hw_flops,
        mfu=model_flops / (step * peak), hfu=hw_flops / (step * peak),
        memory=mem_rep, energy_j_per_step=power * step, power_w=power,
        cost_usd_per_step=None,   # needs an amortization period; the plan/fleet layer prices runs
        micro_batches=m, pipeline_stages=pp, interleave=v, stage=stage,
        dp_comm_s=dp_raw, notes=tuple(notes),
        extra={"micro_batch": mb, "in_flight_micro_batches": in_flight, "params_per_device": params_dev,
               "layer_saved_bytes": costs.layer_saved, "layer_input_bytes": costs.layer_input,
               "edge_activation_bytes": edge_acts, "streamed_bytes_per_step": moved,
               "input_s": t_in, "layers_per_device": layers_dev,
               "stage_layers": list(stages), "input": input_info, "op_bounds": _shares(op_bounds),
               "partitions": _staged_partitions(costs.partitions, parts, stages),
               # what the timeline needs to replay the step to the same total: the part of each
               # micro-batch's compute spent waiting on streamed operands, and the fp8 weight cast
               "stream_per_micro_batch_s": comp.stream_mb_s, "fp8_weight_cast_s": comp.weight_cast_s},
    )
