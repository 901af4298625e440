"""The search against the real engine: its pruning assumptions hold there, pruning never loses
the best split, and on published runs it finds a split at least as fast as the published one."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from dojosim.engine.estimate import estimate
from dojosim.hardware import load_system
from dojosim.plan import space as sp
from dojosim.plan.search import search, search_with_stats
from dojosim.run import load_run
from dojosim.strategy import DEFAULT_ORDER, Strategy
from dojosim.workload import build

# The published cases, read from this repository (they ship as package data).
CASES = Path(__file__).resolve().parents[1] / "src" / "dojosim" / "validation" / "cases.yaml"


def _model():
    return build("gpt", layers=16, hidden=5120, heads=40, ffn=20480, vocab=51200, seq_len=2048)


@settings(max_examples=30)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 4]), zero=st.integers(0, 3),
       sp_=st.booleans(), mb=st.sampled_from([1, 2, 4]), iv=st.sampled_from([1, 2]),
       prec=st.sampled_from(["bf16", "fp8", "fp32"]))
def test_engine_obeys_what_the_pruning_assumes(tp, pp, zero, sp_, mb, iv, prec):
    """Memory grows with the micro-batch and with lighter recompute; the level order changes
    neither memory nor compute nor optimizer time; the analytic bound stays below the engine."""
    model, system = _model(), load_system("h100-dgx", devices=32)
    dp = 32 // (tp * pp)
    if pp == 1:
        iv = 1
    common = dict(dp=dp, tp=tp, pp=pp, zero=zero if pp == 1 else min(zero, 1), global_batch=256,
                  sequence_parallel=sp_ and tp > 1, interleave=iv, precision=prec)
    if iv > 1 and (common["global_batch"] // dp // mb) % pp:
        return

    def est(**kw):
        return estimate(model, system, Strategy(**{**common, "micro_batch": mb, "recompute": "none", **kw}))

    by_rc = {r: est(recompute=r) for r in ("full", "selective", "none")}
    full, sel, none = (by_rc[r].memory.per_device_bytes for r in ("full", "selective", "none"))
    assert full <= sel * (1 + 1e-12) and sel <= none * (1 + 1e-12)
    c_full, c_sel, c_none = (by_rc[r].breakdown["compute"] for r in ("full", "selective", "none"))
    assert c_none <= c_sel * (1 + 1e-12) and c_sel <= c_full * (1 + 1e-12)
    if (common["global_batch"] // dp) % (2 * mb) == 0:
        assert est().memory.per_device_bytes <= est(micro_batch=2 * mb).memory.per_device_bytes * (1 + 1e-12)
    a = est()
    b = est(order=("pp", "dp", "cp", "ep", "tp"))
    assert a.memory.per_device_bytes == pytest.approx(b.memory.per_device_bytes)
    assert a.breakdown["compute"] == pytest.approx(b.breakdown["compute"])
    assert a.breakdown["optimizer"] == pytest.approx(b.breakdown["optimizer"])
    facts = sp.ModelFacts.of(model)
    shape = sp.Shape(dp, tp, pp, 1, 1, common["zero"])
    for rc in ("full", "selective", "none"):
        bound = sp.static_bytes_lower_bound(facts, shape, prec) + sp.activation_bytes_lower_bound(
            facts, shape, mb, common["sequence_parallel"], prec)
        assert bound <= est(recompute=rc).memory.per_device_bytes


@pytest.mark.parametrize("preset,devices,batch,cfg", [
    # a 13B model on 8 x 40 GB: most splits do not fit
    ("a100-40gb-dgx", 8, 32, dict(layers=40, hidden=5120, heads=40, ffn=20480)),
    # a Dojo tile: SRAM plus the interface cards' HBM, a 5 x 5 mesh
    ("dojo-tile", 25, 50, dict(layers=20, hidden=3200, heads=25, ffn=12800)),
])
def test_pruned_search_equals_brute_force(preset, devices, batch, cfg):
    """The pruned search finds the same top 3 as costing every strategy."""
    model = build("gpt", vocab=51200, seq_len=2048, **cfg)
    system = load_system(preset, devices=devices)
    res = search_with_stats(model, system, batch, top=3, workers=1)
    assert res.stats.pruned_memory + res.stats.pruned_fit > 0
    facts = sp.ModelFacts.of(model)
    best = []
    for shape in sp.shapes(facts, devices, batch, sp.Space()):
        for s in sp.variants(facts, shape, batch, sp.Space(), sp.placement_levels(system), None):
            e = estimate(model, system, s)
            assert e.memory.capacity_bytes == res.stats.capacity_bytes  # one capacity per system
            if e.memory.fits:
                best.append(e.samples_per_s)
    best.sort(reverse=True)
    assert [c.score for c in res.candidates] == pytest.approx(best[:3])


@pytest.mark.parametrize("case_id", ["mosaic-mpt7b-h100-8gpu-seq2048", "dle-resnet50-dgxa100-8gpu-amp",
                                     "mosaic-mpt30b-a100_80-8gpu-seq2048"])
def test_search_matches_or_beats_the_published_split(case_id):
    case = next(c for c in yaml.safe_load(CASES.read_text()) if c["id"] == case_id)
    run = load_run(case)
    published = estimate(run.model, run.system, run.strategy)
    top = search(run.model, run.system, run.strategy.global_batch, top=1, workers=1,
                 constraints={"precision": run.strategy.precision})
    assert top[0].estimate.memory.fits
    assert top[0].score >= published.samples_per_s * (1 - 1e-9)


def test_default_order_comes_first():
    shape = sp.Shape(dp=2, tp=4, pp=1, cp=1, ep=1, zero=0)
    assert sp.orders(shape, sp.Space(), [8])[0] == DEFAULT_ORDER


def test_cli_search_table_json_and_errors(capsys):
    from dojosim.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["search", "--model", "gpt", "--set", "layers=8", "--set", "hidden=1024", "--set", "heads=16",
              "--system", "a100-80gb-dgx", "--devices", "8", "--global-batch", "16", "--top", "3", "--json",
              "--workers", "1"])
    assert exc.value.code in (0, None)
    import json

    out = json.loads(capsys.readouterr().out)
    assert len(out["candidates"]) == 3 and out["stats"]["evaluated"] > 0
    scores = [c["score"] for c in out["candidates"]]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(SystemExit) as exc:
        main(["search", "--model", "gpt", "--set", "layers=8", "--system", "a100-80gb-dgx", "--devices", "8",
              "--global-batch", "16", "--fix", "tp"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fix" in err[0]
    with pytest.raises(SystemExit) as exc:
        main(["search", "--model", "gpt", "--system", "a100-80gb-dgx", "--devices", "8",
              "--global-batch", "16", "--objective", "speed"])
    assert exc.value.code == 2
    assert "objective" in capsys.readouterr().err


def test_the_two_rules_lose_nothing_on_a_small_model():
    """ZeRO-2/3 with pp > 1 and tp > 1 without SP: the engine never prefers them here."""
    model = build("gpt", layers=8, hidden=2048, heads=16, ffn=8192, vocab=51200, seq_len=2048)
    system = load_system("a100-40gb-dgx", devices=16)
    ruled = search(model, system, 64, top=1, workers=1)[0]
    every = search(model, system, 64, top=1, workers=1, constraints={"exhaustive": True})[0]
    assert ruled.score == pytest.approx(every.score)


@settings(max_examples=30)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 3, 4]), zero=st.integers(0, 1),
       mb=st.sampled_from([1, 2, 4]), iv=st.sampled_from([1, 2]), rc=st.sampled_from(["none", "selective", "full"]),
       prec=st.sampled_from(["bf16", "fp8"]))
def test_step_lower_bound_is_below_the_estimate(tp, pp, zero, mb, iv, rc, prec):
    """The compute-only bound the search prunes with never exceeds the engine's step time."""
    from dojosim.engine.bounds import step_lower_bound
    from dojosim.errors import StrategyError

    model, system = _model(), load_system("h100-dgx", devices=96)
    if pp == 1 or 16 % (pp * iv):
        iv = 1
    dp = 96 // (tp * pp)
    s = Strategy(dp=dp, tp=tp, pp=pp, zero=zero, global_batch=dp * 8, micro_batch=mb, interleave=iv,
                 recompute=rc, precision=prec, sequence_parallel=tp > 1)
    try:
        est = estimate(model, system, s)
    except StrategyError:   # an interleave the batch does not allow
        return
    assert step_lower_bound(model, system, s) <= est.step_time_s * (1 + 1e-12)


