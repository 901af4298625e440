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

from ..assumptions import DEFAULT, Assumptions
from ..checks import check_inputs
from ..strategy import Strategy, check, stage_layers
from .comm_api import CommContext
from .datapath import InputPath, input_path
from .finite import check_finite
from .compute import (BOUND_KEYS, BlockTime, Device, Split, block_time, fp8_layer_facts, is_te_fp8,
                      make_device, param_shard, saved_shard)
from .partition import plan
from .memory import (Tier, in_flight_micro_batches, report, state_bytes, stream_bytes_per_step,
                     weight_bytes)
from .result import BREAKDOWN_KEYS, Estimate, StageTiming
from .schedule import bubble_time, overlapped

_CACHE: dict[tuple, tuple] = {}
_CACHE_MAX = 4096


def _cached(key: tuple, keep: tuple, make):
    hit = _CACHE.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], keep)):
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


def _parts(model) -> Parts:
    blocks = model.blocks
    idx = [i for i, b in enumerate(blocks) if b.layer]
    if not idx:
        pre, layers, post, n = (), tuple(blocks), (), sum(b.count for b in blocks)
    else:
        first, last = idx[0], idx[-1]
        layers = tuple(blocks[first:last + 1])
        pre, post, n = tuple(blocks[:first]), tuple(blocks[last + 1:]), sum(b.count for b in layers if b.layer) or 1
    return Parts(pre, layers, post, n,
                 train_flops=model.flops_train_per_sample,
                 layer_fwd_flops=sum(b.count * sum(op.flops for op in b.ops) for b in layers),
                 layer_attn_flops=sum(b.count * sum(op.flops for op in b.ops if op.kind == "attention")
                                      for b in layers))


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


def _map_blocks(blocks, mb, split, dev, link_bw: float) -> Mapped:
    """All repetitions of ``blocks`` for one micro-batch on one device; with a spatial split of a
    CNN (cp > 1), each block on its own partition (engine/partition.py)."""
    total = BlockTime(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, ())
    hb = hn = gb = gn = 0.0
    names = []
    eb = dev.element_bytes
    for b in blocks:
        t = block_time(b, mb, split, dev)
        if split.cp > 1:
            p = plan(b, split.cp, t.fwd_s + t.bwd_s, link_bw, eb)
            if p.imbalance > 1.0:
                t = t.stretched(p.imbalance)
            hb += b.count * p.halo * mb * eb
            hn += b.count * p.halo_ops
            gb += b.count * p.gather * mb * eb
            gn += b.count * p.gather_ops
            names.append((b.name, p.partition))
        total = total + t.scaled(b.count)
    return Mapped(total, hb, hn, gb, gn, tuple(names))


def _link_bandwidth(system) -> float:
    """The rate a chip talks to its mesh neighbours at (what a partition's exchange is costed at
    when choosing it)."""
    if system.levels:
        return system.levels[0].link_bandwidth
    return system.scale_out.link_bandwidth if system.scale_out else 1.0


def _block_bytes(blocks, mb, split, eb, dev: Device | None = None):
    params = saved = row = a2a = kv = expert = rows_n = 0.0
    for b in blocks:
        p = s = r = a = k = x = rn = 0.0
        has_expert = False
        for op in b.ops:
            p += op.params / param_shard(op, split)
            if op.expert:
                x += op.params / param_shard(op, split)
            # Transformer Engine keeps an fp8 GEMM's input for the weight gradient as its fp8
            # copy (1 byte per element, not 2)
            fp8_saved = dev is not None and is_te_fp8(op, dev, b.layer)
            s += op.saved * mb / saved_shard(op, split) * (0.5 if fp8_saved else 1.0)
            if op.tp == "row":
                r += op.writes * mb / split.cp
                rn += 1
            if op.expert:
                has_expert = True
            if op.kind == "attention":
                k += max(op.reads - op.writes, 0.0) * mb / split.tp   # K and V of the full sequence
        if has_expert:
            first = next(op for op in b.ops if op.expert)
            a = first.reads * mb / split.cp
        params += b.count * p
        saved += b.count * s * eb
        row += b.count * r * eb
        a2a += b.count * a * eb
        kv += b.count * k * eb
        expert += b.count * x
        rows_n += b.count * rn
    return params, saved, row, a2a, kv, expert, rows_n


