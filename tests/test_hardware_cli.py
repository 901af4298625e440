"""The hardware CLI: systems, show, capacity; and the corpus of bad specs, each one clean line."""
import json
import re
from pathlib import Path

import pytest

from dojosim.cli import main

BAD = Path(__file__).parent / "bad_specs"


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_.value.code or 0, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def _header(path: Path, key: str) -> str | None:
    for line in path.read_text().splitlines():
        m = re.match(rf"#\s*{key}:\s*(.*)$", line)
        if m:
            return m.group(1).strip()
    return None


BAD_FILES = sorted(BAD.glob("*.yaml"))


def test_corpus_is_big_enough():
    assert len(BAD_FILES) >= 20


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_bad_spec_gives_one_line_error(capsys, path):
    expect = _header(path, "expect")
    assert expect, f"{path.name} lacks its '# expect: field.path' line"
    args = (_header(path, "args") or "").split()
    code, out, err = run(capsys, "show", str(path), *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {expect}: "), lines[0]
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("argv,expect,hint", [
    (["show", "dojo-exapd"], "system", "dojo-exapod"),
    (["show", "h100-dgx", "--devices", "12"], "devices", "8"),
    (["show", "h100-dgx", "--devices", "0"], "devices", "positive"),
    (["show", "does/not/exist.yaml"], "system", "no such file"),
    (["capacity", "--target", "100 EFLOP", "--chips", "d1"], "target", "flops"),
    (["capacity", "--target", "100 EFLOPS", "--chips", "d1,h100dgx"], "system", "h100-dgx"),
    (["capacity", "--target", "100 EFLOPS", "--chips", "ai4"], "chips", "int8"),
    (["capacity", "--chips", "d1"], "target", "missing"),
    (["capacity", "--workload", "run.yaml"], "train", "together"),
])
def test_cli_mistakes(capsys, argv, expect, hint):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {expect}: ") and hint in lines[0], err


def test_systems_lists_every_preset(capsys):
    from dojosim.hardware import list_presets

    rows = run_json(capsys, "systems")
    assert [r["name"] for r in rows] == list_presets()
    code, out, _ = run(capsys, "systems")
    assert code == 0 and "dojo-exapod" in out


def test_show_dojo_tile_json(capsys):
    t = run_json(capsys, "show", "dojo-tile")
    assert t["chips"] == 25
    assert t["peak_flops"]["bf16"] == pytest.approx(9.05e15, rel=1e-3)
    assert t["sram_bytes"] == pytest.approx(11e9, rel=0.01)
    assert t["levels"][0]["egress_bandwidth"] == pytest.approx(36e12)
    assert t["sources"]["chip.peak_flops.bf16"]["text"]


def test_show_dojo_exapod_json(capsys):
    t = run_json(capsys, "show", "dojo-exapod")
    assert t["chips"] == 3000
    assert t["peak_flops"]["bf16"] == pytest.approx(1.086e18, rel=1e-3)
    assert t["sram_bytes"] == pytest.approx(1.32e12, rel=0.01)
    assert t["dram_bytes"] == pytest.approx(13e12, rel=0.03)


def test_show_h100_1024(capsys):
    t = run_json(capsys, "show", "h100-dgx", "--devices", "1024")
    assert t["chips"] == 1024 and t["peak_flops"]["bf16"] == pytest.approx(1.013e18, rel=1e-3)


def test_show_tree_marks_assumed_figures(capsys):
    code, out, _ = run(capsys, "show", "dojo-exapod")
    assert code == 0
    assert "exapod" in out and "tray" in out and "tile" in out and "chip D1" in out
    assert "≈ 1.3" in out and "[1 us – 5 us] (assumed)" in out   # TTPoE latency is a weak source
    assert "bf16 362 TFLOP/s" in out and "fp16 ≈ 362 TFLOP/s [181 TFLOP/s" in out  # bf16 published, fp16 assumed
    code, out, _ = run(capsys, "show", "ai4", "--sources")
    assert code == 0 and "[50 TFLOP/s – 500 TFLOP/s]" in out and "datashian" in out


def test_show_user_file(capsys, tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\nchip: d1\nlevels:\n  - {name: row, children: 4, topology: {kind: ring},"
                 " link_bandwidth: '2 TB/s', latency_s: '100 ns'}\n")
    t = run_json(capsys, "show", str(f))
    assert t["chips"] == 4 and t["peak_flops"]["bf16"] == pytest.approx(4 * 362e12)


def test_capacity_100_eflops(capsys):
    rows = run_json(capsys, "capacity", "--target", "100 EFLOPS", "--dtype", "bf16", "--chips", "d1,a100-80gb-dgx,h100-dgx")
    by = {r["system"]: r for r in rows}
    assert by["d1"]["chips"] == 276_244           # seed article: ~276,000 D1
    assert by["a100-80gb-dgx"]["chips"] == 320_513  # seed article: ~320,500 A100
    assert by["h100-dgx"]["chips"] == 101_072
    assert by["d1"]["racks"] == 921 and by["d1"]["rack"] == "cabinet"
    for r in rows:
        assert r["power_w"] > 0 and r["price_usd"] > 0
        assert r["peak_flops"] >= 100e18
        assert r["chips_installed"] >= r["chips"]
    code, out, _ = run(capsys, "capacity", "--target", "100 EFLOPS", "--chips", "d1,h100-dgx")
    assert code == 0 and "276,244" in out


def test_capacity_workload_delegates(capsys, monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("dojosim.plan.capacity")
    fake.capacity_by_workload = lambda run_path, train, systems, **kw: calls.append((run_path, train, systems)) or [
        {"system": s, "chips": 1000, "power_w": 1.0, "price_usd": 2.0} for s in systems]
    monkeypatch.setitem(sys.modules, "dojosim.plan.capacity", fake)
    import dojosim.plan as plan_pkg
    monkeypatch.setattr(plan_pkg, "capacity", fake, raising=False)
    rows = run_json(capsys, "capacity", "--workload", "run.yaml", "--train", "1e6 clips in 1 day",
                    "--systems", "d1,h100-dgx")
    assert calls == [("run.yaml", "1e6 clips in 1 day", ["d1", "h100-dgx"])]
    assert [r["system"] for r in rows] == ["d1", "h100-dgx"]
