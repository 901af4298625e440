"""Tables fit 80 columns without cutting a digit (and use the room at 200 columns).

The layout (`report.table.fit`) is checked on made-up tables, then each table-printing command is
run in-process at 80 and at 200 columns: no line is wider than the terminal, nothing is cut with
an ellipsis, and the key figures are all there."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from rich.console import Console

from dojosim.cli import _app, main
from dojosim.report.table import Col, fit

ROOT = Path(__file__).resolve().parents[1]


def render(parts, width: int) -> str:
    con = Console(width=width, file=io.StringIO(), highlight=False, color_system=None)
    for p in parts:
        con.print(p)
    return con.file.getvalue()


def check_fits(text: str, width: int) -> None:
    assert "…" not in text
    for line in text.splitlines():
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"


NUMBER = st.floats(min_value=1e-3, max_value=1e12, allow_nan=False).map(lambda x: f"{x:,.4g}")


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.lists(NUMBER, min_size=6, max_size=6), min_size=1, max_size=8),
       width=st.sampled_from([40, 60, 80, 120, 200]))
def test_fit_never_cuts_a_number(rows, width):
    cols = [Col("name", "left")] + [Col(f"a long header {i} with units GiB") for i in range(6)]
    rows = [[f"row{i}"] + r for i, r in enumerate(rows)]
    text = render(fit("title", cols, rows, width), width)
    check_fits(text, width)
    flat = re.sub(r"\s+", " ", text)
    for r in rows:
        for cell in r[1:]:
            assert cell in flat, cell


def test_wide_table_at_200_is_one_line_per_row():
    cols = [Col("system", "left"), Col("samples/s"), Col("memory/chip")]
    rows = [["dojo-exapod x3000", "6,757", "1.318 GiB"], ["h100-dgx x1600", "8,956", "76.86 GiB"]]
    text = render(fit("t", cols, rows, 200), 200)
    assert any("dojo-exapod x3000" in ln and "6,757" in ln and "1.318 GiB" in ln for ln in text.splitlines())


def test_few_rows_too_wide_turn_on_their_side():
    cols = [Col("system", "left")] + [Col(f"figure number {i}") for i in range(12)]
    rows = [["dojo-exapod x3000"] + [f"{1234.5 * i:,.1f} MW" for i in range(12)],
            ["h100-dgx x1600"] + [f"{9876.5 * i:,.1f} MW" for i in range(12)]]
    text = render(fit("t", cols, rows, 80), 80)
    check_fits(text, 80)
    header = next(ln for ln in text.splitlines() if "dojo-exapod x3000" in ln)
    assert "h100-dgx x1600" in header  # the systems head the columns


@pytest.fixture
def columns(monkeypatch):
    def set_width(n: int) -> None:
        monkeypatch.setattr(_app.console, "width", n)
    return set_width


def run(args, capsys) -> str:
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), f"exit {exc.code}"
    return capsys.readouterr().out


CASES = {
    "compare": ["compare", "--model", "gpt", "--systems", "dojo-tile,a100-80gb-dgx", "--normalize", "chips"],
    "fleet": ["fleet", str(ROOT / "examples" / "fleets" / "small-mixed.yaml")],
    "capacity": ["capacity", "--workload", str(ROOT / "examples" / "fsd-dojo-tile.yaml"), "--train",
                 "1e5 clips in 1 day", "--systems", "dojo-tile,h100-dgx"],
    "search": ["search", "--model", "gpt", "--system", "a100-80gb-dgx", "--devices", "16", "--global-batch",
               "64", "--top", "5", "--workers", "1"],
    "estimate": ["estimate", str(ROOT / "examples" / "fsd-dojo-tile.yaml")],
    "systems": ["systems"],
}


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("name", sorted(CASES))
def test_commands_fit_the_terminal(name, width, columns, capsys):
    columns(width)
    out = run(CASES[name], capsys)
    check_fits(out, width)
    assert out.strip()


def test_compare_marks_assumed_prices_and_names_no_internals(columns, capsys):
    columns(80)
    out = run(CASES["compare"], capsys)
    assert "≈ $" in out and "assumed" in out
    assert "dojosim.plan" not in out and "score" not in out
    assert "GiB" in out and " GB" not in out


def test_report_compare_section_carries_assumed_marks_and_gib():
    from dojosim.report.html import _compare_section
    from test_report_fixtures import make_estimate

    row = {"system": "dojo-exapod", "label": "dojo-exapod x3000", "devices": 3000, "power_w": 2.12e6,
           "price_usd": 10.8e6, "assumed": ["power_w", "price_usd"], "normalize": "power", "split": "dp75 cp40 mb1",
           "step_time_s": 3.5, "samples_per_s": 6757.0, "relative_samples_per_s": 1.0, "mfu": 0.1,
           "memory_per_device_bytes": 1.415e9, "fits": True, "energy_j_per_sample": 313.8,
           "cost_usd_per_sample": 1.963e-5, "estimate": make_estimate(), "breakdown": {"compute": 3.5}}
    html = _compare_section([row])
    assert "≈ 2.12 MW (assumed)" in html and "≈ $10.8M (assumed)" in html and "≈ $19.63 (assumed)" in html
    assert "1.318 GiB" in html


@pytest.mark.parametrize("args", [
    ["capacity", "--target", "100 EFLOPS", "--dtype", "bf16", "--chips", "d1,a100-80gb-dgx,h100-dgx"],
    ["models", "show", "gpt3-175b"],
])
def test_more_tables_fit_80_columns(args, columns, capsys):
    columns(80)
    check_fits(run(args, capsys), 80)


def test_hbm_in_gib_as_vendors_state_it(columns, capsys):
    columns(120)
    out = run(["show", "a100-80gb-dgx"], capsys)
    assert "HBM/DRAM 80 GiB" in out and "HBM/DRAM 640 GiB" in out  # NVIDIA: 80 GB per GPU, 640 GB per DGX
    out = run(["systems"], capsys)
    row = next(line for line in out.splitlines() if line.startswith("│ a100-80gb-dgx"))
    assert "640 GiB" in row