def _costs(model, system, precision: str, split: Split, mb: int, mem: Memories, a: Assumptions) -> Costs:
    dev: Device = make_device(system.chip, precision, mem.act_bandwidth, mem.stream_bandwidth, a)
    parts = _cached(("parts", id(model)), (model,), lambda: _parts(model))
    n = parts.n_layers
    eb = dev.element_bytes
    link = _link_bandwidth(system)
    m_layers = _map_blocks(parts.layers, mb, split, dev, link)
    m_pre = _map_blocks(parts.pre, mb, split, dev, link)
    m_post = _map_blocks(parts.post, mb, split, dev, link)
    layer = m_layers.time.scaled(1.0 / n)
    lp, ls, lr, la, lk, lx, ln = _block_bytes(parts.layers, mb, split, eb, dev)
    pp_, ps, pr, _, _, _, pn = _block_bytes(parts.pre, mb, split, eb)
    qp, qs, qr, _, _, _, qn = _block_bytes(parts.post, mb, split, eb)
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
        layer_params=lp / n, layer_expert_params=lx / n, pre_params=pp_, post_params=qp,
        layer_saved=ls / n, layer_input=layer_input, pre_saved=ps, post_saved=qs,
        tp_row_bytes=lr / n, pre_tp_row_bytes=pr, post_tp_row_bytes=qr,
        tp_rows=ln / n, pre_tp_rows=pn, post_tp_rows=qn,
        a2a_bytes=la / n, kv_bytes=lk / n, boundary_bytes=boundary, tensor_peak=dev.tensor_peak,
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
    facts = _cached(("facts", id(system)), (system,), lambda: _system_facts(system))
    a = _cached(("assumptions", id(system), assumptions), (system,), lambda: assumptions.for_chip(system.chip))
    check(s, devices=facts.chips, layers=model.layers, heads=model.heads, kv_heads=model.kv_heads,
          experts=model.experts, seq_len=model.seq_len, rows=model.spatial_rows)
    if s.micro_batch is None:
        mb = _choose_micro_batch(model, system, s, a)
        est = _estimate(model, system, s.model_copy(update={"micro_batch": mb}), a)
        return check_finite(_with_note(est, f"micro_batch chosen by the engine: {mb} (the fastest that fits, "
                                            f"{s.global_batch // s.dp // mb} micro-batches per replica)"), system)
    return check_finite(_estimate(model, system, s, a), system)


def _input_report(path: InputPath, step_bytes: float, busy_s: float, t_in: float) -> dict:
    """What the hosts deliver, what the step needs, whether input binds, and how many hosts
    (PCIe-attached, plus Z-plane ones over Ethernet) would remove the bound."""
    out = {"level": path.level, "bandwidth": path.bandwidth(), "hosts": path.hosts,
           "needed_bandwidth": step_bytes / busy_s if busy_s > 0 else 0.0, "bound": t_in > busy_s > 0}
    if path.per_host_bw > 0 and step_bytes > 0 and busy_s > 0:
        pcie, zplane, ok = path.hosts_for(out["needed_bandwidth"])
        out.update(per_host_bandwidth=path.per_host_bw, hosts_needed=pcie, zplane_hosts_needed=zplane,
                   removable=ok)
    if out["bound"]:
        need, have = out["needed_bandwidth"], out["bandwidth"]
        text = (f"input-bound: the hosts deliver {have / 1e9:,.0f} GB/s, the step needs "
                f"{need / 1e9:,.0f} GB/s")
        if "hosts_needed" in out:
            text += f"; {out['hosts_needed']:,} hosts on PCIe (now {path.hosts:,})"
            if out["zplane_hosts_needed"]:
                text += f" + {out['zplane_hosts_needed']:,} over the TTPoE Z-plane"
            text += " remove it" if out["removable"] else " are the most the interface cards take: still input-bound"
        out["note"] = text
    return out


def _shares(seconds: dict[str, float]) -> dict[str, float]:
    """Each key's share of the total (what bound the ops' time, forward + backward)."""
    total = sum(seconds.values())
    return {k: v / total for k, v in seconds.items() if v > 0} if total > 0 else {}


