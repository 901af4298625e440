"""Design sweeps: points, keys, the Parquet store, resume after kill -9, local and Ray executors."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import yaml

from dojosim.errors import SpecError
from dojosim.plan import sweep as sw
from dojosim.plan.store import Store

ECHO = "echo"


def echo_spec(n_a=10, n_b=10, samples=None, sleep=0.0):
    spec = {"name": "echo", "evaluator": ECHO, "base": {"echo_sleep_s": sleep},
            "grid": {"workload.layers": list(range(n_a)), "system.chip.dram_bytes": [f"{i + 1} GiB" for i in range(n_b)]}}
    if samples:
        spec["random"] = {"samples": samples, "seed": 3,
                          "params": {"strategy.micro_batch": {"choice": [1, 2, 4]},
                                     "system.levels[0].link_bandwidth": {"uniform": ["1 TB/s", "2 TB/s"]}}}
    return spec


def rows_of(path):
    df = sw.load_results(path)
    return sorted(zip(df["key"], df["value"]))


def test_points_are_reproducible_and_keys_stable():
    spec = echo_spec(3, 4, samples=5)
    a, b = sw.points(spec), sw.points(spec)
    assert a == b and len(a) == 3 * 4 * 5
    assert len({k for _, k, _ in a}) == len(a)
    assert sw.point_key({"x": 1, "y": 2}) == sw.point_key({"y": 2, "x": 1})
    draws = [p["system.levels[0].link_bandwidth"] for _, _, p in a]
    assert all(1e12 <= d <= 2e12 for d in draws)


def test_bad_sweeps_name_the_field():
    with pytest.raises(SpecError, match="sweep.grid.hardware.x"):
        sw.check_sweep({"grid": {"hardware.x": [1]}})
    with pytest.raises(SpecError, match="sweep.random.samples"):
        sw.check_sweep({"random": {"samples": 0, "params": {"workload.layers": {"int": [1, 2]}}}})
    with pytest.raises(SpecError, match="sweep.random.params.workload.layers"):
        sw.check_sweep({"random": {"samples": 2, "params": {"workload.layers": {"normal": [1, 2]}}}})
    with pytest.raises(SpecError, match="sweep.evaluator"):
        sw.check_sweep({"grid": {"workload.layers": [1]}, "evaluator": "nope.nothing:fn"})
    with pytest.raises(SpecError, match="sweep.bogus"):
        sw.check_sweep({"grid": {"workload.layers": [1]}, "bogus": 1})


def test_sweep_writes_every_point_once_and_resume_adds_nothing(tmp_path):
    spec = echo_spec(6, 5)
    stats = sw.run_sweep(spec, tmp_path / "r", workers=1, flush_rows=7, chunk=4)
    assert stats["written"] == 30 and stats["skipped"] == 0
    assert len(Store(tmp_path / "r").parts()) == 4  # chunks of 4 rows, flushed at >= 7: 8+8+8+6
    df = sw.load_results(tmp_path / "r")
    assert list(df["index"]) == list(range(30))
    assert df["key"].is_unique
    again = sw.run_sweep(spec, tmp_path / "r", workers=1, resume=True)
    assert again["skipped"] == 30 and again["written"] == 0
    with pytest.raises(SpecError, match="--resume"):
        sw.run_sweep(spec, tmp_path / "r", workers=1)
    with pytest.raises(SpecError, match="different sweep"):
        sw.run_sweep(echo_spec(2, 2), tmp_path / "r", workers=1, resume=True)
    assert sw.run_sweep(spec, tmp_path / "r", workers=1, resume=True)["written"] == 0  # lock released


def test_a_live_writer_locks_the_directory_and_a_dead_one_does_not(tmp_path):
    spec = sw.check_sweep(echo_spec(2, 2))
    (tmp_path / "r").mkdir()
    hold = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode()); "
            "print('locked', flush=True); time.sleep(30)")
    live = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path / "r" / "writer.lock")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "locked"
        with pytest.raises(SpecError, match=f"another sweep \\(process {live.pid}\\)"):
            sw.run_sweep(spec, tmp_path / "r", workers=1)
    finally:
        live.kill()
        live.wait()
    assert sw.run_sweep(spec, tmp_path / "r", workers=1)["written"] == 4  # the dead writer's lock is gone


def test_half_written_chunks_are_ignored_and_recomputed(tmp_path):
    """A temp file left by a crash mid-write holds no done rows; resume rewrites them once."""
    spec = sw.check_sweep(echo_spec(4, 5))
    full = sw.run_sweep(spec, tmp_path / "full", workers=1)
    assert full["written"] == 20
    store = Store(tmp_path / "cut")
    store.open(sw.spec_hash(spec), spec, resume=False)
    rows = sw._eval_chunk(sw.points(spec)[:8], spec)
    store.append(rows[:5])
    (tmp_path / "cut" / ".tmp-part-000001-dead.parquet").write_bytes(b"PAR1 half a file")
    store.close()  # as a killed writer's lock is (the kernel drops it)
    sw.run_sweep(spec, tmp_path / "cut", workers=1, resume=True)
    assert not list((tmp_path / "cut").glob(".tmp-*"))
    assert rows_of(tmp_path / "cut") == rows_of(tmp_path / "full")


def test_pool_executor_matches_serial(tmp_path):
    spec = echo_spec(5, 6, samples=2)
    sw.run_sweep(spec, tmp_path / "a", workers=1)
    sw.run_sweep(spec, tmp_path / "b", workers=2, chunk=5)
    assert rows_of(tmp_path / "a") == rows_of(tmp_path / "b")


def test_kill_9_mid_sweep_then_resume_gives_exactly_the_uninterrupted_rows(tmp_path):
    spec = echo_spec(20, 20, sleep=0.004)  # 400 points, ~1.6 s of work
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-c", "from dojosim.plan.sweep import run_sweep; import sys; "
           "run_sweep(sys.argv[1], sys.argv[2], workers=1, flush_rows=16, flush_s=0.2, chunk=4)",
           str(spec_path), str(out)]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("part-*.parquet"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(sw.load_results(out))
    assert 0 < partial < 400, "the kill should land mid-sweep"
    stats = sw.run_sweep(spec_path, out, workers=1, resume=True)
    assert stats["skipped"] == partial and stats["written"] == 400 - partial
    sw.run_sweep(spec_path, tmp_path / "clean", workers=1)
    df = sw.load_results(out)
    assert df["key"].is_unique and len(df) == 400
    assert rows_of(out) == rows_of(tmp_path / "clean")


def test_ray_executor_runs_a_small_sweep(tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        spec = echo_spec(3, 4)
        stats = sw.run_sweep(spec, tmp_path / "ray", executor="ray", workers=1, chunk=3)
        assert stats["written"] == 12
        sw.run_sweep(spec, tmp_path / "local", workers=1)
        assert rows_of(tmp_path / "ray") == rows_of(tmp_path / "local")
    finally:
        if started_here:
            ray.shutdown()


def test_system_overrides_change_the_system():
    from dojosim.hardware import load_system
    from dojosim.plan.overrides import apply_system_overrides

    base = load_system("h100-dgx")
    new = apply_system_overrides(base, {"levels[0].link_bandwidth": "900 GB/s", "chip.dram_bytes": "160 GB",
                                        "chip.peak_flops.bf16": "2 PFLOPS"})
    assert new.levels[0].link_bandwidth == pytest.approx(900e9)
    assert new.chip.dram_bytes == pytest.approx(160e9)
    assert new.chip.peak_flops["bf16"] == pytest.approx(2e15)
    assert base.chip.dram_bytes != new.chip.dram_bytes
    by_name = apply_system_overrides(base, {f"levels[{base.levels[0].name}].latency_s": "3 us"})
    assert by_name.levels[0].latency_s == pytest.approx(3e-6)
    with pytest.raises(SpecError, match="system.chip.hbm"):
        apply_system_overrides(base, {"chip.hbm": 1})
    with pytest.raises(SpecError, match="system.levels\\[9\\]"):
        apply_system_overrides(base, {"levels[9].children": 2})
    with pytest.raises(SpecError, match="system.chip.dram_bytes"):
        apply_system_overrides(base, {"chip.dram_bytes": "fast"})


def test_cli_sweep_and_bad_file(tmp_path, capsys, monkeypatch):
    from dojosim.cli import main

    monkeypatch.chdir(tmp_path)
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(yaml.safe_dump(echo_spec(2, 3)))
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(spec_path), "--workers", "1", "--json"])
    assert exc.value.code in (0, None)
    assert '"written": 6' in capsys.readouterr().out
    assert len(sw.load_results(tmp_path / "out" / "sweeps" / "s")) == 6
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"grid": {"model.layers": [1]}}))
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(bad)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sweep.grid.model.layers" in err[0]
