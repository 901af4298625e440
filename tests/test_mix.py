"""The best-mix optimiser: never worse than brute force, always feasible, says what binds."""
from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings, strategies as st

from dojosim.plan.mix import MixProblem, solve


def brute_force(p: MixProblem) -> float:
    """Best score over every integer purchase plan within the delivery limits."""
    T, S, K = p.shape
    ranges = [range(int(p.limit[s]) + 1) for _ in range(T) for s in range(S) for _ in range(K)]
    best = 0.0
    for combo in itertools.product(*ranges):
        x = np.array(combo, dtype=float).reshape(T, S, K)
        if p.feasible(x):
            best = max(best, p.score(x))
    return best


@st.composite
def problems(draw):
    T = draw(st.integers(1, 2))
    S = draw(st.integers(1, 2))
    K = draw(st.integers(1, 2))
    # keep the brute force small: at most 4^(T*S*K) <= 4^4 points... bound the product
    if T * S * K > 4:
        K = 1
    pos = st.floats(0.5, 20.0, allow_nan=False)
    limit = np.array([draw(st.integers(0, 3)) for _ in range(S)], dtype=float)
    value = np.array([[draw(pos) for _ in range(S)] for _ in range(T)])
    return MixProblem(
        weight=np.cumsum(value[::-1], axis=0)[::-1], unit_eq=value[-1],
        price=np.array([draw(pos) for _ in range(S)]), power=np.array([[draw(pos) for _ in range(K)] for _ in range(S)]),
        limit=limit, budget=np.array([draw(st.floats(0.0, 60.0)) for _ in range(T)]),
        cap_left=np.minimum.accumulate(np.array([[draw(st.floats(0.0, 60.0)) for _ in range(K)]
                                                 for _ in range(T)])[::-1], axis=0)[::-1],
        carry=draw(st.booleans()))


@settings(max_examples=60, deadline=None)
@given(problems())
def test_optimiser_is_never_worse_than_brute_force(p):
    sol = solve(p, gap=0.0)
    assert p.feasible(sol["x"])
    assert np.all(sol["x"] == np.round(sol["x"]))
    best = brute_force(p)
    assert sol["score"] >= best - 1e-9 * max(1.0, best)
    assert sol["bound"] >= sol["score"] - 1e-9 * max(1.0, best)


def _one(price=1.0, power=1.0, limit=math.inf, budget=10.0, cap=100.0, value=1.0):
    return MixProblem(weight=np.array([[value]]), unit_eq=np.array([value]), price=np.array([price]),
                      power=np.array([[power]]), limit=np.array([limit]), budget=np.array([budget]),
                      cap_left=np.array([[cap]]), names=["a"], sites=["s"], quarters=["2025Q1"])


def test_the_budget_binds_when_money_runs_out_first():
    sol = solve(_one(price=3.0, budget=10.0, cap=100.0))
    assert sol["x"].sum() == 3 and sol["binding"]["main"] == "budget"


def test_power_binds_when_the_cap_runs_out_first():
    sol = solve(_one(price=1.0, budget=100.0, power=7.0, cap=20.0))
    assert sol["x"].sum() == 2 and sol["binding"]["main"] == "power"


def test_delivery_binds_when_the_limit_runs_out_first():
    sol = solve(_one(price=1.0, budget=100.0, cap=100.0, limit=4))
    assert sol["x"].sum() == 4 and sol["binding"]["main"] == "delivery"


def test_the_cheaper_capacity_per_dollar_wins_under_a_budget_and_per_watt_under_a_cap():
    base = dict(weight=np.array([[10.0, 10.0]]), unit_eq=np.array([10.0, 10.0]), limit=np.array([math.inf, math.inf]))
    # a: cheap, power-hungry; b: dear, frugal
    price, power = np.array([1.0, 2.0]), np.array([[3.0], [1.0]])
    money_bound = MixProblem(**base, price=price, power=power, budget=np.array([10.0]), cap_left=np.array([[1000.0]]))
    power_bound = MixProblem(**base, price=price, power=power, budget=np.array([1000.0]), cap_left=np.array([[10.0]]))
    assert solve(money_bound)["x"][0, :, 0].tolist() == [10.0, 0.0]
    assert solve(power_bound)["x"][0, :, 0].tolist() == [0.0, 10.0]


def test_a_program_too_large_to_solve_is_refused_up_front():
    import pytest

    from dojosim.errors import SpecError
    from dojosim.plan.mix import check_size

    check_size(40, 20, 2, carry=False)
    with pytest.raises(SpecError, match="plan.optimize: .* fewer quarters"):
        check_size(400, 100, 5, carry=True)


@settings(max_examples=40, deadline=None)
@given(problems())
def test_loosening_a_family_by_its_rows_equals_rebuilding_the_loosened_program(p):
    """`binds_most` scales the rows of the program it has instead of building a new one."""
    from dojosim.plan.mix import RELAX, _lp_bound, _program

    program = _program(p)
    loosened = {"budget": {"budget": p.budget * RELAX}, "power": {"cap_left": p.cap_left * RELAX},
                "delivery": {"limit": p.limit * RELAX}}
    for family, change in loosened.items():
        rebuilt = _lp_bound(MixProblem(**{**p.__dict__, **change}))
        assert math.isclose(_lp_bound(p, program, family), rebuilt, rel_tol=1e-7, abs_tol=1e-9)