def _stage_compute(costs: Costs, stages: tuple[float, ...], recompute: str):
    """The slowest stage's index, its edge blocks, and its forward, backward and recompute seconds
    for one micro-batch (recompute FLOPs enter the hardware FLOPs per whole model)."""
    L, pre, post = costs.layer, costs.pre, costs.post
    pp = len(stages)
    k = _slowest_stage(stages, L.fwd_s + L.bwd_s, pre.fwd_s + pre.bwd_s, post.fwd_s + post.bwd_s)
    n = stages[k]
    edges = [b for i, b in ((0, pre), (pp - 1, post)) if i == k]
    fwd_s = n * L.fwd_s + sum(b.fwd_s for b in edges)
    bwd_s = n * L.bwd_s + sum(b.bwd_s for b in edges)
    re_s = n * (L.fwd_s if recompute == "full" else L.attn_fwd_s if recompute == "selective" else 0.0)
    return k, edges, fwd_s, bwd_s, re_s


def step_lower_bound(model, system, strategy: Strategy, assumptions: Assumptions = DEFAULT) -> float:
    """A lower bound on ``estimate(...).step_time_s`` that costs no collectives and no memory:
    (1 + overhead) x (m + (p-1)/v) micro-batch computes of the slowest stage (every micro-batch
    and the bubble take at least that; everything else adds). The search prunes with it. The
    strategy must name its micro-batch and pass `check`."""
    s = strategy
    a = _cached(("assumptions", id(system), assumptions), (system,), lambda: assumptions.for_chip(system.chip))
    mb = s.micro_batch or 1
    split = Split(s.tp, s.cp, s.ep, s.sequence_parallel)
    mem = _cached(("mem", id(system)), (system,), lambda: _memories(system))
    costs: Costs = _cached(("costs", id(model), id(system), s.precision, split, mb, a), (model, system),
                           lambda: _costs(model, system, s.precision, split, mb, mem, a))
    parts: Parts = _cached(("parts", id(model)), (model,), lambda: _parts(model))
    _, _, fwd_s, bwd_s, re_s = _stage_compute(costs, _stages(model, s, parts.n_layers), s.recompute)
    pipeline = s.micro_batches + ((s.pp - 1) / max(s.interleave, 1) if s.pp > 1 else 0.0)
    return (1.0 + a.framework_overhead_fraction) * pipeline * (fwd_s + bwd_s + re_s)


def _stages(model, s: Strategy, n_layers: int) -> tuple[float, ...]:
    """Layers per pipeline stage. A model without a layer count (a CNN cut into blocks) is split
    evenly, fractions allowed, as before uneven stages existed."""
    if s.pp > 1 and model.layers and (s.uneven_fields or n_layers % s.pp):
        return tuple(float(n) for n in stage_layers(s, n_layers))
    return (n_layers / s.pp,) * s.pp


def _slowest_stage(stages: tuple[float, ...], layer_s: float, pre_s: float, post_s: float) -> int:
    """Index of the stage with the longest compute (first wins a tie); the only stage when pp = 1."""
    last = len(stages) - 1
    cost = [n * layer_s + (pre_s if i == 0 else 0.0) + (post_s if i == last else 0.0)
            for i, n in enumerate(stages)]
    return max(range(len(stages)), key=cost.__getitem__)


def _with_note(est: Estimate, note: str) -> Estimate:
    from dataclasses import replace

    return replace(est, notes=est.notes + (note,))


