"""Sweeps through the real engine: system overrides reach the estimate, per-point errors are
stored, and `evaluate: search` records the best split per point."""
from __future__ import annotations

import pytest

from dojosim.errors import SpecError
from dojosim.plan import sweep as sw

BASE = {"workload": {"model": "gpt", "layers": 8, "hidden": 1024, "heads": 16, "seq_len": 1024},
        "system": {"preset": "dojo-tile"},
        "strategy": {"dp": 25, "global_batch": 100, "micro_batch": 1, "recompute": "full", "zero": 3}}


def test_overrides_reach_the_engine(tmp_path):
    spec = {"base": BASE, "grid": {"system.levels[tile].link_bandwidth": ["0.25 TB/s", "4 TB/s"],
                                   "system.levels[tile].memory_pools[0].capacity_bytes": ["8 GB", "64 GB"]}}
    sw.run_sweep(spec, tmp_path / "r", workers=1)
    df = sw.load_results(tmp_path / "r")
    assert len(df) == 4 and df["error"].isna().all()
    bw = "param.system.levels[tile].link_bandwidth"
    hbm = "param.system.levels[tile].memory_pools[0].capacity_bytes"
    assert sorted(df[bw].unique()) == [0.25e12, 4e12]  # stored in SI
    for size in (8e9, 64e9):
        slow = df[(df[bw] == 0.25e12) & (df[hbm] == size)]["step_time_s"].item()
        fast = df[(df[bw] == 4e12) & (df[hbm] == size)]["step_time_s"].item()
        assert fast < slow  # ZeRO-3 gathers cross the tile mesh: faster links, shorter steps


def test_a_bad_point_is_that_points_error(tmp_path):
    spec = {"base": BASE, "grid": {"strategy.dp": [25, 7]}}
    stats = sw.run_sweep(spec, tmp_path / "r", workers=1)
    df = sw.load_results(tmp_path / "r")
    assert stats["errors"] == 1
    bad = df[df["param.strategy.dp"] == 7]
    assert "strategy.dp" in bad["error"].item() and bad["step_time_s"].isna().all()
    assert df[df["param.strategy.dp"] == 25]["error"].isna().all()


def test_evaluate_search_records_the_best_split(tmp_path):
    base = dict(BASE, system={"preset": "h100-dgx", "devices": 8}, strategy={"global_batch": 16})
    spec = {"base": base, "evaluate": "search", "constraints": {"orders": "default"},
            "grid": {"workload.layers": [4, 8]}}
    sw.run_sweep(spec, tmp_path / "r", workers=1)
    df = sw.load_results(tmp_path / "r")
    assert len(df) == 2 and df["error"].isna().all()
    assert (df["best.dp"] * df["best.tp"] * df["best.pp"] * df["best.cp"] == 8).all()
    assert all(split.startswith("dp" if dp > 1 else "") for split, dp in zip(df["best.split"], df["best.dp"]))
    deeper, shallower = df.sort_values("param.workload.layers", ascending=False)["step_time_s"]
    assert deeper > shallower
    with pytest.raises(SpecError, match="sweep.evaluate"):
        sw.check_sweep({"base": base, "evaluate": "guess", "grid": {"workload.layers": [4]}})