def test_search_with_the_lower_bound_ranks_as_without():
    """The engine's lower bound prunes strategies but never changes the ranking: the same top 5
    as the search without it (a stand-in estimator turns it off)."""
    model = build("gpt", layers=24, hidden=4096, heads=32, ffn=16384, vocab=51200, seq_len=2048)
    system = load_system("a100-80gb-dgx", devices=64)
    fast = search_with_stats(model, system, 512, top=5, workers=1)
    slow = search_with_stats(model, system, 512, top=5, workers=1,
                             estimator=lambda m, sy, st_: estimate(m, sy, st_))
    assert [(c.score, c.strategy) for c in fast.candidates] == [(c.score, c.strategy) for c in slow.candidates]
    assert fast.stats.evaluated < slow.stats.evaluated


@settings(max_examples=25, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 4]), cp=st.sampled_from([1, 2]),
       zero=st.integers(0, 3), mb=st.sampled_from([1, 2, 4]), rc=st.sampled_from(["none", "selective", "full"]),
       prec=st.sampled_from(["bf16", "fp8"]), iv=st.sampled_from([1, 2]))
def test_least_collective_times_bound_every_order(tp, pp, cp, zero, mb, rc, prec, iv):
    """An estimate with each collective at its least time over a group's level orders (LeastComm)
    is a lower bound on every order's step, and has their memory; so is the compute bound with
    the per micro-batch collectives added. The search skips orders on the strength of this."""
    from dojosim.engine.comm_api import LeastComm
    from dojosim.engine.bounds import bound_estimate, step_lower_bound
    from dojosim.engine.estimate import chip_assumptions, comm_context

    model, system = _model(), load_system("h100-dgx", devices=64)
    dp = 64 // (tp * pp * cp)
    if pp == 1 or (8 // mb) % pp:
        iv = 1   # interleaving needs pp > 1 and a multiple of pp micro-batches
    s = Strategy(dp=dp, tp=tp, pp=pp, cp=cp, zero=zero if pp == 1 else min(zero, 1), global_batch=dp * 8,
                 micro_batch=mb, recompute=rc, precision=prec, sequence_parallel=tp > 1, interleave=iv)
    shape = sp.Shape(dp, tp, pp, cp, 1, s.zero)
    orders = sp.orders(shape, sp.Space(), sp.placement_levels(system))
    a = chip_assumptions(system)
    least = LeastComm([comm_context(system, s.model_copy(update={"order": o}), a) for o in orders])
    bound = bound_estimate(model, system, s, least)
    comm_lb = step_lower_bound(model, system, s, comm=least)
    for o in orders:
        e = estimate(model, system, s.model_copy(update={"order": o}))
        assert bound.step_time_s <= e.step_time_s * (1 + 1e-12)
        assert comm_lb <= e.step_time_s * (1 + 1e-12)
        assert bound.memory.per_device_bytes == e.memory.per_device_bytes
        assert bound.memory.fits == e.memory.fits


@pytest.mark.parametrize("preset,devices,degrees", [
    ("dojo-tray", 150, dict(tp=5, cp=1, ep=1, pp=2, dp=15)),     # 5 x 5 tiles in a 2 x 3 tray mesh
    ("h100-dgx", 64, dict(tp=2, cp=2, ep=1, pp=4, dp=4)),        # nodes of 8 under a fat tree
])
def test_search_orders_are_the_engines_placements(preset, devices, degrees):
    """One placement model (issue 11): the orders the search keeps are those the engine's `place`
    tells apart, and every order it drops estimates exactly as the kept one placed the same way."""
    import itertools

    from dojosim.engine.placement import place

    model, system = _model(), load_system(preset, devices=devices)
    shape = sp.Shape(zero=0, **degrees)
    kept = sp.orders(shape, sp.Space(), sp.placement_levels(system))

    def groups(order):
        return {d: (g.n, g.spans, g.sharers, g.inside, g.grids) for d, g in place(system, degrees, order).items()}

    assert len({tuple(sorted(groups(o).items())) for o in kept}) == len(kept)
    base = dict(global_batch=degrees["dp"] * 4, micro_batch=2, sequence_parallel=degrees["tp"] > 1,
                **{k: v for k, v in degrees.items()})
    for perm in itertools.permutations(["tp", "cp", "pp", "dp"]):
        order = perm[:2] + ("ep",) + perm[2:]
        twin = next(o for o in kept if groups(o) == groups(order))
        a = estimate(model, system, Strategy(order=order, **base))
        b = estimate(model, system, Strategy(order=twin, **base))
        assert a.step_time_s == b.step_time_s


def test_step_lower_bounds_share_exactly_what_one_bound_computes():
    """The batched bounds (micro-batches x recompute modes x interleaves, with and without the
    least collective times) equal `step_lower_bound` of each variant on its own."""
    from dojosim.engine.comm_api import LeastComm
    from dojosim.engine.bounds import step_lower_bound, step_lower_bounds
    from dojosim.engine.estimate import chip_assumptions, comm_context

    model, system = _model(), load_system("h100-dgx", devices=64)
    s = Strategy(dp=8, tp=2, pp=4, global_batch=256, micro_batch=1, sequence_parallel=True)
    orders = sp.orders(sp.Shape(8, 2, 4, 1, 1, 0), sp.Space(), sp.placement_levels(system))
    a = chip_assumptions(system)
    least = LeastComm([comm_context(system, s.model_copy(update={"order": o}), a) for o in orders])
    mbs, rcs, ivs = (1, 2, 4), ("none", "selective", "full"), (1, 2, 4)
    for comm in (None, least):
        grid = step_lower_bounds(model, system, s, mbs, rcs, comm=comm, interleaves=ivs)
        for mb, row in zip(mbs, grid):
            for rc, by_iv in zip(rcs, row):
                for v, lb in zip(ivs, by_iv):
                    one = s.model_copy(update={"micro_batch": mb, "recompute": rc, "interleave": v})
                    assert lb == step_lower_bound(model, system, one, comm=comm)