def _estimate(model, system, s: Strategy, a: Assumptions) -> Estimate:
    mb = s.micro_batch or 1
    m = s.micro_batches
    split = Split(s.tp, s.cp, s.ep, s.sequence_parallel)
    mem = _cached(("mem", id(system)), (system,), lambda: _memories(system))
    costs: Costs = _cached(("costs", id(model), id(system), s.precision, split, mb, a), (model, system),
                           lambda: _costs(model, system, s.precision, split, mb, mem, a))
    comm: CommContext = _cached(("comm", id(system), s.tp, s.cp, s.ep, s.pp, s.dp, s.order, a), (system,),
                                lambda: CommContext(system, s, a))
    slow = a.overlap_compute_slowdown
    parts: Parts = _cached(("parts", id(model)), (model,), lambda: _parts(model))
    facts: SystemFacts = _cached(("facts", id(system)), (system,), lambda: _system_facts(system))
    pp, v = s.pp, s.interleave
    L = costs.layer
    recompute = s.recompute
    # Layers per stage: even, or uneven (given, or balanced when pp does not divide them).
    stages = _stages(model, s, parts.n_layers)

    # ---- compute per micro-batch on the busiest stage ----------------------------------------
    # One stage holds everything when pp = 1; otherwise the busiest is the one whose layers plus
    # extra block (embedding on the first, output layer + loss on the last) cost the most.
    pre, post = costs.pre, costs.post
    k, edges, fwd_s, bwd_s, re_s = _stage_compute(costs, stages, recompute)
    layers_dev = stages[k]
    edge_stream = sum(b.stream_fwd_s + b.stream_bwd_s for b in edges)
    edge_bounds = [sum(x) for x in zip(*(b.bound_s for b in edges))] or [0.0] * len(BOUND_KEYS)
    op_bounds = {key: layers_dev * a + e for key, a, e in zip(BOUND_KEYS, L.bound_s, edge_bounds)}
    compute_mb = fwd_s + bwd_s + re_s
    # fp8 (Transformer Engine): per pass, the amaxes are reduced over the data-parallel group
    # (reported with the data-parallel traffic, comm_dp) and every scale updated in one fused
    # kernel; once per step the weights are cast to fp8
    fp8_params, fp8_gemms = _cached(("fp8", id(model), id(system), s.precision, split), (model, system),
                                    lambda: fp8_layer_facts(parts.layers, split, make_device(
                                        system.chip, s.precision, mem.act_bandwidth, a=a)))
    fp8_weight_cast_s = fp8_amax_s = 0.0
    if fp8_params > 0:
        amax_bytes = 4.0 * a.fp8_amax_tensors_per_gemm * fp8_gemms * layers_dev
        fp8_amax_s = 2.0 * m * comm.time("dp", "all_reduce", amax_bytes) if s.dp > 1 else 0.0
        compute_mb += 2.0 * a.kernel_overhead_s
        fp8_weight_cast_s = (layers_dev * fp8_params * a.fp8_weight_cast_bytes_per_param
                             / (mem.act_bandwidth * a.memory_efficiency))
    # Of that, the time ops wait on operands streaming from an outer pool (Dojo's DIP HBM when a
    # D1's SRAM cannot hold them): reported as memory_stream, not compute.
    op_stream_mb = (layers_dev * (L.stream_fwd_s * (2.0 if recompute == "full" else 1.0) + L.stream_bwd_s)
                    + edge_stream)

    # ---- exposed per-micro-batch communication -------------------------------------------------
    tp_mb = 0.0
    if s.tp > 1:
        def tp_time(total: float, count: float, gather_scale: float = 1.0) -> float:
            # one collective per row-parallel op (Megatron's g/f operators), each of its output
            if count <= 0 or total <= 0:
                return 0.0
            each = total / count
            if s.sequence_parallel:
                return count * (comm.time("tp", "reduce_scatter", each)
                                + comm.time("tp", "all_gather", each * gather_scale))
            return count * comm.time("tp", "all_reduce", each)

        # Transformer Engine's fp8 with sequence parallelism gathers the layers' fp8-cast
        # inputs of the column-parallel GEMMs in the forward pass (1 byte, not 2)
        fwd_gather = 0.5 if fp8_params > 0 and s.sequence_parallel else 1.0
        per = layers_dev * tp_time(costs.tp_row_bytes, costs.tp_rows)
        per_fwd = layers_dev * tp_time(costs.tp_row_bytes, costs.tp_rows, fwd_gather)
        if pp == 1:
            edge_tp = (tp_time(costs.pre_tp_row_bytes, costs.pre_tp_rows)
                       + tp_time(costs.post_tp_row_bytes, costs.post_tp_rows))
            per, per_fwd = per + edge_tp, per_fwd + edge_tp
        # forward (+ recompute), backward
        tp_mb = per_fwd * (2.0 if recompute == "full" else 1.0) + per
    cp_mb = 0.0
    if s.cp > 1:
        # ring attention: each layer's K/V exchange hides behind that layer's attention compute
        attn = L.attn_fwd_s * (3.5 if recompute == "full" else 2.5)
        raw = comm.time("cp", "all_gather", costs.kv_bytes) + comm.time("cp", "reduce_scatter", costs.kv_bytes)
        cp_mb = layers_dev * overlapped(raw, attn, slow)
        if costs.halo_ops > 0 or costs.edge_halo_ops > 0:
            # Spatially split convolutions swap kernel//2 boundary rows with both neighbours
            # before each forward conv and each backward (gradient) conv, (+ the recompute pass);
            # interior rows are computed meanwhile, so the exchange hides behind the layer's work.
            def halo_time(nbytes: float, ops_n: float) -> float:
                return ops_n * comm.time("cp", "p2p", nbytes / ops_n) if ops_n > 0 else 0.0

            passes_h = 2.0 + (1.0 if recompute == "full" else 0.0)
            layer_halo = passes_h * halo_time(costs.halo_bytes, costs.halo_ops)
            cp_mb += layers_dev * overlapped(layer_halo, L.fwd_s + L.bwd_s, slow)
            cp_mb += overlapped(passes_h * halo_time(costs.edge_halo_bytes, costs.edge_halo_ops),
                                pre.fwd_s + pre.bwd_s + post.fwd_s + post.bwd_s, slow)
        if costs.gather_ops > 0 or costs.edge_gather_ops > 0:
            # Channel-split convolutions need their whole input on every rank: an all-gather
            # before the forward (and the recompute) conv, a reduce-scatter of the input gradient
            # after the backward one; the conv waits for it (exposed).
            def gather_time(nbytes: float, ops_n: float, recomputed: bool) -> float:
                if ops_n <= 0:
                    return 0.0
                each = nbytes / ops_n
                ag, rs = comm.time("cp", "all_gather", each), comm.time("cp", "reduce_scatter", each)
                return ops_n * (ag * (2.0 if recomputed else 1.0) + rs)

            cp_mb += layers_dev * gather_time(costs.gather_bytes, costs.gather_ops, recompute == "full")
            cp_mb += gather_time(costs.edge_gather_bytes, costs.edge_gather_ops, recompute == "full")
    ep_mb = 0.0
    if costs.a2a_bytes > 0 and s.ep > 1:
        passes = 4.0 + (2.0 if recompute == "full" else 0.0)
        ep_mb = passes * layers_dev * comm.time("ep", "all_to_all", costs.a2a_bytes)
    pp_mb = 0.0
    if pp > 1:
        pp_mb = 2.0 * v * comm.time("pp", "p2p", costs.boundary_bytes)
    per_mb = compute_mb + tp_mb + cp_mb + ep_mb + pp_mb

    # ---- pipeline ----------------------------------------------------------------------------
    busy = m * per_mb
    bubble = bubble_time(pp, m, v, per_mb)

    # ---- memory --------------------------------------------------------------------------------
    # Weights: those of the stage holding the most; activations: the stage keeping the most.
    stage_params = [n * costs.layer_params + (costs.pre_params if i == 0 else 0.0)
                    + (costs.post_params if i == pp - 1 else 0.0) for i, n in enumerate(stages)]
    km = max(range(pp), key=stage_params.__getitem__)
    params_dev = stage_params[km]
    edge_params = params_dev - stages[km] * costs.layer_params
    # Gradients are reduced, and ZeRO shards, over every rank holding the same weights: dp x cp.
    gdim = "dp_cp" if s.cp > 1 and "dp_cp" in comm.groups else "dp"
    # Expert weights are held by dp*cp/ep ranks each; their gradients reduce over that group.
    expert_dev = stages[km] * costs.layer_expert_params
    edim = "edp" if s.ep > 1 and "edp" in comm.groups else gdim
    dense = state_bytes(params_dev - expert_dev, costs.layer_params - costs.layer_expert_params,
                        s.precision, s.zero, s.dp * s.cp, a)
    experts = state_bytes(expert_dev, costs.layer_expert_params, s.precision, s.zero,
                          max(s.dp * s.cp // s.ep, 1), a)
    states = {k: dense[k] + experts[k] for k in dense}
    in_flight = in_flight_micro_batches(pp, m, v, s.schedule)

    def stage_acts(n_layers: float, held: float) -> float:
        if recompute == "full":
            return n_layers * costs.layer_input * held + costs.layer_saved
        # selective: flash attention leaves nothing s x s to drop
        return n_layers * costs.layer_saved * held

    if pp == 1:
        edge_acts = costs.pre_saved + costs.post_saved
        acts = stage_acts(layers_dev, in_flight) + edge_acts
    elif len(set(stages)) == 1:
        # even stages: the first holds the most micro-batches and the embedding's activations
        edge_acts = costs.pre_saved * in_flight
        acts = stage_acts(stages[0], in_flight) + edge_acts
    else:
        # 1F1B: stage i holds min(pp - i, m) micro-batches at its peak (GPipe: all m)
        held = [in_flight if s.schedule == "gpipe" else min(float(pp - i), in_flight) for i in range(pp)]
        per_stage = [stage_acts(n, held[i]) + (costs.pre_saved * held[0] if i == 0 else 0.0)
                     + (costs.post_saved if i == pp - 1 else 0.0) for i, n in enumerate(stages)]
        ka = max(range(pp), key=per_stage.__getitem__)
        acts = per_stage[ka]
        edge_acts = acts - stage_acts(stages[ka], held[ka])
    buffers = a.reserved_memory_fraction * mem.tiers[0].capacity + states["zero_live"]
    components = {"activations": acts, "weights": states["weights"], "gradients": states["gradients"],
                  "optimizer": states["optimizer"], "buffers": buffers}
    mem_rep, spill = report(components, mem.tiers)

    # ---- ZeRO-3 / FSDP gathers (per micro-batch, prefetched one layer ahead) -------------------
    wb = weight_bytes(s.precision)
    zero_s = 0.0
    dp_raw = 0.0
    dp_exposed = 0.0
    if s.dp * s.cp > 1:
        if s.zero >= 3:
            lay_dense = (costs.layer_params - costs.layer_expert_params) * wb
            lay_expert = costs.layer_expert_params * wb
            g1 = comm.sharded(gdim, "all_gather", lay_dense) + comm.sharded(edim, "all_gather", lay_expert)
            r1 = comm.sharded(gdim, "reduce_scatter", lay_dense) + comm.sharded(edim, "reduce_scatter", lay_expert)
            n_units = layers_dev
            edge_gather = comm.sharded(gdim, "all_gather", edge_params * wb)
            edge_rs = comm.sharded(gdim, "reduce_scatter", edge_params * wb)
            fwd_comm = n_units * g1 + edge_gather
            bwd_comm = n_units * (g1 + r1) + edge_gather + edge_rs
            per = (overlapped(fwd_comm, fwd_s, slow, first_s=max(g1, edge_gather))
                   + overlapped(bwd_comm, bwd_s + re_s, slow, first_s=r1))
            zero_s = m * per
            dp_raw = m * (fwd_comm + bwd_comm)
        else:
            g_dense = (params_dev - expert_dev) * wb
            g_expert = expert_dev * wb
            window = a.dp_overlap_fraction * (bwd_s + re_s)
            units = max(layers_dev, 1.0)
            if s.zero == 0:
                # bucketed all-reduce during the last micro-batch's backward pass
                dp_raw = comm.time(gdim, "all_reduce", g_dense) + comm.time(edim, "all_reduce", g_expert)
                dp_exposed = overlapped(dp_raw, window, slow, first_s=dp_raw / units)
            else:
                rs = comm.sharded(gdim, "reduce_scatter", g_dense) + comm.sharded(edim, "reduce_scatter", g_expert)
                ag = comm.sharded(gdim, "all_gather", g_dense) + comm.sharded(edim, "all_gather", g_expert)
                # ZeRO-2 keeps only its gradient shard, so every micro-batch reduce-scatters;
                # ZeRO-1 accumulates full gradients and reduce-scatters once, after the last one.
                n_rs = m if s.zero == 2 else 1
                dp_raw = n_rs * rs + ag
                # updated parameters are gathered again, prefetched layer by layer into the
                # next step's first forward pass
                dp_exposed = (n_rs * overlapped(rs, window, slow, first_s=rs / units)
                              + overlapped(ag, fwd_s, slow, first_s=ag / units))

    # ---- Dojo: streaming what spilled out of SRAM ---------------------------------------------
    stream_s = moved = 0.0
    if spill and mem.stream_bandwidth > 0:
        moved = stream_bytes_per_step(spill, m, recompute == "full")
        stream_s = max(moved / (mem.stream_bandwidth * a.memory_efficiency) - busy, 0.0)

    # ---- optimizer -----------------------------------------------------------------------------
    opt_params = ((params_dev - expert_dev) / (s.dp * s.cp) + expert_dev / max(s.dp * s.cp // s.ep, 1)
                  if s.zero >= 1 else params_dev)
    opt_bw = mem.state_bandwidth if not spill.get("optimizer") else mem.stream_bandwidth or mem.state_bandwidth
    opt_s = opt_params * a.adam_bytes_per_param / (opt_bw * a.memory_efficiency)

    # ---- breakdown -----------------------------------------------------------------------------
    bd = dict.fromkeys(BREAKDOWN_KEYS, 0.0)
    bd["compute"] = m * (compute_mb - op_stream_mb) + fp8_weight_cast_s
    bd["comm_tp"] = m * tp_mb
    bd["comm_cp"] = m * cp_mb
    bd["comm_ep"] = m * ep_mb
    bd["comm_pp"] = m * pp_mb
    bd["bubble"] = bubble
    bd["comm_zero"] = zero_s
    bd["comm_dp"] = dp_exposed + fp8_amax_s
    bd["memory_stream"] = stream_s + m * op_stream_mb
    bd["optimizer"] = opt_s
    subtotal = sum(bd.values())
    input_s = t_in = 0.0
    if mem.input_bandwidth > 0 and model.input_bytes_per_sample > 0:
        t_in = s.global_batch * model.input_bytes_per_sample / mem.input_bandwidth
        input_s = max(t_in - subtotal, 0.0)
    bd["input"] = input_s
    input_info = _input_report(mem.input, s.global_batch * model.input_bytes_per_sample, subtotal, t_in)
    bd["overhead"] = a.framework_overhead_fraction * (subtotal + input_s)
    step = sum(bd.values())

    # ---- throughput, FLOPs, energy -------------------------------------------------------------
    model_flops = parts.train_flops * s.global_batch
    devices = facts.chips
    # Hardware FLOPs: what the devices execute, recompute included.
    hw_extra = 0.0
    if recompute == "full":
        hw_extra = parts.layer_fwd_flops * s.global_batch
    elif recompute == "selective":
        hw_extra = parts.layer_attn_flops * s.global_batch
    hw_flops = model_flops + hw_extra
    peak = devices * costs.tensor_peak
    power = facts.power_w
    tokens = model.seq_len * s.global_batch / step if model.seq_len else None
    stage = StageTiming(forward_s=fwd_s / v, backward_s=(bwd_s + re_s) / v,
                        comm_s={"tp": tp_mb / v, "cp": cp_mb / v, "ep": ep_mb / v, "pp": pp_mb / v},
                        ops=L.ops)
    notes = []
    if len(set(stages)) > 1:
        how = ("as the run gives them" if s.uneven_fields else
               f"balanced: pp={pp} does not divide the {parts.n_layers} layers")
        notes.append(f"uneven pipeline stages ({how}): {'/'.join(str(int(n)) for n in stages)} layers; "
                     f"times use the slowest stage ({k + 1} of {pp})")
    if not mem_rep.fits:
        notes.append("does not fit in memory: needs more than the device's capacity")
    if input_info.get("bound"):
        notes.append(input_info["note"])
    if spill:
        notes.append("state spills out of on-chip memory and is streamed from "
                     + ", ".join(t.name for t in mem.tiers[1:]))
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
               "partitions": [list(p) for p in costs.partitions]},
    )
