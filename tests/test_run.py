"""Run and case files: the format of docs/validation.md."""
from pathlib import Path

import pytest

from dojosim import Strategy, load_run
from dojosim.cli import main
from dojosim.errors import SpecError
from dojosim.run import load_cases

# The published cases, read from this repository (they ship as package data).
CASES = Path(__file__).resolve().parents[1] / "src" / "dojosim" / "validation" / "cases.yaml"

RUN = {
    "workload": {"model": "gpt", "layers": 4, "hidden": 512, "heads": 8, "seq_len": 256, "vocab": 1000,
                 "experts": None, "image_size": None},
    "system": {"preset": "a100-80gb-dgx", "devices": 16},
    "strategy": {"dp": 4, "tp": 2, "pp": 2, "micro_batch": 1, "global_batch": 32, "recompute": "selective",
                 "zero": 1, "precision": "bf16", "interleave": 1, "cp": 1, "ep": 1, "sequence_parallel": True},
}


def test_load_run_from_dict_builds_the_three_pieces():
    r = load_run(RUN)
    assert r.system.chips == 16
    assert r.model.layers == 4 and r.model.hidden == 512
    assert isinstance(r.strategy, Strategy) and r.strategy.tp == 2 and r.strategy.sequence_parallel
    assert r.raw is RUN


def test_load_run_from_file(tmp_path):
    import yaml

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(RUN))
    assert load_run(path).strategy.global_batch == 32


@pytest.mark.parametrize("mutate,path", [
    (lambda d: d.pop("system"), "system"),
    (lambda d: d["system"].update(preset="no-such-gpu"), "system"),
    (lambda d: d["system"].update(devices=0), "system.devices"),
    (lambda d: d["strategy"].update(recompute="sometimes"), "strategy.recompute"),
    (lambda d: d["strategy"].update(bogus=1), "strategy.bogus"),
    (lambda d: d["workload"].update(model="no-such-net"), "workload"),
])
def test_bad_runs_name_the_field(mutate, path):
    import copy

    data = copy.deepcopy(RUN)
    mutate(data)
    with pytest.raises(SpecError) as err:
        load_run(data)
    assert err.value.path.startswith(path)


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError):
        load_run(tmp_path / "nope.yaml")


def test_cli_bad_run_prints_one_line_and_exits_2(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("workload: {model: gpt}\nsystem: {preset: a100-80gb-dgx, devices: 8}\n"
                    "strategy: {dp: 3, global_batch: 6}\n")
    with pytest.raises(SystemExit) as done:
        main(["estimate", str(path)])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "strategy.dp" in err


def test_cli_estimate_json_keys(tmp_path, capsys):
    import json

    import yaml

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(RUN))
    with pytest.raises(SystemExit) as done:
        main(["estimate", str(path), "--json"])
    assert done.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    for key in ("step_time_s", "samples_per_s", "tokens_per_s", "model_flops_per_step",
                "hardware_flops_per_step", "mfu", "hfu", "memory", "energy_j_per_step", "breakdown"):
        assert key in out
    assert set(out["memory"]) >= {"per_device_bytes", "capacity_bytes", "fits"}
    assert sum(out["breakdown"].values()) == pytest.approx(out["step_time_s"])


def test_load_cases_reads_every_published_case():
    cases = load_cases(CASES)
    assert len(cases) >= 41
    assert len({c.id for c in cases}) == len(cases)
    for c in cases:
        assert c.step_time_s and c.step_time_s > 0
        assert c.metric


def test_load_cases_rejects_duplicates_and_bad_metrics():
    with pytest.raises(SpecError):
        load_cases([{"id": "a", **RUN}, {"id": "a", **RUN}])
    with pytest.raises(SpecError) as err:
        load_cases([{"id": "a", **RUN, "measured": {"metric": "speed", "value": 1}}])
    assert "metric" in err.value.path
