"""The search's tie-break (issue 16): input-bound splits on Dojo all wait on the same hosts, so
their steps tie; the busy time decides. The search prunes on a lower bound of both, so it must
keep exactly the top K a full enumeration ranks first under the same key (`rank_key`)."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from dojosim.engine.estimate import estimate
from dojosim.errors import SpecError
from dojosim.hardware import load_system
from dojosim.plan import space as sp
from dojosim.plan.search import on_grid, rank_key, search_with_stats
from dojosim.strategy import Strategy
from dojosim.workload import build


def _busy(est) -> float:
    return est.step_time_s - est.breakdown.get("input", 0.0)


@settings(max_examples=200)
@given(st.floats(min_value=-1e30, max_value=1e30, allow_nan=False, allow_infinity=False),
       st.floats(min_value=-1e30, max_value=1e30, allow_nan=False, allow_infinity=False))
def test_the_grid_is_monotone_and_within_its_width(x, y):
    lo, hi = min(x, y), max(x, y)
    assert on_grid(lo) <= on_grid(hi)
    assert on_grid(x) <= x and x - on_grid(x) <= abs(x) * 2.0 ** -28


def test_steps_equal_to_rounding_tie_and_real_differences_do_not():
    step = 9.1127808
    assert on_grid(step) == on_grid(step * (1 - 4e-16)) or on_grid(step) == on_grid(step * (1 + 4e-16))
    assert on_grid(step) < on_grid(step * (1 + 4e-9))


# A Dojo tray with FSD clips of 2 frames: every good split is input-bound at the tray's hosts.
CLIPS = build("fsd", frames=2)


@settings(max_examples=25, deadline=None)
@given(cp=st.sampled_from([5, 10, 25, 50]), pp=st.sampled_from([1, 2]), zero=st.integers(0, 3),
       mb=st.sampled_from([1, 2]), rc=st.sampled_from(["none", "selective", "full"]))
def test_the_bounds_bound_the_busy_time_of_every_order(cp, pp, zero, mb, rc):
    """What the search prunes ties with: the compute-only bound, the one with the least
    collective times over a group's level orders, and the busy time of `bound_estimate` at those
    times are at most each order's busy time (the step less its input stall); the input floor is
    at most its step."""
    from dojosim.engine.comm_api import LeastComm
    from dojosim.engine.bounds import bound_estimate, input_floor, step_lower_bound
    from dojosim.engine.estimate import chip_assumptions, comm_context

    system = load_system("dojo-tray", devices=150)
    if 150 % (cp * pp):
        return
    dp = 150 // (cp * pp)
    s = Strategy(dp=dp, pp=pp, cp=cp, zero=zero if pp == 1 else min(zero, 1), global_batch=dp * 2,
                 micro_batch=mb, recompute=rc)
    orders = sp.orders(sp.Shape(dp, 1, pp, cp, 1, s.zero), sp.Space(), sp.placement_levels(system))
    a = chip_assumptions(system)
    least = LeastComm([comm_context(system, s.model_copy(update={"order": o}), a) for o in orders])
    try:
        bound = bound_estimate(CLIPS, system, s, least)
    except SpecError:   # a split the engine refuses
        return
    lbs = (step_lower_bound(CLIPS, system, s), step_lower_bound(CLIPS, system, s, comm=least), _busy(bound))
    floor = input_floor(CLIPS, system, s.global_batch)
    assert floor > 0
    for o in orders:
        e = estimate(CLIPS, system, s.model_copy(update={"order": o}))
        for lb in lbs:
            assert lb <= _busy(e) * (1 + 1e-12)
        assert floor <= e.step_time_s * (1 + 1e-12)


def _unbounded(m, sy, st_):
    return estimate(m, sy, st_)   # a stand-in estimator: the search uses no bounds


@pytest.mark.parametrize("model,preset,devices,batch,constraints", [
    (build("fsd"), "dojo-tile", 25, 50, None),
    (CLIPS, "dojo-tile", 25, 100, None),
    (CLIPS, "dojo-tray", 150, 300, {"pp": [1, 2], "zero": [0, 1], "recompute": ["none", "full"]}),
])
def test_pruned_search_keeps_the_full_enumerations_top_k_on_input_bound_dojo(model, preset, devices, batch,
                                                                              constraints):
    system = load_system(preset, devices=devices)
    fast = search_with_stats(model, system, batch, top=8, constraints=constraints, workers=1)
    full = search_with_stats(model, system, batch, top=8, constraints=constraints, workers=1, estimator=_unbounded)
    assert all(c.estimate.breakdown["input"] > 0 for c in fast.candidates)   # the steps tie at the hosts
    assert len({on_grid(c.estimate.step_time_s) for c in fast.candidates}) == 1
    assert [c.strategy for c in fast.candidates] == [c.strategy for c in full.candidates]
    assert fast.stats.evaluated < full.stats.evaluated / 10


def test_full_enumeration_ranks_by_the_key_then_enumeration_order():
    """The search without bounds is what it says: every fitting split sorted by `rank_key`."""
    system = load_system("dojo-tile", devices=25)
    full = search_with_stats(CLIPS, system, 100, top=8, workers=1, estimator=_unbounded)
    facts, space = sp.ModelFacts.of(CLIPS), sp.Space()
    ranked = []
    for shape in sp.shapes(facts, 25, 100, space):
        for s in sp.variants(facts, shape, 100, space, sp.placement_levels(system), None):
            e = estimate(CLIPS, system, s)
            if e.memory.fits:
                ranked.append((rank_key(e, s, "throughput", 100), len(ranked), s))
    ranked.sort(key=lambda r: r[:2])
    assert [c.strategy for c in full.candidates] == [r[2] for r in ranked[:8]]
    assert not any(math.isnan(c.score) for c in full.candidates)


def test_search_without_counts_ranks_as_with_them():
    """`search` skips placing the level orders of groups its bounds rule out (``count=False``):
    the same top K, fewer strategies counted."""
    from dojosim.plan.search import search

    system = load_system("dojo-tray", devices=150)
    counted = search_with_stats(CLIPS, system, 300, top=5, workers=1)
    quick = search_with_stats(CLIPS, system, 300, top=5, workers=1, count=False)
    assert [c.strategy for c in quick.candidates] == [c.strategy for c in counted.candidates]
    assert [c.strategy for c in search(CLIPS, system, 300, top=5, workers=1)] == [c.strategy for c in
                                                                                  counted.candidates]
    assert quick.stats.evaluated == counted.stats.evaluated
    assert quick.stats.enumerated < counted.stats.enumerated
