"""The terms of one training step, one function each, in the order `estimate` adds them.

Every function reads a `Stage` (one micro-batch on the busiest pipeline stage: its layers, its
forward/backward/recompute seconds, the per-layer costs, the placed groups, the assumptions) and
returns seconds or a small typed result. `estimate._estimate` calls them and sums the breakdown:

    compute_term    math per micro-batch (+ fp8 casts and scale updates)      -> Compute
    tp_term         tensor/sequence-parallel collectives per micro-batch     -> seconds
    cp_term         ring attention, conv halos and gathers per micro-batch   -> seconds
    ep_term         MoE all-to-alls per micro-batch                          -> seconds
    pp_term         stage-to-stage sends per micro-batch                     -> seconds
    (bubble)        `schedule.bubble_time`
    memory_term     bytes per device, per tier, and what spills              -> Memory
    dp_term         ZeRO-3 gathers, gradient reduction not hidden            -> DataParallel
    stream_term     Dojo: spilled state streamed beyond what compute hides   -> Stream
    optimizer_term  the Adam update at memory bandwidth                      -> seconds
    input_term      hosts slower than the step                               -> Input
    (overhead)      `framework_overhead_fraction` of everything above
"""
from __future__ import annotations

from dataclasses import dataclass

from ..assumptions import Assumptions
from ..strategy import Strategy
from .compute import BlockTime
from .memory import in_flight_micro_batches, report, state_bytes, stream_bytes_per_step, weight_bytes
from .precision import precision
from .schedule import overlapped


def forward_passes(recompute: str, a: Assumptions) -> float:
    """Forward passes per micro-batch: one, and a second when full recompute redoes it."""
    return a.forward_passes + (a.recompute_passes if recompute == "full" else 0.0)


@dataclass(frozen=True)
class Stage:
    """One micro-batch on the busiest pipeline stage: what every term reads."""

    s: Strategy
    a: Assumptions
    costs: object              # estimate.Costs: per-layer seconds and bytes on one device
    comm: object               # comm_api.CommContext: collective times of the placed groups
    mem: object                # estimate.Memories: the device's memory tiers and input path
    stages: tuple              # layers per pipeline stage
    k: int                     # index of the busiest stage
    edges: tuple               # its edge blocks (embedding / output layer), as BlockTimes
    fwd_s: float               # forward seconds of one micro-batch on it
    bwd_s: float
    re_s: float                # recompute seconds

    @property
    def layers(self) -> float:
        return self.stages[self.k]

    @property
    def layer(self) -> BlockTime:
        return self.costs.layer

    @property
    def full(self) -> bool:
        return self.s.recompute == "full"

    @property
    def slow(self) -> float:
        return self.a.overlap_compute_slowdown


@dataclass(frozen=True)
class Compute:
    per_mb_s: float            # forward + backward + recompute math (+ fp8 scale updates)
    stream_mb_s: float         # of which operands waiting on an outer memory pool (Dojo)
    weight_cast_s: float = 0.0  # fp8: casting the weights once per step
    amax_s: float = 0.0        # fp8: reducing the scaling factors over the data-parallel group
    fp8_params: float = 0.0    # parameters per layer Transformer Engine runs in fp8


def compute_term(st: Stage, fp8_params: float, fp8_gemms: float) -> Compute:
    """Math per micro-batch, and the part of it spent waiting on streamed operands. fp8
    (Transformer Engine): per pass the amaxes are reduced over the data-parallel group (reported
    with the data-parallel traffic) and every scale updated in one fused kernel; once per step
    the weights are cast to fp8."""
    a, L = st.a, st.layer
    compute_mb = st.fwd_s + st.bwd_s + st.re_s
    cast_s = amax_s = 0.0
    if fp8_params > 0:
        amax_bytes = a.fp8_amax_bytes * a.fp8_amax_tensors_per_gemm * fp8_gemms * st.layers
        passes = a.training_passes
        amax_s = passes * st.s.micro_batches * st.comm.time("dp", "all_reduce", amax_bytes) if st.s.dp > 1 else 0.0
        compute_mb += passes * a.kernel_overhead_s
        cast_s = (st.layers * fp8_params * a.fp8_weight_cast_bytes_per_param
                  / (st.mem.act_bandwidth * a.memory_efficiency))
    edge_stream = sum(b.stream_fwd_s + b.stream_bwd_s for b in st.edges)
    stream_mb = st.layers * (L.stream_fwd_s * forward_passes(st.s.recompute, a) + L.stream_bwd_s) + edge_stream
    return Compute(compute_mb, stream_mb, cast_s, amax_s, fp8_params)


