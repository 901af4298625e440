"""Fleets: per-part throughput from the search, H100-equivalents, job splits, bad files."""
from __future__ import annotations

import json

import pytest
import yaml

from dojosim.errors import SpecError
from dojosim.plan.fleet import IN_CAR, check_fleet, plan_fleet, share_jobs

WORKLOAD = {"model": "gpt", "set": {"layers": 8, "hidden": 1024, "heads": 16, "seq_len": 1024},
            "global_batch": 64}


def fleet(**kw):
    spec = {"name": "t", "workload": dict(WORKLOAD), "island": 8,
            "parts": [{"name": "H100", "preset": "h100-dgx", "devices": 32},
                      {"name": "A100", "preset": "a100-80gb-dgx", "devices": 20},
                      {"name": "AI4", "preset": "ai4", "devices": 6}],
            "jobs": [{"name": "a", "train": "1e9 tokens"}, {"name": "b", "train": "3e8 tokens"},
                     {"name": "c", "train": "2e8 tokens"}]}
    spec.update(kw)
    return check_fleet(spec)


def test_fleet_parts_add_up_and_h100_equivalents_are_relative_to_one_h100():
    res = plan_fleet(fleet(), workers=1)
    h100, a100, ai4 = res["parts"]
    assert h100["islands"] == 4 and a100["islands"] == 2 and a100["idle_devices"] == 4
    # The reference island is an 8-GPU h100-dgx, the same as the H100 part's: 32 devices = 32 H100-eq.
    assert h100["h100_eq"] == pytest.approx(32)
    assert h100["h100_eq_by_peak"] == pytest.approx(32)
    assert 0 < a100["h100_eq"] < 16
    assert res["total"]["samples_per_s"] == pytest.approx(sum(p["samples_per_s"] for p in res["parts"]))
    assert sum(p["share"] for p in res["parts"]) == pytest.approx(1)
    assert res["total"]["price_usd"] > 0 and res["total"]["power_w"] > 0
    assert IN_CAR in res["notes"]
    assert ai4["island"] == 2  # the in-car computer has no scale-out level


def test_job_split_proportional_and_best_fit():
    parts = [{"name": "x", "samples_per_s": 3.0}, {"name": "y", "samples_per_s": 1.0},
             {"name": "z", "samples_per_s": 0.0}]
    jobs = [{"name": "big", "train": "90 samples"}, {"name": "small", "train": "30 samples"}]
    out = share_jobs(jobs, parts, None)
    assert out["proportional"]["makespan_s"] == pytest.approx(120 / 4)
    assert out["proportional"]["jobs"][0]["samples_by_part"] == pytest.approx({"x": 67.5, "y": 22.5})
    placed = {j["job"]: j["part"] for j in out["best_fit"]["jobs"]}
    # big -> x (30 s); small -> y (30 s) beats x (30 + 10 s)
    assert placed == {"big": "x", "small": "y"}
    assert out["best_fit"]["makespan_s"] == pytest.approx(30)
    with pytest.raises(SpecError, match="tokens"):
        share_jobs([{"train": "5 tokens"}], parts, None)


def test_bad_fleets_name_the_field():
    with pytest.raises(SpecError, match="fleet.parts"):
        check_fleet({"workload": WORKLOAD, "parts": []})
    with pytest.raises(SpecError, match=r"fleet.parts\[0\]"):
        check_fleet({"workload": WORKLOAD, "parts": [{"preset": "h100-dgx", "devices": 8, "count": 1}]})
    with pytest.raises(SpecError, match=r"fleet.parts\[0\].devices"):
        check_fleet({"workload": WORKLOAD, "parts": [{"preset": "h100-dgx", "devices": -8}]})
    with pytest.raises(SpecError, match=r"fleet.jobs\[0\].train"):
        check_fleet({"workload": WORKLOAD, "parts": [{"preset": "h100-dgx", "devices": 8}],
                     "jobs": [{"train": "lots of tokens"}]})


def test_cli_fleet_json_and_one_line_error(tmp_path, capsys):
    from dojosim.cli import main

    spec = fleet(jobs=None)
    spec["parts"] = spec["parts"][:1]
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit) as exc:
        main(["fleet", str(path), "--json", "--workers", "1"])
    assert exc.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["parts"][0]["h100_eq"] == pytest.approx(32)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"workload": WORKLOAD, "parts": [{"preset": "h100-dgx", "device": 8}]}))
    with pytest.raises(SystemExit) as exc:
        main(["fleet", str(bad)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fleet.parts[0].device" in err[0]
