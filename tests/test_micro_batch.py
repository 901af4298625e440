"""The micro-batch the engine picks when a run leaves it out: the fastest that fits (the search's
rule), so more data-parallel replicas never make a step slower than the data-parallel term grows."""
from __future__ import annotations

import pytest
from hypothesis import assume, given, settings, strategies as st

from dojosim.assumptions import DEFAULT as A
from dojosim.engine.estimate import estimate
from dojosim.hardware import load_system
from dojosim.strategy import Strategy
from dojosim.workload import build


def _530b():
    return build("gpt", layers=105, hidden=20480, heads=128, ffn=81920, vocab=51200, seq_len=2048)


def test_530b_step_falls_as_dp_grows():
    """530B (105 layers, tp 8, pp 35, global batch 1,920, full recompute) on 2,240/2,800/3,360
    A100s with micro_batch left out: more replicas, shorter steps."""
    model = _530b()
    steps = []
    for devices, dp in ((2240, 8), (2800, 10), (3360, 12)):
        system = load_system("a100-80gb-dgx", devices=devices)
        est = estimate(model, system, Strategy(dp=dp, tp=8, pp=35, global_batch=1920,
                                               recompute="full", precision="fp16"))
        assert est.memory.fits
        assert any("micro_batch chosen by the engine" in n for n in est.notes)
        steps.append(est.step_time_s)
    assert steps[0] > steps[1] > steps[2]


def test_chosen_micro_batch_is_the_fastest_that_fits():
    model = build("gpt", layers=8, hidden=2048, heads=16, ffn=8192, vocab=32000, seq_len=2048)
    system = load_system("a100-80gb-dgx", devices=8)
    base = Strategy(dp=2, tp=2, pp=2, global_batch=32, recompute="none", precision="bf16")
    chosen = estimate(model, system, base)
    mb = chosen.extra["micro_batch"]
    for d in (1, 2, 4, 8, 16):
        est = estimate(model, system, base.model_copy(update={"micro_batch": d}))
        if est.memory.fits:
            assert chosen.step_time_s <= est.step_time_s * (1 + 1e-12)
        if d == mb:
            assert est.step_time_s == pytest.approx(chosen.step_time_s)


def _dp_term(est) -> float:
    return est.breakdown["comm_dp"] + est.breakdown["comm_zero"]


@settings(max_examples=25)
@given(tp=st.sampled_from([1, 2, 4]), pp=st.sampled_from([1, 2, 4]), layers=st.sampled_from([8, 12, 16]),
       dps=st.sampled_from([(1, 2), (2, 4), (2, 6), (4, 6), (3, 4), (2, 8), (4, 12)]),
       per=st.sampled_from([4, 8, 12, 24]), zero=st.sampled_from([0, 1]),
       recompute=st.sampled_from(["none", "selective", "full"]), hidden=st.sampled_from([1024, 2048]))
def test_more_replicas_never_cost_more_than_the_dp_term(tp, pp, layers, dps, per, zero, recompute, hidden):
    """At a fixed global batch and tp/pp, adding data-parallel replicas never lengthens the step
    by more than the growth of the data-parallel term (gradient reduction, ZeRO traffic)."""
    model = build("gpt", layers=layers, hidden=hidden, heads=16, ffn=4 * hidden, vocab=32000, seq_len=1024)
    dp1, dp2 = dps
    gb = per * dp1 * dp2   # divisible by both
    ests = []
    for dp in (dp1, dp2):
        n = dp * tp * pp
        assume(n <= 8 or n % 8 == 0)   # whole DGX nodes
        system = load_system("a100-80gb-dgx", devices=n)
        ests.append(estimate(model, system, Strategy(dp=dp, tp=tp, pp=pp, global_batch=gb, zero=zero,
                                                     recompute=recompute, precision="bf16")))
    e1, e2 = ests
    assume(e1.memory.fits and e2.memory.fits)
    growth = max(_dp_term(e2) - _dp_term(e1), 0.0) * (1 + A.framework_overhead_fraction)
    assert e2.step_time_s <= e1.step_time_s + growth + 1e-9 * e1.step_time_s
