"""The HTML report: one self-contained file that renders in headless Chromium without console errors."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dojosim.report.html import render_report, write_report
from test_compare import run_cli
from test_report_fixtures import make_estimate

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

RUN_YAML = """\
workload: {model: gpt, layers: 8, hidden: 1024, heads: 16, kv_heads: 16, ffn: 4096, vocab: 32000, seq_len: 1024}
system: {preset: a100-80gb-dgx, devices: 16}
strategy: {dp: 4, tp: 2, pp: 2, interleave: 2, micro_batch: 2, global_batch: 64, recompute: selective,
           zero: 1, precision: bf16}
"""


def _rows():
    e = make_estimate()
    return [{"system": "dojo-tile", "label": "dojo-tile x25", "devices": 25, "power_w": 15e3, "normalize": "power",
             "split": "dp25", "step_time_s": 1.0, "samples_per_s": 2.0, "relative_samples_per_s": 1.0, "mfu": 0.3,
             "memory_per_device_bytes": 1e9, "fits": True, "energy_j_per_sample": 3.0,
             "cost_usd_per_sample": 1e-3, "estimate": e},
            {"system": "h100-dgx", "label": "h100-dgx x8", "devices": 8, "power_w": 10.2e3, "normalize": "power",
             "error": "strategy: nothing <fits>"}]


def test_report_is_self_contained():
    doc = render_report(make_estimate(), compare_rows=_rows(), notes=["a note"], run={"workload": {"model": "x"}})
    assert doc.startswith("<!DOCTYPE html>")
    # Nothing is fetched: no external src/href, no @import or url() to the network.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", doc)
    assert "@import" not in doc and "url(http" not in doc
    imgs = re.findall(r'<img alt="([^"]*)" src="data:image/svg\+xml;base64,', doc)
    assert len(imgs) >= 5, imgs  # breakdown, Gantt, memory, op times, comparison
    for section in ("Estimate", "Where the step time goes", "Predicted timeline", "Memory per device",
                    "The same workload on other systems", "Notes and assumptions"):
        assert f">{section}" in doc
    assert "nothing &lt;fits&gt;" in doc  # user text is escaped


def _chromium(html_path: Path, tmp_path: Path) -> tuple[str, str]:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr",
           "--v=0", "--dump-dom", html_path.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def console_messages(stderr: str) -> list[str]:
    """Console output of the page (Chromium logs it as ``INFO:CONSOLE...] "msg", source: ...``)."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (CI installs Debian's chromium)")
def test_report_renders_in_chromium_without_console_errors(tmp_path):
    run = tmp_path / "run.yaml"
    run.write_text(RUN_YAML)
    out = tmp_path / "report.html"
    run_cli(["report", str(run), "-o", str(out), "--systems", "h100-dgx", "--json"])
    dom, stderr = _chromium(out, tmp_path)
    assert console_messages(stderr) == []
    # The page's own check ran after load and found every inline figure decoded.
    assert 'data-figures="ok"' in dom
    assert "Predicted timeline of one step" in dom


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (CI installs Debian's chromium)")
def test_browser_check_catches_a_broken_figure(tmp_path):
    # The positive control: a report whose figure is corrupt must show up as a console error.
    doc = render_report(make_estimate())
    doc = re.sub(r'src="data:image/svg\+xml;base64,[^"]{40}', 'src="data:image/svg+xml;base64,AAAA', doc, count=1)
    bad = tmp_path / "bad.html"
    bad.write_text(doc)
    dom, stderr = _chromium(bad, tmp_path)
    assert any("figures failed to render" in m for m in console_messages(stderr))
    assert 'data-figures="broken"' in dom


def test_write_report(tmp_path):
    p = write_report(make_estimate(p=1, m=2), tmp_path / "sub" / "r.html")
    assert p.exists() and p.stat().st_size > 10_000


def test_cli_trace_and_report(tmp_path, capsys):
    from test_trace import check_trace_format

    run = tmp_path / "run.yaml"
    run.write_text(RUN_YAML)
    run_cli(["trace", str(run), "-o", str(tmp_path / "step.json"), "--gantt", str(tmp_path / "g.svg"), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["pipeline_stages"] == 2 and summary["interleave"] == 2
    doc = json.loads((tmp_path / "step.json").read_text())
    tracks = check_trace_format(doc)
    names = {n for k, evs in tracks.items() if k != "_procs" for _, _, n in evs}
    assert "attn.qkv" in names or any(n.startswith("attn") for n in names), "ops named after modules"
    assert (tmp_path / "g.svg").exists()
    run_cli(["report", str(run), "-o", str(tmp_path / "r.html"), "--no-compare"])
    assert "wrote" in capsys.readouterr().out and (tmp_path / "r.html").exists()


def test_cli_trace_missing_run_is_one_line(tmp_path, capsys):
    from dojosim.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["trace", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "x.json")])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_report_carries_the_trace_as_a_download():
    import base64

    from test_trace import check_trace_format

    doc = render_report(make_estimate(p=2, m=4))
    m = re.search(r'<a download="step.json" href="data:application/json;base64,([^"]+)"', doc)
    assert m, "trace link missing"
    check_trace_format(json.loads(base64.b64decode(m.group(1))))


def test_report_carries_a_cloud_section(tmp_path, capsys):
    """`report --cloud N` adds the cloud section: many tenants' jobs on the run's own system."""
    run = tmp_path / "run.yaml"
    run.write_text(RUN_YAML)
    out = tmp_path / "r.html"
    run_cli(["report", str(run), "-o", str(out), "--no-compare", "--no-sensitivity", "--cloud", "40"])
    page = out.read_text()
    assert "Many tenants on one machine" in page and "a100-80gb-dgx" in page
    assert "wrote" in capsys.readouterr().out


def test_report_cloud_count_is_checked_first(tmp_path, capsys):
    from dojosim.cli import main

    run = tmp_path / "run.yaml"
    run.write_text(RUN_YAML)
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run), "-o", str(tmp_path / "r.html"), "--no-compare", "--cloud", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--cloud" in err[0]
    assert not (tmp_path / "r.html").exists()
