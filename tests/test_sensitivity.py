"""dojosim sensitivity: one-at-a-time swings, sorted, for a run and for a pair."""
import json

import pytest
from typer.testing import CliRunner

from dojosim.cli import app
from dojosim.plan.sensitivity import sensitivity
from dojosim.run import load_run

runner = CliRunner()
RUN = ("workload: {model: gpt, layers: 2}\nsystem: {preset: SYS, devices: 8}\n"
       "strategy: {dp: 2, tp: 4, micro_batch: 1, global_batch: 16}\n")


@pytest.fixture()
def runs(tmp_path):
    out = []
    for name in ("a100-80gb-dgx", "h100-dgx"):
        p = tmp_path / f"{name}.yaml"
        p.write_text(RUN.replace("SYS", name))
        out.append(p)
    return out


def test_drivers_are_sorted_by_swing_and_bracket_the_point(runs):
    res = sensitivity([load_run(runs[0])])
    swings = [d.swing for d in res.drivers]
    assert swings == sorted(swings, reverse=True) and swings[0] > 0
    top = res.drivers[0]
    assert min(top.step_time_low_s, top.step_time_high_s) <= res.step_time_s <= max(top.step_time_low_s,
                                                                                    top.step_time_high_s)
    moving = {d.name for d in res.drivers if d.swing > 0}
    assert {"gemm_peak_efficiency", "framework_overhead_fraction"} <= moving


def test_a_pair_reports_the_ratio_and_shared_overhead_cancels(runs):
    res = sensitivity([load_run(p) for p in runs])
    assert res.ratio > 1
    fw = next(d for d in res.drivers if d.name == "framework_overhead_fraction")
    # the same flat overhead on both machines: the ratio does not move
    assert fw.ratio_low == pytest.approx(fw.ratio_high, rel=1e-9)
    assert res.drivers[0].swing > 0


def test_explicit_overrides_are_not_swung(runs, tmp_path):
    p = tmp_path / "fixed.yaml"
    p.write_text(runs[0].read_text() + "assumptions: {gemm_peak_efficiency: 0.7}\n")
    names = {d.name for d in sensitivity([load_run(p)]).drivers}
    assert "gemm_peak_efficiency" not in names


def test_cli_json_table_and_chart(runs, tmp_path):
    res = runner.invoke(app, ["sensitivity", str(runs[0]), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    d = out["drivers"][0]
    assert set(d) >= {"name", "low", "high", "step_time_low_s", "step_time_high_s", "source"}
    pair = json.loads(runner.invoke(app, ["sensitivity", str(runs[0]), str(runs[1]), "--json"]).output)
    assert "ratio" in pair and "ratio_low" in pair["drivers"][0]
    text = runner.invoke(app, ["sensitivity", str(runs[0]), "--plot", str(tmp_path / "plots")])
    assert text.exit_code == 0 and "sensitivity of the step time" in text.output
    assert (tmp_path / "plots" / "sensitivity.svg").is_file() and "wrote" in text.output


def test_three_runs_is_a_one_line_error(runs):
    from dojosim.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["sensitivity", str(runs[0]), str(runs[1]), str(runs[0])])
    assert exc.value.code == 2


def test_swung_figures_print_in_their_units():
    from dojosim.cli.sensitivity import _with_unit

    assert _with_unit(1e8, "dojo-exapod: levels[1].host_core_rate") == "100 MB/s"
    assert _with_unit(5e-7, "kernel_overhead_s") == "500 ns"
    assert _with_unit(2.0, "dojo-exapod: levels[1].hosts") == "2"
    assert _with_unit(0.7, "memory_efficiency") == "0.7"


def test_a_preset_figure_both_runs_share_is_one_driver_and_cancels_in_the_ratio(runs):
    # the same preset on both sides: its price (or any other assumed figure) is one unknown
    res = sensitivity([load_run(runs[0]), load_run(runs[0])])
    shared = [d for d in res.drivers if d.name.endswith("(both runs)")]
    assert shared and all(d.ratio_low == pytest.approx(d.ratio_high, rel=1e-9) for d in shared)
    assert all(d.name.endswith("(both runs)") for d in res.drivers if d.name.startswith("a100-80gb-dgx: "))
