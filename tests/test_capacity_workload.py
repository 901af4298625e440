"""Capacity by workload: the train-goal parser and the device counts the search picks."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given, strategies as st

from dojosim.errors import SpecError
from dojosim.plan.capacity import capacity_by_workload, parse_train

RUN = {"workload": {"model": "gpt", "layers": 8, "hidden": 1024, "heads": 16, "seq_len": 1024},
       "system": {"preset": "h100-dgx", "devices": 8},
       "strategy": {"dp": 8, "global_batch": 64, "micro_batch": 1}}


def test_parse_train_forms():
    g = parse_train("1e6 clips in 1 day")
    assert (g.amount, g.unit, g.duration_s, g.word) == (1e6, "samples", 86400, "clips")
    g = parse_train("300e9 tokens in 30 days")
    assert (g.amount, g.unit, g.duration_s) == (300e9, "tokens", 30 * 86400)
    assert parse_train("300B tokens in 4 weeks").amount == 300e9
    assert parse_train("1,000,000 images in 12 h").duration_s == 12 * 3600
    assert parse_train("2e9 tokens", need_duration=False).duration_s is None


@pytest.mark.parametrize("text,field", [
    ("", "train"), ("lots in 1 day", "train"), ("1e6 widgets in 1 day", "train.unit"),
    ("1e6 clips in soon", "train.duration"), ("1e6 clips", "train.duration"), ("0 clips in 1 day", "train.amount"),
    ("1e6 clips in -1 day", "train.duration")])
def test_parse_train_errors_name_the_field(text, field):
    with pytest.raises(SpecError) as exc:
        parse_train(text)
    assert exc.value.path == field


@given(n=st.floats(1, 1e15), days=st.floats(0.01, 1000))
def test_parse_train_round_trips(n, days):
    g = parse_train(f"{n!r} tokens in {days!r} days")
    assert g.amount == pytest.approx(n) and g.duration_s == pytest.approx(days * 86400)


def test_capacity_meets_the_goal_with_the_fewest_devices_tried(tmp_path):
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump(RUN))
    rows = capacity_by_workload(str(run), "2e9 tokens in 1 day", ["h100-dgx"], workers=1)
    (row,) = rows
    assert row["reachable"]
    need = 2e9 / 1024 / 86400
    assert row["details"]["target_samples_per_s"] == pytest.approx(need)
    assert row["samples_per_s"] >= need
    assert row["days_to_train"] <= 1.0
    # One step down the ladder falls short (or does not fit).
    from dojosim.hardware import load_system
    from dojosim.plan.search import best_throughput
    from dojosim.workload import from_run

    smaller = row["devices"] // 2
    if smaller >= 1:
        cand = best_throughput(from_run(RUN["workload"]), load_system("h100-dgx", devices=smaller), 64,
                               {"orders": "default"}, workers=1)
        assert cand is None or cand.estimate.samples_per_s < need
    assert row["power_w"] > 0 and row["price_usd"] > 0 and row["details"]["batch_used"] == 64


def test_capacity_says_when_a_goal_is_out_of_reach(tmp_path):
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump(RUN))
    (row,) = capacity_by_workload(str(run), "1e15 tokens in 1 day", ["ai4"], workers=1)
    assert not row["reachable"] and "out of reach" in row["note"]


def test_capacity_cli_with_workload(tmp_path, capsys):
    from dojosim.cli import main

    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump(RUN))
    with pytest.raises(SystemExit) as exc:
        main(["capacity", "--workload", str(run), "--train", "1e9 tokens in 1 day", "--systems", "h100-dgx", "--json"])
    assert exc.value.code in (0, None)
    assert '"devices"' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["capacity", "--workload", str(run), "--train", "1e9 bananas in 1 day", "--systems", "h100-dgx"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.unit" in err[0]


def test_probing_stops_when_nothing_fits(monkeypatch, tmp_path):
    import dojosim.plan.capacity as cap

    probed = []

    def nothing_fits(model, preset, devices, batch, precision, workers, full=False, adjust=True, assumptions=None):
        probed.append(devices)
        return object(), None, batch

    monkeypatch.setattr(cap, "_best", nothing_fits)
    found = cap.devices_for_rate(None, "h100-dgx", 1.0, 64, "bf16")
    assert not found["reachable"] and found["why"] == "no_fit" and found["devices"] is None
    unit = 8
    assert sum(1 for n in probed if n >= unit) == cap.NO_FIT_STREAK


def test_capacity_honours_the_run_files_assumptions(tmp_path):
    # The same goal with GEMMs at half the default efficiency needs more devices, and the rate
    # reported is the one those figures give (not the defaults').
    from dojosim.engine import estimate
    from dojosim.hardware import load_system
    from dojosim.run import load_run
    from dojosim.strategy import Strategy

    plain, slow = tmp_path / "plain.yaml", tmp_path / "slow.yaml"
    plain.write_text(yaml.safe_dump(RUN))
    slow.write_text(yaml.safe_dump({**RUN, "assumptions": {"gemm_peak_efficiency": 0.4}}))
    goal = "1e11 tokens in 1 day"
    (fast_row,) = capacity_by_workload(str(plain), goal, ["h100-dgx"], workers=1)
    (slow_row,) = capacity_by_workload(str(slow), goal, ["h100-dgx"], workers=1)
    assert slow_row["reachable"] and slow_row["devices"] > fast_row["devices"]
    run = load_run(slow)
    system = load_system("h100-dgx", devices=slow_row["devices"])
    strategy = Strategy(**slow_row["details"]["strategy"])
    assert slow_row["samples_per_s"] == pytest.approx(
        estimate(run.model, system, strategy, run.assumptions).samples_per_s)
    assert slow_row["samples_per_s"] < estimate(run.model, system, strategy).samples_per_s
