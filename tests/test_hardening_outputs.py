"""Hardening: safe output writing, one-line usage errors, sweep evaluators by name only, the
store lock under 20 simultaneous sweeps, and pool workers that die with their parent (issue 13,
kinds 1, 2, 3, 6, 7, 8, 10)."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import one_line_error
from dojosim import outfile
from dojosim.errors import SpecError

RUN = {"workload": {"model": "gpt", "layers": 4, "hidden": 512, "heads": 8, "seq_len": 256},
       "system": {"preset": "dojo-tile"},
       "strategy": {"dp": 25, "global_batch": 25, "micro_batch": 1}}


@pytest.fixture
def run_file(tmp_path) -> Path:
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump(RUN))
    return p


# ---------------------------------------------------------------- the safe writer
def test_writer_refuses_symlinks_and_existing_files_unless_forced(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    with pytest.raises(SpecError, match="symbolic link"):
        outfile.write_text(link, "x")
    with pytest.raises(SpecError, match="exists; pass --force"):
        outfile.write_text(target, "x")
    assert target.read_text() == "keep me"
    assert outfile.write_text(link, "forced", force=True) == target
    assert target.read_text() == "forced" and link.is_symlink()
    assert outfile.write_text(target, "again", force=True) == target and target.read_text() == "again"


def test_writer_overwrites_in_its_own_output_directory(tmp_path):
    d = outfile.make_output_dir(tmp_path / "plots")
    assert outfile.is_own_dir(d) and not outfile.is_own_dir(tmp_path)
    outfile.write_text(d / "a.svg", "one")
    outfile.write_text(d / "a.svg", "two")  # a rerun replaces its own files
    assert (d / "a.svg").read_text() == "two"


def test_writer_is_atomic_on_a_failed_write(tmp_path, monkeypatch):
    target = tmp_path / "r.html"
    target.write_text("old")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(SpecError, match="No space left"):
        outfile.write_text(target, "new" * 1000, force=True)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left behind


def test_writer_refuses_directories_devices_and_bad_suffixes(tmp_path):
    with pytest.raises(SpecError, match="is a directory"):
        outfile.check_output(tmp_path)
    with pytest.raises(SpecError, match="not a regular file"):
        outfile.check_output("/dev/full", force=True)
    with pytest.raises(SpecError, match=r"must end in \.png or \.svg"):
        outfile.check_output(tmp_path / "g.txt", suffixes=(".png", ".svg"))
    (tmp_path / "f").write_text("")
    with pytest.raises(SpecError, match="not a directory"):
        outfile.check_output(tmp_path / "f" / "x.json")
    with pytest.raises(SpecError, match="not a directory"):
        outfile.check_output_dir(tmp_path / "f")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_writer_refuses_a_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(SpecError, match="not writable"):
            outfile.check_output(ro / "r.html")
    finally:
        ro.chmod(0o755)


def test_cli_output_paths_are_checked_before_any_work(tmp_path, run_file, cli, monkeypatch):
    import dojosim.engine

    def no_work(*a, **k):
        raise AssertionError("estimated before checking the output path")

    monkeypatch.setattr(dojosim.engine, "estimate", no_work)
    (tmp_path / "report.html").write_text("mine")
    (tmp_path / "p").write_text("a file, not a directory")
    cases = [(["report", run_file, "-o", tmp_path / "report.html"], "exists; pass --force"),
             (["report", run_file, "-o", tmp_path], "is a directory"),
             (["report", run_file, "-o", "/dev/full"], "not a regular file"),
             (["trace", run_file, "-o", tmp_path / "t.json", "--gantt", tmp_path / "g.txt"], "--gantt"),
             (["estimate", run_file, "--plot", tmp_path / "p"], "--plot"),
             (["numerics", "--out", tmp_path / "p"], "--out")]
    for args, words in cases:
        code, _, err = cli(*args)
        assert one_line_error(code, err, words), (args, err)
    assert (tmp_path / "report.html").read_text() == "mine"
    assert not (tmp_path / "g.png").exists() and not (tmp_path / "t.json").exists()


def test_cli_trace_through_a_symlink_needs_force(tmp_path, run_file, cli):
    target = tmp_path / "target.json"
    target.write_text("{}")
    (tmp_path / "step.json").symlink_to(target)
    code, _, err = cli("trace", run_file, "-o", tmp_path / "step.json")
    assert one_line_error(code, err, "symbolic link") and target.read_text() == "{}"
    code, _, err = cli("trace", run_file, "-o", tmp_path / "step.json", "--force", "--gantt", tmp_path / "g.svg")
    assert code == 0, err
    assert target.read_text().startswith('{"traceEvents"') and (tmp_path / "g.svg").exists()


# ---------------------------------------------------------------- usage errors
@pytest.mark.parametrize("args, words", [
    (["search", "--model", "gpt", "--system", "dojo-tile", "--global-batch", "25", "--devices", "abc"],
     ["--devices"]),
    (["trace"], ["Missing argument"]),
    (["estimate"], ["RUN", "missing"]),  # estimate takes a run file or flags (issue 14)
    (["no-such-command"], ["No such command"]),
    (["compare", "--bogus"], ["No such option"]),
])
def test_usage_errors_are_one_line_exit_2(cli, args, words):
    code, _, err = cli(*args)
    assert one_line_error(code, err, *words), err


# ---------------------------------------------------------------- no file runs code
def test_a_sweep_file_cannot_name_a_module_to_import(tmp_path, cli, monkeypatch):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.py").write_text(f"def f(params, spec):\n    open({str(marker)!r}, 'w').write('x')\n    return {{}}\n"
                                      f"open({str(marker)!r}, 'w').write('imported')\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"evaluator": "evil:f", "grid": {"workload.layers": [1, 2]}}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = cli("sweep", spec, "--out", tmp_path / "o")
    assert one_line_error(code, err, "sweep.evaluator", "unknown evaluator 'evil:f'")
    assert not marker.exists() and not (tmp_path / "o").exists()


def test_python_api_takes_an_evaluator_function(tmp_path):
    from dojosim.plan.sweep import load_results, run_sweep

    spec = {"grid": {"workload.layers": [1, 2, 3]}}
    stats = run_sweep(spec, tmp_path / "o", workers=1, evaluator=_double_layers)
    assert stats["written"] == 3 and stats["errors"] == 0
    assert sorted(load_results(tmp_path / "o")["double"]) == [2, 4, 6]
    with pytest.raises(SpecError, match="evaluator"):
        run_sweep(spec, tmp_path / "p", evaluator="dojosim.plan.sweep:echo_evaluator")


def _double_layers(params, spec):
    return {"double": 2 * params["workload.layers"]}


# ---------------------------------------------------------------- one writer per store
def _sweep_in_child(barrier, spec, out, result):
    """A CLI sweep in a forked process, started at the same moment as its siblings."""
    import io

    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    from dojosim.cli import main

    barrier.wait()
    try:
        main(["sweep", spec, "--out", out, "--workers", "1"])
        code = 0
    except SystemExit as exc:
        code = exc.code
    result.put((code, sys.stderr.getvalue()))


def test_twenty_simultaneous_sweeps_give_one_store_of_unique_rows(tmp_path):
    from dojosim.plan.sweep import load_results

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"evaluator": "echo", "base": {"echo_sleep_s": 0.002},
                                    "grid": {"workload.layers": list(range(40)), "workload.hidden": [1, 2, 3]}}))
    out = tmp_path / "fresh"
    ctx = mp.get_context("fork")
    n = 20
    barrier, result = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_sweep_in_child, args=(barrier, str(spec), str(out), result)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [result.get(timeout=120) for _ in range(n)]
    for p in procs:
        p.join(timeout=30)
    wins = [o for o in outcomes if o[0] == 0]
    losses = [o for o in outcomes if o[0] != 0]
    assert len(wins) == 1, outcomes
    for code, err in losses:
        assert one_line_error(code, err, "out:"), err
        assert "another sweep" in err or "already holds results" in err
    df = load_results(out)
    assert len(df) == 120 and df["key"].is_unique


# ---------------------------------------------------------------- no orphans
def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's reaping is missing


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_kill_9_of_a_sweep_leaves_no_worker_alive(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"evaluator": "echo", "base": {"echo_sleep_s": 0.05},
                                    "grid": {"workload.layers": list(range(400))}}))
    code = ("import sys; from dojosim.plan.sweep import run_sweep; "
            "run_sweep(sys.argv[1], sys.argv[2], workers=2, chunk=1)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(spec), str(tmp_path / "o")])
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.2)
            workers = _children(proc.pid)
        assert len(workers) >= 2, "the pool never started"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(5)
    assert [w for w in workers if _alive(w)] == []
