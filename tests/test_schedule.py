"""Pipeline bubbles and overlap, against the closed forms of Narayanan et al. (SC'21)."""
import pytest
from hypothesis import given, strategies as st

from dojosim.engine import estimate
from dojosim.assumptions import DEFAULT as A
from dojosim.engine.schedule import bubble_fraction, bubble_time, overlapped
from dojosim.hardware import load_system
from dojosim.strategy import Strategy
from dojosim.workload import build


@given(p=st.integers(1, 64), m=st.integers(1, 512), v=st.integers(1, 8))
def test_bubble_fraction_closed_form(p, m, v):
    f = bubble_fraction(p, m, v)
    assert f == pytest.approx((p - 1) / (v * m + p - 1))
    # Narayanan et al.: bubble time / ideal time = (p-1)/(v*m)
    t = bubble_time(p, m, v, per_micro_batch_s=1.0)
    assert t / m == pytest.approx((p - 1) / (v * m))
    assert f == pytest.approx(t / (t + m))


def test_bubble_plain_1f1b():
    assert bubble_fraction(8, 24) == pytest.approx(7 / 31)
    assert bubble_fraction(1, 5) == 0.0


@given(comm=st.floats(0, 100), compute=st.floats(0, 100), first=st.floats(0, 10))
def test_overlap_bounds(comm, compute, first):
    slow = A.overlap_compute_slowdown
    exposed = overlapped(comm, compute, slow, first)
    assert exposed >= min(first, comm) - 1e-12
    assert exposed <= comm * (1 + slow) + 1e-9
    # without a compute slowdown, overlapping never costs more than the transfer itself
    assert overlapped(comm, compute, 0.0, first) <= comm + 1e-9


@given(a=st.floats(0, 50), b=st.floats(0, 50), compute=st.floats(0, 50))
def test_overlap_monotone_in_comm(a, b, compute):
    lo, hi = sorted((a, b))
    assert overlapped(lo, compute, A.overlap_compute_slowdown) <= overlapped(hi, compute, A.overlap_compute_slowdown) + 1e-12


@pytest.fixture(scope="module")
def gpt():
    return build("gpt", layers=16, hidden=1024, heads=16, seq_len=1024, vocab=32000)


@pytest.mark.parametrize("pp,v,m", [(4, 1, 8), (4, 2, 8), (8, 1, 16), (2, 4, 4)])
def test_engine_bubble_matches_narayanan(gpt, pp, v, m):
    system = load_system("a100-80gb-dgx", devices=pp * 8)
    s = Strategy(dp=1, tp=8, pp=pp, interleave=v, micro_batch=1, global_batch=m, recompute="full",
                 precision="bf16")
    est = estimate(gpt, system, s)
    per_mb = (est.breakdown["compute"] + est.breakdown["comm_tp"] + est.breakdown["comm_pp"]) / m
    assert est.breakdown["bubble"] == pytest.approx((pp - 1) / v * per_mb, rel=1e-9)
    assert est.breakdown["bubble"] / (est.breakdown["bubble"] + m * per_mb) == pytest.approx(
        bubble_fraction(pp, m, v))


def test_more_micro_batches_shrink_the_bubble_share(gpt):
    system = load_system("a100-80gb-dgx", devices=32)
    shares = []
    for gb in (4, 8, 32, 128):
        s = Strategy(dp=1, tp=8, pp=4, micro_batch=1, global_batch=gb, precision="bf16")
        est = estimate(gpt, system, s)
        shares.append(est.breakdown["bubble"] / est.step_time_s)
    assert shares == sorted(shares, reverse=True)


def test_interleaving_shrinks_the_bubble(gpt):
    system = load_system("a100-80gb-dgx", devices=32)
    plain = estimate(gpt, system, Strategy(tp=8, pp=4, micro_batch=1, global_batch=8))
    inter = estimate(gpt, system, Strategy(tp=8, pp=4, interleave=2, micro_batch=1, global_batch=8))
    assert inter.breakdown["bubble"] < plain.breakdown["bubble"]
    # interleaving sends v times as many activations between stages
    assert inter.breakdown["comm_pp"] > plain.breakdown["comm_pp"]


def test_zero3_gathers_overlap_only_partly(gpt):
    """FSDP gathers hide behind compute on a fast network but show on a slow one."""
    s = Strategy(dp=64, micro_batch=1, global_batch=64, zero=3)
    fast = estimate(gpt, load_system("h100-dgx", devices=64), s)
    assert fast.breakdown["comm_zero"] < fast.dp_comm_s  # prefetch hides part of it
    assert fast.breakdown["comm_zero"] > 0.0            # the first gather always shows
