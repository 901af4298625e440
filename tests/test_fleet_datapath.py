"""The fleet's data path: storage, ingest and compute demand follow the stated arithmetic."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from dojosim.errors import SpecError
from dojosim.plan.fleetdata import DAY_S, check_data, evaluate
from dojosim.plan.figures import Figure, parse_figure
from dojosim.plan.quarters import QUARTER_S, parse_quarter

WL = ("fsd", "occupancy", "auto-labeling")


def _data(**kw):
    raw = {"cars": {"2025Q1": 1e6}, "clips_per_car_per_day": 2, "bytes_per_clip": "50 MB",
           "retention": "365 days", "curated_share": 0.1, "epochs": 3}
    raw.update(kw)
    return check_data(raw, WL)


def test_steady_fleet_stores_the_retention_window_plus_the_curated_set():
    d = _data()
    qs = list(range(parse_quarter("2025Q1", "q"), parse_quarter("2025Q1", "q") + 8))
    out = evaluate(d, qs)["central"]
    ingest = 1e6 * 2 * 50e6 / DAY_S
    assert out["ingest_bandwidth"][0] == pytest.approx(ingest)
    for i in range(8):
        raw = ingest * 365 * DAY_S
        curated = 0.1 * ingest * QUARTER_S * (i + 1)
        assert out["storage_bytes"][i] == pytest.approx(raw + curated)
    assert out["clips_per_day"][0] == pytest.approx(1e6 * 2 * 0.1 * 3)
    assert out["demand_samples_per_s"][0] == pytest.approx(1e6 * 2 * 0.1 * 3 / DAY_S)


def test_auto_labeling_labels_each_curated_clip_once():
    out = evaluate(_data(workload="auto-labeling"), [parse_quarter("2025Q1", "q")])["central"]
    assert out["clips_per_day"][0] == pytest.approx(1e6 * 2 * 0.1)


def test_cars_are_linear_between_points_and_flat_outside():
    d = _data(cars={"2025Q1": 1e6, "2026Q1": 2e6})
    q0 = parse_quarter("2024Q3", "q")
    out = evaluate(d, list(range(q0, q0 + 9)))["central"]["cars"]
    assert out[:3] == pytest.approx([1e6, 1e6, 1e6])
    assert out[4] == pytest.approx(1.5e6)
    assert out[6:] == pytest.approx([2e6] * 3)


def test_ranges_bracket_the_central_case():
    d = _data(clips_per_car_per_day={"value": 1, "low": 0.1, "high": 10, "reason": "r"},
              curated_share={"value": 0.1, "low": 0.05, "high": 0.2, "reason": "r"})
    r = evaluate(d, [parse_quarter("2025Q1", "q")])
    for key in ("storage_bytes", "demand_samples_per_s"):
        assert r["ranges"][key]["p10"][0] < r["central"][key][0] < r["ranges"][key]["p90"][0]
    assert {a["field"] for a in r["assumed"]} >= {"data.clips_per_car_per_day", "data.curated_share"}


@given(st.floats(0.01, 10), st.floats(1.0, 100.0), st.floats(1.0, 100.0))
def test_the_stated_value_is_the_median_of_its_range(value, up, down):
    f = Figure(value, value / down, value * up, True, "r")
    assert f.at(0.5) == pytest.approx(value)
    assert f.at(0.0) == pytest.approx(value / down) and f.at(1.0) == pytest.approx(value * up)
    us = np.linspace(0, 1, 11)
    assert np.all(np.diff(f.at(us)) >= -1e-12)


@pytest.mark.parametrize("raw, field", [
    ({"value": 1, "low": 2, "high": 3, "reason": "r"}, "x"),
    ({"value": 1, "low": 0, "high": 3}, "x.reason"),
    ({"value": 1, "source": "s", "low": 0}, "x"),
    ({"value": "ten"}, "x.value"),
    (-1, "x"),
])
def test_bad_figures_name_the_field(raw, field):
    with pytest.raises(SpecError) as e:
        parse_figure(raw, "x")
    assert e.value.path == field


def test_bad_data_blocks_name_the_field():
    with pytest.raises(SpecError, match="data.workload"):
        _data(workload="lidar")
    with pytest.raises(SpecError, match="data.curated_share"):
        _data(curated_share=1.5)
    with pytest.raises(SpecError, match="data.cars"):
        _data(cars={})