def tp_term(st: Stage, fp8_params: float) -> float:
    """One collective per row-parallel op and pass (Megatron's g/f operators), each of its output;
    with sequence parallelism a reduce-scatter and an all-gather instead of an all-reduce."""
    s, comm, costs = st.s, st.comm, st.costs
    if s.tp <= 1:
        return 0.0

    def tp_time(total: float, count: float, gather_scale: float = 1.0) -> float:
        if count <= 0 or total <= 0:
            return 0.0
        each = total / count
        if s.sequence_parallel:
            return count * (comm.time("tp", "reduce_scatter", each)
                            + comm.time("tp", "all_gather", each * gather_scale))
        return count * comm.time("tp", "all_reduce", each)

    # Transformer Engine's fp8 with sequence parallelism gathers the layers' fp8-cast inputs of
    # the column-parallel GEMMs in the forward pass (1 byte, not 2)
    fwd_gather = (st.a.fp8_bytes_per_element / precision(s.precision).element_bytes
                  if fp8_params > 0 and s.sequence_parallel else 1.0)
    per = st.layers * tp_time(costs.tp_row_bytes, costs.tp_rows)
    per_fwd = st.layers * tp_time(costs.tp_row_bytes, costs.tp_rows, fwd_gather)
    if s.pp == 1:
        edge_tp = (tp_time(costs.pre_tp_row_bytes, costs.pre_tp_rows)
                   + tp_time(costs.post_tp_row_bytes, costs.post_tp_rows))
        per, per_fwd = per + edge_tp, per_fwd + edge_tp
    return per_fwd * forward_passes(s.recompute, st.a) + per


def cp_term(st: Stage) -> float:
    """Context parallelism: ring attention's K/V exchange, hidden behind the attention time the
    engine computed (forward + backward + recomputed forward); for a spatially split CNN the
    convolutions' halo rows (hidden behind the layer) and channel-split gathers (exposed)."""
    s, comm, costs, L = st.s, st.comm, st.costs, st.layer
    if s.cp <= 1:
        return 0.0
    pre, post = costs.pre, costs.post
    attn = L.attn_fwd_s * forward_passes(s.recompute, st.a) + L.attn_bwd_s
    raw = comm.time("cp", "all_gather", costs.kv_bytes) + comm.time("cp", "reduce_scatter", costs.kv_bytes)
    cp_mb = st.layers * overlapped(raw, attn, st.slow)
    if costs.halo_ops > 0 or costs.edge_halo_ops > 0:
        # kernel//2 boundary rows swapped with both neighbours before each forward and backward
        # conv (+ recompute); interior rows are computed meanwhile
        def halo_time(nbytes: float, ops_n: float) -> float:
            return ops_n * comm.time("cp", "p2p", nbytes / ops_n) if ops_n > 0 else 0.0

        passes_h = forward_passes(s.recompute, st.a) + st.a.backward_passes
        layer_halo = passes_h * halo_time(costs.halo_bytes, costs.halo_ops)
        cp_mb += st.layers * overlapped(layer_halo, L.fwd_s + L.bwd_s, st.slow)
        cp_mb += overlapped(passes_h * halo_time(costs.edge_halo_bytes, costs.edge_halo_ops),
                            pre.fwd_s + pre.bwd_s + post.fwd_s + post.bwd_s, st.slow)
    if costs.gather_ops > 0 or costs.edge_gather_ops > 0:
        # channel-split convolutions need their whole input on every rank: an all-gather before
        # each forward conv, a reduce-scatter of the input gradient after the backward one
        def gather_time(nbytes: float, ops_n: float) -> float:
            if ops_n <= 0:
                return 0.0
            each = nbytes / ops_n
            ag, rs = comm.time("cp", "all_gather", each), comm.time("cp", "reduce_scatter", each)
            return ops_n * (ag * forward_passes(s.recompute, st.a) + rs)

        cp_mb += st.layers * gather_time(costs.gather_bytes, costs.gather_ops)
        cp_mb += gather_time(costs.edge_gather_bytes, costs.edge_gather_ops)
    return cp_mb


def ep_term(st: Stage) -> float:
    """MoE: `moe_all_to_alls_per_pass` all-to-alls (dispatch, combine) per layer and pass."""
    if st.costs.a2a_bytes <= 0 or st.s.ep <= 1:
        return 0.0
    passes = st.a.moe_all_to_alls_per_pass * (forward_passes(st.s.recompute, st.a) + st.a.backward_passes)
    return passes * st.layers * st.comm.time("ep", "all_to_all", st.costs.a2a_bytes)


def pp_term(st: Stage) -> float:
    """Pipeline: each chunk sends its activation forward and receives its gradient back."""
    if st.s.pp <= 1:
        return 0.0
    return st.a.pipeline_sends_per_chunk * st.s.interleave * st.comm.time("pp", "p2p", st.costs.boundary_bytes)


