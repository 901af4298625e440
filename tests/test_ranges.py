"""Ranges: the seeded Latin hypercube, the mapping of quantiles to figures, joint sampling, and
the range every answer carries."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dojosim import Strategy
from dojosim.assumptions import DEFAULT, FIELDS, at_quantile
from dojosim.cli import app
from dojosim.engine import estimate
from dojosim.hardware import load_system
from dojosim.ranges import dimensions, draw, estimate_spread, latin_hypercube, sample
from dojosim.workload import build

runner = CliRunner()


def test_latin_hypercube_hits_every_stratum_once_and_is_seeded():
    u = latin_hypercube(50, 4, seed=3)
    assert u.shape == (50, 4) and ((u > 0) & (u < 1)).all()
    for j in range(4):
        assert sorted(np.floor(u[:, j] * 50).astype(int)) == list(range(50))
    assert np.array_equal(u, latin_hypercube(50, 4, seed=3))
    assert not np.array_equal(u, latin_hypercube(50, 4, seed=4))


def test_quantile_half_is_the_point_figure():
    assert at_quantile(0.5, 1.0, 3.0, 4.0) == 3.0
    assert at_quantile(0.0, 1.0, 3.0, 4.0) == 1.0 and at_quantile(1.0, 1.0, 3.0, 4.0) == 4.0
    a = DEFAULT.at_quantiles({n: 0.5 for n, i in FIELDS.items() if i.assumed})
    assert all(getattr(a, n) == pytest.approx(getattr(DEFAULT, n)) for n in FIELDS)


@pytest.fixture(scope="module")
def gpt():
    return build("gpt", layers=4, hidden=1024, heads=16, seq_len=1024, vocab=32000)


S = Strategy(dp=2, tp=4, micro_batch=1, global_batch=16, precision="bf16")


def test_spread_is_ordered_reproducible_and_moves(gpt):
    system = load_system("a100-80gb-dgx", devices=8)
    one = estimate_spread(gpt, system, S, samples=24, seed=1)
    r = one.outputs["step_time_s"]
    assert r.p10 <= r.p50 <= r.p90 and r.p10 < r.p90
    point = estimate(gpt, system, S).step_time_s
    assert r.p10 < point < r.p90
    again = estimate_spread(gpt, system, S, samples=24, seed=1).outputs["step_time_s"]
    assert again == r


def test_explicit_overrides_are_not_sampled(gpt):
    a = DEFAULT.replace(memory_efficiency=0.7)
    dims, _ = dimensions([load_system("a100-80gb-dgx", devices=8)], a)
    assert "memory_efficiency" not in [d.name for d in dims]
    drawn, _ = draw([], [d for d in dims if d.system is None], np.full(len(dims), 0.9), a)
    assert drawn.memory_efficiency == 0.7


def test_a_ratio_of_identical_systems_cancels(gpt):
    system = load_system("a100-80gb-dgx", devices=8)

    def ratio(a, systems):
        x, y = (estimate(gpt, s, S, a).samples_per_s for s in systems)
        return {"ratio": y / x}

    r = sample(ratio, [system, system], samples=16).outputs["ratio"]
    assert r.p10 == pytest.approx(1.0) and r.p90 == pytest.approx(1.0)


def test_ranged_preset_figures_are_sampled_without_touching_the_original():
    system = load_system("dojo-tray")
    dims, unranged = dimensions([system])
    cores = next(d for d in dims if d.system == 0 and d.path.endswith("host_cores"))
    assert unranged == []    # every assumed preset figure carries a range (tests/test_preset_ranges.py)
    level = int(cores.path.split("[")[1].split("]")[0])
    before = system.levels[level].host_cores
    _, drawn = draw([system], dims, np.zeros(len(dims)), DEFAULT)
    assert drawn[0].levels[level].host_cores == cores.low < before
    assert system.levels[level].host_cores == before


def test_estimate_json_carries_a_range(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("workload: {model: gpt, layers: 2}\nsystem: {preset: a100-80gb-dgx, devices: 8}\n"
                    "strategy: {dp: 8, micro_batch: 1, global_batch: 8}\n")
    res = runner.invoke(app, ["estimate", str(path), "--json", "--samples", "16"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    r = out["range"]
    assert r["p10"] <= r["p50"] <= r["p90"] and out["range_samples"]["samples"] == 16
    none = json.loads(runner.invoke(app, ["estimate", str(path), "--json", "--samples", "0"]).output)
    assert "range" not in none
    text = runner.invoke(app, ["estimate", str(path), "--samples", "16"]).output
    assert "p10–p90" in text


def test_compare_json_ranges_every_system_and_the_ratio():
    res = runner.invoke(app, ["compare", "--model", "gpt", "--set", "layers=2", "--systems",
                              "a100-80gb-dgx,h100-dgx", "--normalize", "chips", "--global-batch", "64",
                              "--samples", "16", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    for row in out["rows"]:
        r = row["range"]
        assert r["p10"] <= r["p50"] <= r["p90"]
    (ratio,) = out["ratios"]
    assert ratio["range"]["p10"] <= ratio["range"]["p50"] <= ratio["range"]["p90"]


def test_capacity_by_peak_ranges_follow_a_ranged_price():
    res = runner.invoke(app, ["capacity", "--target", "1 EFLOPS", "--chips", "h100-dgx", "--samples", "16", "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.output)
    price = row["ranges"]["price_usd"]
    assert price["p10"] < row["price_usd"] < price["p90"]


def test_fleet_ranges():
    from dojosim.plan.fleet import check_fleet, plan_fleet

    spec = check_fleet({"workload": {"model": "gpt", "set": {"layers": 2}, "global_batch": 32},
                        "island": 8, "parts": [{"name": "H100", "preset": "h100-dgx", "devices": 16},
                                               {"name": "A100", "preset": "a100-80gb-dgx", "devices": 8}]})
    out = plan_fleet(spec, workers=1, samples=8)
    for r in out["parts"] + [out["total"]]:
        assert r["range"]["p10"] <= r["range"]["p50"] <= r["range"]["p90"]
    h100 = out["parts"][0]["ranges"]["h100_eq"]
    assert h100["p10"] == pytest.approx(16) and h100["p90"] == pytest.approx(16)
