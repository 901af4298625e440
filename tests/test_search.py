"""Strategy search: the space it walks, its pruning, ranking and CLI — against a stand-in engine
(fast and independent of the real one) and, where it has landed, the real engine."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from dojosim.engine.placement import layout, switch_levels
from dojosim.errors import FitError, SpecError
from dojosim.plan import space as sp
from dojosim.plan.search import search, search_with_stats
from dojosim.strategy import Strategy, check
from dojosim.workload import build


# ---- a stand-in engine: cheap, deterministic, with a memory model ABOVE the search's bound ----
@dataclass(frozen=True)
class _Mem:
    per_device_bytes: float
    capacity_bytes: float
    fits: bool


@dataclass(frozen=True)
class _Est:
    step_time_s: float
    samples_per_s: float
    energy_j_per_step: float
    memory: _Mem
    breakdown: dict
    cost_usd_per_step: float | None = None

    def to_dict(self):
        return dict(self.__dict__, memory=self.memory.__dict__)


def fake_estimate(model, system, s: Strategy, capacity=80e9):
    facts = sp.ModelFacts.of(model)
    mem = sp.static_bytes_lower_bound(facts, sp.Shape(s.dp, s.tp, s.pp, s.cp, s.ep, s.zero), s.precision) * 1.5
    mem += sp.activation_bytes_lower_bound(facts, sp.Shape(s.dp, s.tp, s.pp, s.cp, s.ep, s.zero),
                                           s.micro_batch or 1, s.sequence_parallel, s.precision) * (
        {"none": 10, "selective": 3, "full": 1}[s.recompute])
    flops = model.flops_train_per_sample * s.global_batch * (4 / 3 if s.recompute == "full" else 1)
    compute = flops / (s.devices * 1e15)
    m = s.micro_batches
    bubble = compute * (s.pp - 1) / (m * s.interleave) if s.pp > 1 else 0.0
    comm = 1e-4 * s.tp * (1 if s.order[0] == "tp" else 3) + 1e-3 * s.zero + 1e-4 * s.cp
    step = compute + bubble + comm + 1e-3 / (s.micro_batch or 1)
    return _Est(step, s.global_batch / step, 700.0 * s.devices * step, _Mem(mem, capacity, mem <= capacity),
                {"compute": compute, "bubble": bubble, "comm": comm, "optimizer": 0.0})


@dataclass
class _Sys:
    chips: int
    levels: tuple = ()
    price_usd: float = 1e6


@dataclass
class _Lvl:
    children: int


def small_gpt(**kw):
    cfg = dict(layers=8, hidden=1024, heads=16, ffn=4096, vocab=32000, seq_len=1024)
    cfg.update(kw)
    return build("gpt", **cfg)


# ---- the space -----------------------------------------------------------------------------
def test_divisors():
    assert sp.divisors(12) == [1, 2, 3, 4, 6, 12]
    assert sp.divisors(1) == [1]
    assert sp.divisors(49) == [1, 7, 49]


@settings(max_examples=25)
@given(devices=st.sampled_from([1, 2, 4, 6, 8, 12, 16]), batch=st.sampled_from([8, 16, 24, 48]),
       exhaustive=st.booleans())
def test_every_enumerated_strategy_passes_check(devices, batch, exhaustive):
    model = small_gpt(layers=12, heads=12, hidden=768)
    facts = sp.ModelFacts.of(model)
    space = sp.Space(exhaustive=exhaustive)
    seen = set()
    for shape in sp.shapes(facts, devices, batch, space):
        for s in sp.variants(facts, shape, batch, space, [4], None):
            check(Strategy.model_validate(s.model_dump()), devices=devices, layers=model.layers,
                  heads=model.heads, kv_heads=model.kv_heads, experts=model.experts, seq_len=model.seq_len)
            key = tuple(sorted(s.model_dump().items()))
            assert key not in seen, "a strategy was enumerated twice"
            seen.add(key)


def test_exhaustive_space_holds_every_valid_degree_split():
    """Brute force: every (dp, tp, pp, cp) that `check` accepts appears in the exhaustive space."""
    model = small_gpt(layers=12, heads=12, hidden=768)
    facts = sp.ModelFacts.of(model)
    devices, batch = 12, 24
    got = {(s.dp, s.tp, s.pp, s.cp) for s in sp.shapes(facts, devices, batch, sp.Space(exhaustive=True))}
    want = set()
    for dp, tp, pp, cp in itertools.product(range(1, 13), repeat=4):
        try:
            check(Strategy(dp=dp, tp=tp, pp=pp, cp=cp, global_batch=batch), devices=devices,
                  layers=model.layers, heads=model.heads, kv_heads=model.kv_heads, seq_len=model.seq_len)
        except SpecError:
            continue
        want.add((dp, tp, pp, cp))
    assert got == want


def test_rules_drop_zero23_with_pipeline_and_keep_it_otherwise():
    facts = sp.ModelFacts.of(small_gpt())
    shp = sp.shapes(facts, 8, 16, sp.Space())
    assert not any(s.pp > 1 and s.zero >= 2 for s in shp)
    assert any(s.pp == 1 and s.zero == 3 for s in shp)
    assert any(s.pp > 1 and s.zero >= 2 for s in sp.shapes(facts, 8, 16, sp.Space(exhaustive=True)))


def test_orders_collapse_to_distinct_placements():
    shape = sp.Shape(dp=4, tp=8, pp=2, cp=1, ep=1, zero=0)
    orders = sp.orders(shape, sp.Space(), [8, 8])
    assert orders[0] == ("tp", "cp", "ep", "pp", "dp")
    levels = switch_levels([8, 8])
    layouts = {layout(levels, {"tp": 8, "cp": 1, "ep": 1, "pp": 2, "dp": 4}, o) for o in orders}
    assert len(layouts) == len(orders)
    # tp fills the 8-chip node exactly: swapping pp and dp above it changes nothing on the node,
    # but their order across the top level still distinguishes layouts.
    assert 1 < len(orders) < 6


def test_constraints_are_checked():
    with pytest.raises(SpecError, match="constraints.bogus"):
        sp.Space.from_constraints({"bogus": 1})
    with pytest.raises(SpecError, match="constraints.recompute"):
        sp.Space.from_constraints({"recompute": "sometimes"})
    space = sp.Space.from_constraints({"tp": 2, "recompute": ["full"], "orders": "default"})
    assert space.tp == (2,) and space.recompute == ("full",)


# ---- the search ----------------------------------------------------------------------------
def test_search_finds_the_best_of_a_brute_force_walk():
    model, system = small_gpt(), _Sys(8, (_Lvl(8),))
    top = search(model, system, 16, top=5, estimator=fake_estimate, workers=1)
    facts = sp.ModelFacts.of(model)
    scored = []
    for shape in sp.shapes(facts, 8, 16, sp.Space()):
        for s in sp.variants(facts, shape, 16, sp.Space(), [8], None):
            e = fake_estimate(model, system, s)
            if e.memory.fits:
                scored.append(e.samples_per_s)
    scored.sort(reverse=True)
    assert [c.score for c in top] == pytest.approx(scored[:5])
    assert all(a.score >= b.score for a, b in zip(top, top[1:]))


def test_pool_and_serial_agree():
    model, system = small_gpt(layers=16), _Sys(16, (_Lvl(8), _Lvl(2)))
    serial = search_with_stats(model, system, 32, top=4, estimator=fake_estimate, workers=1)
    pooled = search_with_stats(model, system, 32, top=4, estimator=fake_estimate, workers=2)
    assert pooled.stats.workers == 2 and pooled.stats.shapes >= 16
    assert [c.strategy for c in serial.candidates] == [c.strategy for c in pooled.candidates]
    # Which level orders the bound skips depends on what each worker has seen; the sum does not.
    assert (serial.stats.evaluated + serial.stats.pruned_bound
            == pooled.stats.evaluated + pooled.stats.pruned_bound)


def test_memory_pruning_never_drops_a_fitting_strategy():
    """Pruned strategies are exactly ones the engine (stand-in) says do not fit."""
    model, system = small_gpt(hidden=4096, heads=32, layers=8), _Sys(8, (_Lvl(8),))
    est = lambda m, s, st_: fake_estimate(m, s, st_, capacity=6e9)  # noqa: E731
    res = search_with_stats(model, system, 16, top=3, estimator=est, workers=1)
    assert res.stats.pruned_memory > 0
    facts = sp.ModelFacts.of(model)
    for shape in sp.shapes(facts, 8, 16, sp.Space()):
        for s in sp.variants(facts, shape, 16, sp.Space(), [8], None):
            bound = sp.static_bytes_lower_bound(facts, shape, s.precision) + sp.activation_bytes_lower_bound(
                facts, shape, s.micro_batch, s.sequence_parallel, s.precision)
            if bound > 6e9:
                assert not est(model, system, s).memory.fits


def test_objectives_rank_differently_and_bad_input_is_a_spec_error():
    model, system = small_gpt(), _Sys(8, (_Lvl(8),))
    energy = search(model, system, 16, objective="energy", top=3, estimator=fake_estimate, workers=1)
    assert all(a.score <= b.score for a, b in zip(energy, energy[1:]))
    cost = search(model, system, 16, objective="cost", top=1, estimator=fake_estimate, workers=1)
    assert cost[0].score > 0
    with pytest.raises(SpecError, match="objective"):
        search(model, system, 16, objective="speed", estimator=fake_estimate)
    with pytest.raises(FitError):
        search(model, system, 16, estimator=lambda m, s, st_: fake_estimate(m, s, st_, capacity=1e6), workers=1)