@dataclass(frozen=True)
class Memory:
    report: object             # result.MemoryReport
    spill: dict                # component -> bytes beyond the device's first tier
    params: float              # parameters on the stage holding the most
    expert_params: float       # of which MoE experts
    edge_params: float         # of which in the edge blocks
    in_flight: float           # micro-batches whose activations the first stage holds
    edge_acts: float           # activation bytes of the edge blocks
    grad_dim: str              # the group gradients reduce over: "dp", or "dp_cp" with cp
    expert_dim: str            # the group expert gradients reduce over


def memory_term(st: Stage) -> Memory:
    """Bytes per device: weights of the stage holding the most, activations of the stage keeping
    the most, gradients and optimizer state sharded by ZeRO, buffers; placed in the tiers."""
    s, a, costs, stages = st.s, st.a, st.costs, st.stages
    pp = s.pp
    stage_params = [n * costs.layer_params + (costs.pre_params if i == 0 else 0.0)
                    + (costs.post_params if i == pp - 1 else 0.0) for i, n in enumerate(stages)]
    km = max(range(pp), key=stage_params.__getitem__)
    params_dev = stage_params[km]
    edge_params = params_dev - stages[km] * costs.layer_params
    # Gradients are reduced, and ZeRO shards, over every rank holding the same weights: dp x cp.
    gdim = "dp_cp" if s.cp > 1 and "dp_cp" in st.comm.groups else "dp"
    # Expert weights are held by dp*cp/ep ranks each; their gradients reduce over that group.
    expert_dev = stages[km] * costs.layer_expert_params
    edim = "edp" if s.ep > 1 and "edp" in st.comm.groups else gdim
    dense = state_bytes(params_dev - expert_dev, costs.layer_params - costs.layer_expert_params,
                        s.precision, s.zero, s.dp * s.cp, a)
    experts = state_bytes(expert_dev, costs.layer_expert_params, s.precision, s.zero,
                          max(s.dp * s.cp // s.ep, 1), a)
    states = {k: dense[k] + experts[k] for k in dense}
    in_flight = in_flight_micro_batches(pp, s.micro_batches, s.interleave, s.schedule)
    acts, edge_acts = _activations(st, in_flight)
    buffers = a.reserved_memory_fraction * st.mem.tiers[0].capacity + states["zero_live"]
    components = {"activations": acts, "weights": states["weights"], "gradients": states["gradients"],
                  "optimizer": states["optimizer"], "buffers": buffers}
    rep, spill = report(components, st.mem.tiers)
    return Memory(rep, spill, params_dev, expert_dev, edge_params, in_flight, edge_acts, gdim, edim)


def _activations(st: Stage, in_flight: float) -> tuple[float, float]:
    """(activation bytes, of which the edge blocks') of the stage that keeps the most."""
    s, costs, stages = st.s, st.costs, st.stages
    pp = s.pp

    def stage_acts(n_layers: float, held: float) -> float:
        if st.full:
            return n_layers * costs.layer_input * held + costs.layer_saved
        # selective: flash attention leaves nothing s x s to drop
        return n_layers * costs.layer_saved * held

    if pp == 1:
        edge_acts = costs.pre_saved + costs.post_saved
        return stage_acts(st.layers, in_flight) + edge_acts, edge_acts
    if len(set(stages)) == 1:
        # even stages: the first holds the most micro-batches and the embedding's activations
        edge_acts = costs.pre_saved * in_flight
        return stage_acts(stages[0], in_flight) + edge_acts, edge_acts
    # 1F1B: stage i holds min(pp - i, m) micro-batches at its peak (GPipe: all m)
    held = [in_flight if s.schedule == "gpipe" else min(float(pp - i), in_flight) for i in range(pp)]
    per_stage = [stage_acts(n, held[i]) + (costs.pre_saved * held[0] if i == 0 else 0.0)
                 + (costs.post_saved if i == pp - 1 else 0.0) for i, n in enumerate(stages)]
    ka = max(range(pp), key=per_stage.__getitem__)
    acts = per_stage[ka]
    return acts, acts - stage_acts(stages[ka], held[ka])


@dataclass(frozen=True)
class DataParallel:
    zero_s: float = 0.0        # ZeRO-3/FSDP gathers and reduce-scatters not hidden (comm_zero)
    exposed_s: float = 0.0     # gradient reduction not hidden (comm_dp)
    raw_s: float = 0.0         # all of that traffic, before overlap


def dp_term(st: Stage, mem: Memory) -> DataParallel:
    """Data parallelism over dp x cp ranks: ZeRO-3 gathers prefetched one layer ahead per
    micro-batch; otherwise gradients reduced during the last micro-batch's backward pass."""
    s, a, comm = st.s, st.a, st.comm
    if s.dp * s.cp <= 1:
        return DataParallel()
    wb = weight_bytes(s.precision)
    m, slow, gdim, edim = s.micro_batches, st.slow, mem.grad_dim, mem.expert_dim
    costs = st.costs
    if s.zero >= 3:
        lay_dense = (costs.layer_params - costs.layer_expert_params) * wb
        lay_expert = costs.layer_expert_params * wb
        g1 = comm.sharded(gdim, "all_gather", lay_dense) + comm.sharded(edim, "all_gather", lay_expert)
        r1 = comm.sharded(gdim, "reduce_scatter", lay_dense) + comm.sharded(edim, "reduce_scatter", lay_expert)
        edge_gather = comm.sharded(gdim, "all_gather", mem.edge_params * wb)
        edge_rs = comm.sharded(gdim, "reduce_scatter", mem.edge_params * wb)
        fwd_comm = st.layers * g1 + edge_gather
        bwd_comm = st.layers * (g1 + r1) + edge_gather + edge_rs
        per = (overlapped(fwd_comm, st.fwd_s, slow, first_s=max(g1, edge_gather))
               + overlapped(bwd_comm, st.bwd_s + st.re_s, slow, first_s=r1))
        return DataParallel(zero_s=m * per, raw_s=m * (fwd_comm + bwd_comm))
    g_dense = (mem.params - mem.expert_params) * wb
    g_expert = mem.expert_params * wb
    window = a.dp_overlap_fraction * (st.bwd_s + st.re_s)
    units = max(st.layers, 1.0)
    if s.zero == 0:
        # bucketed all-reduce during the last micro-batch's backward pass
        raw = comm.time(gdim, "all_reduce", g_dense) + comm.time(edim, "all_reduce", g_expert)
        return DataParallel(exposed_s=overlapped(raw, window, slow, first_s=raw / units), raw_s=raw)
    rs = comm.sharded(gdim, "reduce_scatter", g_dense) + comm.sharded(edim, "reduce_scatter", g_expert)
    ag = comm.sharded(gdim, "all_gather", g_dense) + comm.sharded(edim, "all_gather", g_expert)
    # ZeRO-2 keeps only its gradient shard, so every micro-batch reduce-scatters; ZeRO-1
    # accumulates full gradients and reduce-scatters once, after the last one. The updated
    # parameters are gathered again, prefetched layer by layer into the next forward pass.
    n_rs = m if s.zero == 2 else 1
    exposed = (n_rs * overlapped(rs, window, slow, first_s=rs / units)
               + overlapped(ag, st.fwd_s, slow, first_s=ag / units))
    return DataParallel(exposed_s=exposed, raw_s=n_rs * rs + ag)


@dataclass(frozen=True)
class Stream:
    seconds: float = 0.0       # streaming not hidden behind the pipeline's busy time
    bytes: float = 0.0         # moved per step between the chip and the pool


def stream_term(st: Stage, mem: Memory, busy_s: float) -> Stream:
    """Dojo: state that spilled out of SRAM streams from the DIP HBM every step."""
    if not mem.spill or st.mem.stream_bandwidth <= 0:
        return Stream()
    moved = stream_bytes_per_step(mem.spill, st.s.micro_batches, st.full, st.a)
    return Stream(max(moved / (st.mem.stream_bandwidth * st.a.memory_efficiency) - busy_s, 0.0), moved)


def optimizer_term(st: Stage, mem: Memory) -> float:
    """Adam over the parameters this device updates, at the bandwidth of where they live."""
    s, a, m = st.s, st.a, st.mem
    opt_params = ((mem.params - mem.expert_params) / (s.dp * s.cp)
                  + mem.expert_params / max(s.dp * s.cp // s.ep, 1) if s.zero >= 1 else mem.params)
    opt_bw = m.state_bandwidth if not mem.spill.get("optimizer") else m.stream_bandwidth or m.state_bandwidth
    return opt_params * a.adam_bytes_per_param / (opt_bw * a.memory_efficiency)


@dataclass(frozen=True)
class Input:
    seconds: float = 0.0       # the stall: hosts' delivery time beyond the rest of the step
    delivery_s: float = 0.0    # what the hosts need to deliver one step's samples


def delivery_s(model, mem, global_batch: int) -> float:
    """Seconds the hosts need to deliver one step's samples (0 without an input path); no split
    changes it."""
    if mem.input_bandwidth <= 0 or model.input_bytes_per_sample <= 0:
        return 0.0
    return global_batch * model.input_bytes_per_sample / mem.input_bandwidth


def input_term(model, st: Stage, subtotal_s: float) -> Input:
    """Hosts slower than the step stall it for the difference."""
    t_in = delivery_s(model, st.mem, st.s.global_batch)
    return Input(max(t_in - subtotal_s, 0.0), t_in) if t_in > 0 else Input()
