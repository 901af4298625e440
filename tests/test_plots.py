"""Plots exist, in PNG and SVG, and hold what they claim: axes, labels, series."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dojosim.report import plots  # noqa: E402
from test_report_fixtures import make_estimate  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def svg_texts(path) -> list[str]:
    root = ET.parse(path).getroot()
    return [("".join(el.itertext())).strip() for el in root.iter() if el.tag.endswith("text")]


def check_files(paths, stems):
    names = {p.name for p in paths}
    for stem in stems:
        assert {f"{stem}.png", f"{stem}.svg"} <= names, f"{stem} missing from {names}"
    for p in paths:
        assert p.stat().st_size > 1000
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG_MAGIC
        else:
            ET.parse(p)  # well-formed SVG


def test_plot_estimate_writes_every_panel(tmp_path):
    paths = plots.plot_estimate(make_estimate(), tmp_path)
    check_files(paths, ["breakdown", "memory", "op_times", "gantt"])
    texts = svg_texts(tmp_path / "breakdown.svg")
    assert "seconds per step" in texts and "compute" in texts and "bubble" in texts
    assert "GiB per device" in svg_texts(tmp_path / "memory.svg")


def test_breakdown_has_one_series_per_nonzero_component():
    est = make_estimate()
    fig = plots.figure_breakdown([est, est])
    ax = fig.axes[0]
    nonzero = [k for k, v in est.breakdown.items() if v > 0]
    assert [c.get_label() for c in ax.containers] == nonzero
    assert all(len(c.patches) == 2 for c in ax.containers)
    assert ax.get_xlabel() == "seconds per step"
    plt.close(fig)


def test_roofline_points_and_ridge():
    chip = SimpleNamespace(peak_flops={"bf16": 1e15}, dram_bandwidth=2e12, sram_bandwidth=0.0)
    op = SimpleNamespace(name="fc", kind="matmul", flops=4e9, reads=1e6, writes=1e6)
    tiny = SimpleNamespace(name="relu", kind="elementwise", flops=1e6, reads=1e6, writes=1e6)
    model = SimpleNamespace(iter_ops=lambda: [(SimpleNamespace(name="l", count=2), op),
                                              (SimpleNamespace(name="l", count=2), tiny)])
    pts = plots.roofline_points(model, SimpleNamespace(chip=chip, name="x"))
    fc, relu = pts
    assert fc["intensity"] == pytest.approx(4e9 / 4e6)
    assert fc["attainable"] == pytest.approx(1e15)          # compute-bound: on the flat roof
    assert relu["attainable"] == pytest.approx(0.25 * 2e12)  # memory-bound: intensity x bandwidth
    fig = plots.figure_roofline(pts, 1e15, 2e12)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.collections) == 2  # one scatter per op kind
    plt.close(fig)


def test_validation_scatter_has_bands_and_identity(tmp_path):
    result = {"cases": [{"id": f"c{i}", "predicted_step_time_s": t * (1 + e), "measured_step_time_s": t, "error": e}
                        for i, (t, e) in enumerate([(1.0, 0.05), (3.0, -0.2), (10.0, 0.3)])],
              "median_abs_error": 0.2}
    fig = plots.figure_validation(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert {"±10%", "±25%", "y = x", "cases (3)"} <= set(labels)
    offsets = [c for c in ax.collections if c.get_offsets().shape[0] == 3]
    assert len(offsets) == 1
    plt.close(fig)
    check_files(plots.plot_validation(result, tmp_path), ["validation"])
    assert "measured step time (s)" in svg_texts(tmp_path / "validation.svg")


def test_pareto_front():
    xs = [1, 2, 3, 4, 5]
    ys = [1, 3, 2, 5, 4]
    assert plots.pareto_front(xs, ys) == [0, 1, 3]  # low x, high y
    assert plots.pareto_front(xs, ys, y_low=True) == [0]


def test_sweep_plot_draws_front(tmp_path):
    df = pd.DataFrame({"devices": [8, 16, 32, 64, 128], "samples_per_s": [10, 19, 30, 29, 50],
                       "name": list("abcde")})
    fig = plots.figure_sweep(df)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("devices", "samples per second")
    front = [ln for ln in ax.lines if ln.get_marker() == "o"][0]
    assert list(front.get_xdata()) == [8, 16, 32, 128]
    plt.close(fig)
    check_files(plots.plot_sweep(df, tmp_path), ["sweep_pareto"])
    # A point that does not fit never joins the front.
    df["memory.fits"] = [True, True, True, True, False]
    fig = plots.figure_sweep(df)
    front = [ln for ln in fig.axes[0].lines if ln.get_marker() == "o"][0]
    assert list(front.get_xdata()) == [8, 16, 32]
    plt.close(fig)


def test_scaling_plot_two_axes(tmp_path):
    pts = [{"devices": d, "samples_per_s": 100 * d ** 0.9, "mfu": 0.5 * d ** -0.1} for d in (8, 64, 512)]
    fig = plots.figure_scaling(pts)
    ax, ax2 = fig.axes
    assert ax.get_xlabel() == "devices" and ax2.get_ylabel() == "MFU"
    assert len(ax.lines) == 2 and len(ax2.lines) == 1
    plt.close(fig)
    check_files(plots.plot_scaling(pts, tmp_path), ["scaling"])


def test_search_and_compare_plots(tmp_path):
    from dojosim.strategy import Strategy

    cands = [SimpleNamespace(strategy=Strategy(dp=4, pp=2, global_batch=16, micro_batch=1), estimate=make_estimate()),
             SimpleNamespace(strategy=Strategy(dp=8, global_batch=16), estimate=make_estimate(p=1))]
    fig = plots.figure_search(cands)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["1. dp4 pp2 mb1", "2. dp8"]
    plt.close(fig)
    check_files(plots.plot_search(cands, tmp_path), ["search"])
    rows = [{"system": "dojo-exapod", "label": "Dojo", "samples_per_s": 10.0, "mfu": 0.4, "energy_j_per_sample": 5.0,
             "cost_usd_per_sample": None, "normalize": "power", "estimate": make_estimate()},
            {"system": "h100-dgx", "label": "H100", "samples_per_s": 8.0, "mfu": 0.5, "energy_j_per_sample": 6.0,
             "cost_usd_per_sample": 1e-3, "normalize": "power", "estimate": make_estimate(system="h100-dgx")}]
    fig = plots.figure_compare(rows)
    assert len(fig.axes) == len(plots.COMPARE_PANELS)
    assert all(len(ax.patches) == 2 for ax in fig.axes)
    plt.close(fig)
    check_files(plots.plot_compare(rows, tmp_path), ["compare", "compare_breakdown"])


def test_gantt_has_a_row_per_track(tmp_path):
    from dojosim.report.gantt import figure_gantt
    from dojosim.report.timeline import timeline

    tl = timeline(make_estimate(p=3, m=4))
    fig = figure_gantt(tl)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(tl.tracks)
    labels = {h.get_label() for h in ax.collections}
    assert {"forward", "backward (+recompute)", "bubble (idle)"} <= labels
    plt.close(fig)
    path = plots.plot_gantt(make_estimate(), tmp_path / "g.svg")
    assert path.suffix == ".svg" and "stage 0 / compute" in svg_texts(path)


def test_sweep_columns_skip_constant_ones():
    # A sweep store: param.* inputs, outputs, and a power that never changes (no front there).
    df = pd.DataFrame({"index": [0, 1, 2], "param.workload.hidden": [1024, 2048, 4096],
                       "power_w": [15e3] * 3, "energy_j_per_step": [3.0, 2.0, 5.0],
                       "samples_per_s": [10.0, 20.0, 5.0], "memory.fits": [True, True, True]})
    assert plots._pick_columns(df, None, None) == ("energy_j_per_step", "samples_per_s")
    assert plots._pick_columns(df, "param.workload.hidden", None) == ("param.workload.hidden", "samples_per_s")


def test_roofline_achieved_points_from_the_engine_times():
    from dataclasses import replace

    chip = SimpleNamespace(peak_flops={"bf16": 1e15}, dram_bandwidth=2e12, sram_bandwidth=0.0)
    fc = SimpleNamespace(name="fc", kind="matmul", flops=4e9, reads=1e6, writes=1e6, tp="column", seq=False)
    model = SimpleNamespace(iter_ops=lambda: [(SimpleNamespace(name="l", count=2), fc)])
    est = make_estimate(p=1, m=1)
    est = replace(est, strategy={**est.strategy, "tp": 2, "micro_batch": 4}, extra={"micro_batch": 4},
                  stage=replace(est.stage, ops=(("fc", 1e-5, 2e-5),)))
    (pt,) = plots.roofline_points(model, SimpleNamespace(chip=chip, name="x"), est=est)
    assert pt["achieved"] == pytest.approx(4e9 * 4 / 2 / 1e-5)  # per device: micro-batch 4, split over tp=2
    fig = plots.figure_roofline([pt], 1e15, 2e12)
    assert len(fig.axes[0].collections) == 2  # the roof point and the engine's point
    plt.close(fig)


def test_sweep_over_devices_also_draws_scaling(tmp_path):
    df = pd.DataFrame({"param.system.devices": [8, 8, 16, 16, 32], "samples_per_s": [10.0, 12.0, 20.0, 30.0, 50.0],
                       "mfu": [0.5, 0.6, 0.5, 0.7, 0.6], "memory.fits": [True, True, True, False, True]})
    pts = plots.sweep_scaling_points(df)
    assert pts == [{"devices": 8, "samples_per_s": 12.0, "mfu": 0.6}, {"devices": 16, "samples_per_s": 20.0, "mfu": 0.5},
                   {"devices": 32, "samples_per_s": 50.0, "mfu": 0.6}]
    check_files(plots.plot_sweep(df, tmp_path), ["sweep_pareto", "scaling"])


def test_pool_roofs_for_chips_without_hbm():
    from dojosim.hardware import load_system

    tile = load_system("dojo-tile")
    ((label, bw),) = plots.pool_roofs(tile)
    pool = tile.levels[0].memory_pools[0]
    assert bw == pytest.approx(pool.count * min(pool.bandwidth, pool.link_bandwidth) / 25)
    assert plots.pool_roofs(load_system("h100-dgx")) == []  # it has its own HBM
    fig = plots.figure_roofline([], 3.6e14, 1e13, extra_roofs=[(label, bw)])
    assert [ln.get_label() for ln in fig.axes[0].lines] == ["roof", label]
    plt.close(fig)


def test_search_plot_one_bar_per_row_with_distinct_labels():
    """Five rows, two of which differ only in the level order: five bars, five labels."""
    from dojosim.strategy import Strategy

    base = dict(dp=2, tp=2, pp=2, global_batch=16, micro_batch=1)
    strategies = [Strategy(**base), Strategy(**base, order=("tp", "cp", "ep", "dp", "pp")),
                  Strategy(**base, zero=1), Strategy(**base, recompute="full"), Strategy(**base, interleave=2)]
    cands = [SimpleNamespace(strategy=s, estimate=make_estimate(p=1)) for s in strategies]
    fig = plots.figure_search(cands)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ax.patches) == 5 and len(set(labels)) == 5
    assert len({s.label() for s in strategies}) == 5  # the labels themselves are distinct
    plt.close(fig)


@pytest.mark.parametrize("model, system, fields", [
    ("gpt3-175b", "a100-80gb-dgx", dict(devices=256, tp=8, pp=8, micro_batch=1, global_batch=512,
                                        recompute="full")),
    ("fsd", "dojo-tile", dict(spatial=25, micro_batch=1, global_batch=25)),
])
def test_roofline_points_lie_under_the_per_chip_roof(model, system, fields):
    """The engine's achieved rate of an op is one chip's, like the roof: never above it (tensor
    parallelism on a GPU; a CNN's spatial split on a Dojo tile)."""
    from dojosim.api import as_model, as_strategy, as_system
    from dojosim.engine import estimate

    devices = fields.pop("devices", None)
    mdl, sys_ = as_model(model), as_system(system, devices)
    est = estimate(mdl, sys_, as_strategy(None, sys_, mdl, **fields))
    peak, _ = plots.chip_roof(sys_)
    pts = [p for p in plots.roofline_points(mdl, sys_, "bf16", est) if p.get("achieved")]
    assert len(pts) > 5
    for p in pts:
        assert p["achieved"] <= min(peak, p["attainable"]) * (1 + 1e-9), p


def test_sweep_pareto_fronts_per_model_size_with_readable_axes_and_swept_values():
    df = pd.DataFrame({
        "param.workload.hidden": [1024] * 4 + [2048] * 4,
        "param.system.levels[tile].link_bandwidth": [0.5e12, 1e12, 2e12, 4e12] * 2,
        "energy_j_per_step": [10.0, 9.0, 8.5, 8.4, 40.0, 36.0, 35.0, 34.5],
        "samples_per_s": [100.0, 110.0, 115.0, 116.0, 20.0, 22.0, 23.0, 23.5],
        "memory.fits": [True] * 8})
    fig = plots.figure_sweep(df)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "energy per step (J)" and ax.get_ylabel() == "samples per second"
    fronts = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert len(fronts) == 2  # one front per model size, never one through both
    assert {ln.get_label().split(":")[0] for ln in fronts} == {"hidden 1024", "hidden 2048"}
    notes = [t.get_text() for t in ax.texts]
    assert notes and all(n.startswith("tile link bandwidth ") for n in notes)
    assert "swept: hidden, tile link bandwidth" in ax.get_title()
    plt.close(fig)
