"""Lower bounds on a split's step and busy time, for the strategy search (`plan/search.py`).

They are built from the estimate's own cached per-block costs and term functions, not from a
second cost model: each bound adds a subset of the terms `estimate` adds, or all of them with
the collectives at their least time over several level orders, so it can only be lower. The
search orders its queue by them and stops once nothing left can enter its top K; the tests in
`tests/test_search_engine.py` and `tests/test_search_ties.py` check that each bound holds.
"""
from __future__ import annotations

from ..assumptions import DEFAULT, Assumptions
from ..strategy import Strategy, check
from . import terms as T
from .compute import Split
from .estimate import (Parts, _cached_costs, _cached_times, _estimate, _model_parts, _system_memories,
                       _fp8_facts, _recompute_s, _slowest_stage_compute, _stages, chip_assumptions)
from .result import Estimate

def step_lower_bound(model, system, strategy: Strategy, assumptions: Assumptions = DEFAULT,
                     comm=None) -> float:
    """A lower bound on ``estimate(...).step_time_s`` that costs no memory and, without ``comm``,
    no collectives: (1 + overhead) x (m + (p-1)/v) micro-batch times of the slowest stage (every
    micro-batch and the bubble take at least that; everything else adds). With ``comm`` (a
    `comm_api.LeastComm` over level orders), each micro-batch's tp, cp, ep and pp collectives at
    their least time join its compute: a bound on every one of those orders. It bounds the busy
    time too (the step less its input stall: nothing it counts waits on the hosts). The search
    prunes with it. The strategy must name its micro-batch and pass `check`."""
    return step_lower_bounds(model, system, strategy, (strategy.micro_batch or 1,), (strategy.recompute,),
                             assumptions, comm)[0][0][0]


def step_lower_bounds(model, system, strategy: Strategy, micro_batches, recomputes,
                      assumptions: Assumptions = DEFAULT, comm=None, interleaves=None) -> list[list[tuple]]:
    """`step_lower_bound` of ``strategy`` at every micro-batch (rows), recompute mode (columns) and
    interleave (a tuple in each cell; default ``strategy.interleave`` alone), sharing what they
    share: the stages, per micro-batch the layer costs and the slowest stage, and the tp, cp and
    ep collectives, which do not depend on the interleave (a layer's collectives are the same
    however the stage's layers are chunked; the bubble and the sends between stages are not).
    ``strategy``'s own micro-batch, recompute and interleave are ignored."""
    s = strategy
    ivs = (s.interleave,) if interleaves is None else tuple(interleaves)
    a = chip_assumptions(system, assumptions)
    split = Split(s.tp, s.cp, s.ep, s.sequence_parallel)
    parts: Parts = _model_parts(model)
    stages = _stages(model, s, parts.n_layers)
    bubbles = [(s.pp - 1) / max(v, 1) if s.pp > 1 else 0.0 for v in ivs]
    scale = 1.0 + a.framework_overhead_fraction
    per_replica = s.global_batch // s.dp
    rows = []
    for mb in micro_batches:
        times = _cached_times(model, system, s.precision, split, mb, a)
        k, edges, fwd_s, bwd_s = _slowest_stage_compute(times, stages)
        m = per_replica // mb
        row = []
        for rc in recomputes:
            re_s = _recompute_s(times, stages[k], rc)
            per_mb = fwd_s + bwd_s + re_s
            comm_s = [0.0] * len(ivs)
            if comm is not None:
                costs = _cached_costs(model, system, s.precision, split, mb, a)
                mem = _system_memories(system)
                sts = [T.Stage(s.model_copy(update={"recompute": rc, "interleave": v}), a, costs, comm, mem, stages,
                               k, tuple(edges), fwd_s, bwd_s, re_s) for v in ivs]
                layer_comm = _layer_collectives(model, system, sts[0], split)
                comm_s = [layer_comm + T.pp_term(st) for st in sts]
            per_mb_v = [per_mb + c if comm is not None else per_mb for c in comm_s]
            row.append(tuple(scale * (m + bub) * x for bub, x in zip(bubbles, per_mb_v)))
        rows.append(row)
    return rows


def input_floor(model, system, global_batch: int, assumptions: Assumptions = DEFAULT) -> float:
    """A lower bound on the step of every split at ``global_batch``: the hosts' delivery time of
    its samples with the framework overhead on it (the step is (1 + overhead) x the larger of the
    rest and the delivery, `terms.input_term`). 0 without an input path. With
    `step_lower_bounds`, which bound the rest, the search bounds input-bound splits."""
    mem = _system_memories(system)
    a = chip_assumptions(system, assumptions)
    return (1.0 + a.framework_overhead_fraction) * T.delivery_s(model, mem, global_batch)


def _layer_collectives(model, system, st: T.Stage, split: Split) -> float:
    """The tp, cp and ep collectives of one micro-batch on the slowest stage (``st``)."""
    fp8_params, _ = _fp8_facts(model, system, st.s.precision, split, st.mem, st.a)
    return T.tp_term(st, fp8_params) + T.cp_term(st) + T.ep_term(st)


def bound_estimate(model, system, strategy: Strategy, comm, assumptions: Assumptions = DEFAULT) -> Estimate:
    """The estimate of ``strategy`` with its collectives timed by ``comm`` instead of its own
    placed groups. With a `comm_api.LeastComm` over several level orders its step time is a lower
    bound on each of theirs, and its memory (which no order changes) is theirs. The search
    calls it once per group of orders; ``strategy`` must come from the search's enumeration."""
    check(strategy, devices=system.chips, layers=model.layers, heads=model.heads, kv_heads=model.kv_heads,
          experts=model.experts, seq_len=model.seq_len, rows=model.spatial_rows)
    return _estimate(model, system, strategy, chip_assumptions(system, assumptions), comm)
