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


INPUT_BOUND = ("workload: {model: fsd-mini}\nsystem: {preset: dojo-tile, devices: 25}\n"
               "strategy: {dp: 25, micro_batch: 1, global_batch: 2500}\n"
               "assumptions: {kernel_overhead_s: 0}\n")


def test_an_input_bound_run_is_also_swung_with_its_hosts_keeping_up(tmp_path):
    # One host per tile cannot feed 25 D1s here: only the host figures (and the flat overhead)
    # move the step. The other side of the bound says what moves it once the hosts keep up.
    p = tmp_path / "bound.yaml"
    p.write_text(INPUT_BOUND)
    res = sensitivity([load_run(p)])
    b = res.input_bound
    assert b is not None and b.hosts == 1 and b.hosts_needed + b.zplane_hosts_needed > 1
    assert b.fed_step_time_s < res.step_time_s
    host = [d for d in res.drivers if ".host" in d.name]        # the hosts' figures and PCIe
    assert all(d.fed_swing == 0 for d in host)
    assert all(d.swing > 0 for d in host if d.name.endswith(("host_cores", "host_core_rate")))
    chip_side = [d for d in res.drivers if d.swing == 0 and d.fed_swing > 0]
    assert {"memory_efficiency", "gemm_peak_efficiency"} & {d.name for d in chip_side}
    for d in chip_side:
        assert min(d.fed_step_time_low_s, d.fed_step_time_high_s) <= b.fed_step_time_s \
            <= max(d.fed_step_time_low_s, d.fed_step_time_high_s)
    out = runner.invoke(app, ["sensitivity", str(p), "--json"])
    data = json.loads(out.output)
    assert data["input_bound"]["hosts"] == 1 and "fed_step_time_low_s" in data["drivers"][0]
    text = " ".join(runner.invoke(app, ["sensitivity", str(p)]).output.split())
    assert "once the hosts of dojo-tile keep up" in text and "would remove the bound" in text


def test_a_run_that_is_not_input_bound_has_no_other_side(runs):
    res = sensitivity([load_run(runs[0])])
    assert res.input_bound is None and all(d.fed_step_time_low_s is None for d in res.drivers)
    assert "input_bound" not in res.to_dict() and "fed_step_time_low_s" not in res.to_dict()["drivers"][0]


def test_the_exapod_example_names_at_least_five_drivers():
    # issue 11: the input-bound ExaPOD run moves with 4 figures at its 2022 host count; the other
    # side of the bound names what moves it once the hosts keep up
    res = sensitivity([load_run("examples/fsd-dojo-exapod.yaml")])
    point = [d.name for d in res.drivers if d.swing > 0]
    named = [d.name for d in res.drivers if d.swing > 0 or d.fed_swing > 0]
    assert len(point) >= 3 and len(named) >= 5 and res.input_bound is not None


def test_a_pair_whose_first_run_is_input_bound_also_swings_the_fed_ratio(tmp_path):
    p = tmp_path / "bound.yaml"
    p.write_text(INPUT_BOUND)
    run = load_run(p)
    res = sensitivity([run, run])
    b = res.input_bound
    # the second run still waits on its host; the first one, fed, is faster: the ratio drops
    assert b is not None and b.fed_ratio == pytest.approx(b.fed_step_time_s / res.step_time_s)
    fed = [d for d in res.drivers if d.fed_swing > 0]
    assert fed and all(d.fed_ratio_low is not None for d in fed)
    assert "fed_ratio" in res.to_dict()["input_bound"] and "fed_ratio_low" in res.to_dict()["drivers"][0]
