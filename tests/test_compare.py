"""`compare`: systems sized to equal chips, power or price, each with its own best split."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from dojosim.cli import main
from dojosim.hardware import load_system
from dojosim.report.compare import EQUAL_WITHIN, compare, equalize, measure
from test_report_fixtures import make_estimate


def fake_search(model, system, gb, objective="throughput", top=1, constraints=None, **kw):
    from dojosim.strategy import Strategy

    est = make_estimate(system=system.name, p=1, m=1)
    return [SimpleNamespace(strategy=Strategy(dp=system.chips, global_batch=gb), estimate=est)]


@pytest.mark.parametrize("normalize", ["chips", "power", "price"])
def test_equalize_lands_within_tolerance(normalize):
    ref = load_system("dojo-exapod")
    target = measure(ref, normalize)
    h = equalize(load_system("h100-dgx"), target, normalize, ref.chips)
    assert abs(measure(h, normalize) - target) / target <= EQUAL_WITHIN
    assert h.chips % 8 == 0  # whole DGX nodes


def test_equal_chips_is_exact():
    h = equalize(load_system("h100-dgx"), 3000.0, "chips", 3000)
    assert h.chips in (2992, 3000, 3008) and abs(h.chips - 3000) <= 8


def test_compare_rows_use_reference_first_and_each_own_split():
    rows = compare(SimpleNamespace(name="m", config={}), ["dojo-tray", "h100-dgx"], normalize="power",
                   search_fn=fake_search)
    assert [r["system"] for r in rows] == ["dojo-tray", "h100-dgx"]
    assert rows[0]["devices"] == 150
    # The default batch splits data-parallel on every system (a common multiple of the counts).
    assert all(r["global_batch"] % r["devices"] == 0 for r in rows)
    assert rows[1]["split"] == f"dp{rows[1]['devices']}"
    assert rows[0]["relative_samples_per_s"] == 1.0
    gb = rows[0]["global_batch"]
    est = rows[1]["estimate"]
    assert rows[1]["energy_j_per_sample"] == pytest.approx(est.energy_j_per_step / gb)
    assert rows[1]["cost_usd_per_sample"] == pytest.approx(est.cost_usd_per_step / gb)


def test_a_system_that_cannot_run_is_a_row_with_the_reason():
    from dojosim.errors import FitError

    def failing(model, system, gb, **kw):
        if system.name.startswith("h100"):
            raise FitError("strategy", "nothing fits")
        return fake_search(model, system, gb)

    rows = compare(SimpleNamespace(name="m", config={}), ["dojo-tile", "h100-dgx"], search_fn=failing)
    assert rows[1]["error"] == "strategy: nothing fits" and rows[1]["fits"] is False
    assert "samples_per_s" in rows[0]


def test_bad_normalize_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--model", "gpt", "--normalize", "watts"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "normalize" in err[0]


def run_cli(args: list[str]) -> None:
    """Run the CLI in-process; typer ends a successful command with SystemExit(0)."""
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), f"exit {exc.code}"


def test_cli_compare_json_small(capsys, tmp_path):
    run_cli(["compare", "--model", "gpt", "--systems", "dojo-tile,a100-80gb-dgx", "--normalize", "chips",
             "--json", "--plot", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert [r["system"] for r in rows] == ["dojo-tile", "a100-80gb-dgx"]
    assert rows[1]["devices"] == 24  # 25 chips in whole 8-GPU nodes, sharing most factors with 25
    for r in rows:
        assert r["step_time_s"] > 0 and r["samples_per_s"] > 0 and 0 < r["mfu"] < 1
        assert set(r["breakdown"]) and r["split"]
    assert (tmp_path / "compare.svg").exists() and (tmp_path / "compare.png").exists()


def test_default_global_batch_rules():
    from dojosim.report.compare import default_global_batch

    m = SimpleNamespace(config={})
    assert default_global_batch(m, [3000, 1600]) == 24000
    # lcm too large: the multiple of 3,000 (at most 16 per chip) that splits best over 1,648.
    assert default_global_batch(m, [3000, 1648]) == 6000  # 16 of 1,648 share it: no larger k does better
    assert default_global_batch(m, [150, 144, 128]) % 150 == 0
    assert default_global_batch(SimpleNamespace(config={"global_batch": 512}), [3000, 1600]) == 512


def test_when_nothing_fits_the_fastest_near_least_memory_split_is_shown_flagged():
    from dataclasses import replace

    from dojosim.errors import FitError
    from dojosim.strategy import Strategy

    def est_fn(model, system, strategy):
        e = make_estimate(system=system.name, p=1, m=1)
        # tp shrinks the need, ZeRO-1 adds 3% (a stand-in) but doubles speed; nothing fits 0.1 GB.
        need = 8e9 / strategy.tp * (1.03 if strategy.zero else 1.0)
        speed = 100.0 * (2 if strategy.zero else 1) / strategy.tp
        return replace(e, samples_per_s=speed,
                       memory=replace(e.memory, per_device_bytes=need, capacity_bytes=1e8, fits=need <= 1e8))

    def search_fn(model, system, gb, objective="throughput", top=1, constraints=None, estimator=None, **kw):
        estimator = estimator or est_fn
        cands = [Strategy(dp=25 // tp, tp=tp, zero=z, global_batch=gb) for tp in (1, 5, 25) for z in (0, 1)]
        scored = [(estimator(model, system, c), c) for c in cands]
        ok = sorted([x for x in scored if x[0].memory.fits], key=lambda x: -x[0].samples_per_s)
        if not ok:
            raise FitError("strategy", "no strategy of m fits in memory on 25 devices")
        return [SimpleNamespace(strategy=c, estimate=e) for e, c in ok][:top]

    rows = compare(SimpleNamespace(name="m", config={}), ["dojo-tile"], search_fn=search_fn, estimate_fn=est_fn,
                   global_batch=25)
    r = rows[0]
    # Least memory: tp25 (0.32 GB); tp25+ZeRO-1 needs 3% more and is twice as fast: it is shown.
    assert r["fits"] is False and r["split"] == "tp25 z1"
    assert r["memory_per_device_bytes"] == pytest.approx(8e9 / 25 * 1.03) and r["memory_capacity_bytes"] == 1e8
    assert "closest" in r["split_source"]


def test_compare_with_no_arguments_is_fsd_exapod_vs_h100_at_equal_power(capsys):
    run_cli(["compare"])
    out = capsys.readouterr().out
    assert "fsd: equal power" in out
    assert "dojo-exapod x3000" in out and "h100-dgx x" in out


def test_compare_a_run_keeps_its_split_on_its_system(capsys):
    from pathlib import Path

    run = Path(__file__).resolve().parents[1] / "examples" / "fsd-dojo-tile.yaml"
    run_cli(["compare", "--run", str(run), "--systems", "h100-dgx", "--json"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0]["system"] == "dojo-tile" and rows[0]["split_source"] == "given"
    import yaml

    given = yaml.safe_load(run.read_text())["strategy"]
    assert {k: rows[0]["strategy"][k] for k in given} == given
    assert rows[1]["system"] == "h100-dgx" and rows[1]["global_batch"] == given["global_batch"]


def test_run_and_model_together_is_one_line_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--model", "gpt", "--run", str(tmp_path / "x.yaml")])
    assert exc.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
