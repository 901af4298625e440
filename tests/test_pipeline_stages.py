"""Uneven pipeline stages: given per stage, Megatron-style first/last counts, or balanced when pp
does not divide the layers; times, bubble and memory follow the slowest / fullest stage."""
from __future__ import annotations

import pytest

from dojosim.engine.estimate import estimate
from dojosim.hardware import load_system
from dojosim.run import load_run
from dojosim.strategy import Strategy
from dojosim.workload import build


def _run(layers, pp, devices, **strategy):
    return load_run({
        "workload": {"model": "gpt", "layers": layers, "hidden": 8192, "heads": 64, "seq_len": 4096,
                     "vocab": 128256},
        "system": {"preset": "h100-dgx", "devices": devices},
        "strategy": {"dp": devices // (8 * pp), "tp": 8, "pp": pp, "global_batch": 1024, "micro_batch": 1,
                     "recompute": "selective", "sequence_parallel": True, **strategy}})


@pytest.mark.parametrize("layers, pp, devices", [(70, 12, 768), (126, 16, 1024)])
def test_published_uneven_shapes_estimate_and_say_so(layers, pp, devices):
    r = _run(layers, pp, devices)
    est = estimate(r.model, r.system, r.strategy)
    assert est.step_time_s > 0 and est.memory.fits
    assert sum(est.extra["stage_layers"]) == layers and len(est.extra["stage_layers"]) == pp
    assert any("balanced: pp=" in n for n in est.notes)


def test_explicit_even_split_equals_the_default():
    r = _run(96, 8, 1024)
    even = estimate(r.model, r.system, r.strategy)
    given = estimate(r.model, r.system, r.strategy.model_copy(update={"pp_layers": (12,) * 8}))
    assert given.step_time_s == even.step_time_s
    assert given.memory.per_device_bytes == even.memory.per_device_bytes
    assert not any("uneven" in n for n in given.notes)


def test_slowest_stage_sets_compute_and_bubble():
    r = _run(96, 8, 1024)
    s = r.strategy
    even = estimate(r.model, r.system, s)
    heavy = estimate(r.model, r.system, s.model_copy(update={"pp_layers": (12, 12, 14, 12, 12, 12, 11, 11)}))
    # the 14-layer stage is the slowest: more compute per micro-batch, a longer bubble
    assert heavy.extra["layers_per_device"] == 14
    assert heavy.breakdown["compute"] > even.breakdown["compute"]
    assert heavy.breakdown["bubble"] > even.breakdown["bubble"]
    ratio = heavy.breakdown["bubble"] / heavy.breakdown["compute"]
    assert ratio == pytest.approx(even.breakdown["bubble"] / even.breakdown["compute"], rel=0.05)


def test_more_layers_on_the_first_stage_need_more_memory():
    r = _run(96, 8, 1024)
    s = r.strategy
    even = estimate(r.model, r.system, s)
    front = estimate(r.model, r.system, s.model_copy(update={"pp_layers": (16, 12, 12, 12, 12, 12, 10, 10)}))
    back = estimate(r.model, r.system, s.model_copy(update={"pp_layers": (10, 10, 12, 12, 12, 12, 12, 16)}))
    assert front.memory.components["activations"] > even.memory.components["activations"]
    # the last stage holds one micro-batch under 1F1B: its extra layers cost little activation memory
    assert back.memory.components["activations"] < front.memory.components["activations"]
    assert front.memory.components["weights"] > even.memory.components["weights"]


def test_megatron_first_last_counts():
    r = _run(126, 16, 1024, pp_first_layers=6, pp_last_layers=6)
    est = estimate(r.model, r.system, r.strategy)
    assert est.extra["stage_layers"][0] == 6 and est.extra["stage_layers"][-1] == 6
    assert any("as the run gives them" in n for n in est.notes)


def test_uneven_pp_with_interleave_is_refused():
    from dojosim.errors import StrategyError

    model = build("gpt", layers=70, hidden=1024, heads=16, seq_len=512, vocab=32000)
    system = load_system("a100-80gb-dgx", devices=24)
    with pytest.raises(StrategyError) as info:
        estimate(model, system, Strategy(dp=2, pp=12, interleave=2, global_batch=48, micro_batch=1))
    assert info.value.path == "strategy.interleave"


def test_search_considers_uneven_splits():
    from dojosim.plan.search import search

    model = build("gpt", layers=10, hidden=1024, heads=16, seq_len=512, vocab=32000)
    system = load_system("a100-80gb-dgx", devices=24)
    found = search(model, system, 48, top=3, constraints={"pp": 3, "tp": 8, "orders": "default"}, workers=1)
    assert found and all(c.strategy.pp == 3 for c in found)
    assert found[0].estimate.extra["stage_layers"] == [3.0, 4.0, 3.0]
