"""dojosim validate: per-case errors, aggregates, skipped cases listed with the reason."""
import json
from pathlib import Path

import pytest

from dojosim.cli import main
from dojosim.run import load_cases
from dojosim.validate import measured_step_time, percentile, validate

# The published cases, read from this repository (they ship as package data).
CASES = Path(__file__).resolve().parents[1] / "src" / "dojosim" / "validation" / "cases.yaml"

RUN = {
    "workload": {"model": "gpt", "layers": 4, "hidden": 512, "heads": 8, "seq_len": 256, "vocab": 1000},
    "system": {"preset": "a100-80gb-dgx", "devices": 8},
    "strategy": {"dp": 8, "micro_batch": 2, "global_batch": 64, "precision": "bf16"},
}


def case(cid, measured, **over):
    return {"id": cid, **{k: dict(v, **over.get(k, {})) for k, v in RUN.items()}, "measured": measured}


def test_percentile_matches_numpy():
    np = pytest.importorskip("numpy")
    xs = [0.3, 0.01, 0.2, 0.05, 0.5, 0.12, 0.07]
    for q in (0, 10, 50, 90, 100):
        assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))


def test_validate_rows_aggregates_and_skipped():
    cases = load_cases([
        case("ok-step", {"metric": "step_time_s", "value": 0.05, "step_time_s": 0.05}),
        case("ok-tokens", {"metric": "tokens_per_s", "value": 1e6}),
        case("bad-preset", {"metric": "step_time_s", "value": 1.0}, system={"preset": "nope"}),
        case("bad-split", {"metric": "step_time_s", "value": 1.0}, strategy={"dp": 3}),
        case("no-value", {"metric": "mfu"}),
    ])
    r = validate(cases)
    ids = [c["id"] for c in r["cases"]]
    assert ids == ["ok-step", "ok-tokens"]
    skipped = {s["id"]: s["reason"] for s in r["skipped"]}
    assert set(skipped) == {"bad-preset", "bad-split", "no-value"}
    assert "strategy.dp" in skipped["bad-split"]
    row = r["cases"][1]
    assert row["measured_step_time_s"] == pytest.approx(64 * 256 / 1e6)
    assert row["error"] == pytest.approx(row["predicted_step_time_s"] / row["measured_step_time_s"] - 1)
    errs = sorted(abs(c["error"]) for c in r["cases"])
    assert r["median_abs_error"] == pytest.approx(sum(errs) / 2)
    assert r["mean_abs_error"] == pytest.approx(sum(errs) / 2)
    assert r["p90_abs_error"] == pytest.approx(percentile(errs, 90))


def test_flop_metrics_use_the_estimate():
    c = load_cases([case("hw", {"metric": "hardware_tflops_per_device", "value": 100.0})])[0]
    from dojosim.engine import estimate

    run = c.run()
    est = estimate(run.model, run.system, run.strategy)
    t, how = measured_step_time(c, est, run)
    assert t == pytest.approx(est.hardware_flops_per_step / (100e12 * 8))
    assert "dojosim" in how


def test_non_fitting_case_is_predicted_and_noted():
    big = {"model": "gpt3-175b"}
    cases = load_cases([{"id": "big", "workload": big, "system": RUN["system"],
                         "strategy": {"dp": 8, "micro_batch": 1, "global_batch": 8},
                         "measured": {"metric": "step_time_s", "value": 10.0}}])
    r = validate(cases)
    assert r["cases"][0]["fits"] is False
    assert any("fit" in n for n in r["cases"][0]["notes"])


def test_cli_validate_json(tmp_path, capsys):
    import yaml

    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump([case("a", {"metric": "step_time_s", "value": 0.05}),
                                    case("b", {"metric": "step_time_s", "value": 1.0},
                                         system={"preset": "nope"})]))
    with pytest.raises(SystemExit) as done:
        main(["validate", "--cases", str(path), "--json"])
    assert done.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert {"cases", "median_abs_error", "mean_abs_error", "p90_abs_error", "skipped"} <= set(out)
    assert out["cases"][0].keys() >= {"id", "predicted_step_time_s", "measured_step_time_s", "error"}
    assert out["skipped"][0]["id"] == "b"


def test_cli_validate_missing_file_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["validate", "--cases", str(tmp_path / "none.yaml")])
    assert done.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_published_cases_meet_the_targets():
    """The issue's target over ALL published cases: median |error| <= 10%, p90 <= 25%."""
    r = validate(load_cases(CASES))
    assert not r["skipped"]
    assert r["count"] >= 41
    assert r["median_abs_error"] <= 0.10
    assert r["p90_abs_error"] <= 0.25


def test_cli_validate_plot_writes_the_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import yaml

    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump([case("a", {"metric": "step_time_s", "value": 0.05})]))
    with pytest.raises(SystemExit) as done:
        main(["validate", "--cases", str(path), "--json", "--plot", str(tmp_path / "plots")])
    assert done.value.code in (0, None)
    assert (tmp_path / "plots" / "validation.png").exists()


def test_cli_validate_without_cases_runs_the_packaged_set(capsys):
    """`dojosim validate` with no argument predicts the published runs shipped with dojosim."""
    with pytest.raises(SystemExit) as done:
        main(["validate", "--json"])
    assert done.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == len(load_cases(CASES)) and not out["skipped"]


def test_published_cases_ship_as_package_data():
    """The file the CLI reads is this repository's, and the build ships it."""
    from dojosim.validate import PUBLISHED_CASES

    assert PUBLISHED_CASES == CASES.resolve()
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    package_data = pyproject.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    assert '"validation/*.yaml"' in package_data
