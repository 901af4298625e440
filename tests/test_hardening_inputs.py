"""Hardening: limits before work, finite estimates, strict sweep and fleet files, escaped names,
the public API's one error family, and a private Ray (issue 13, kinds 4, 5, 6, 7, 9, 11)."""
from __future__ import annotations

import math
import os
import sys
import time
import types

import pytest
import yaml

import dojosim
from conftest import one_line_error
from dojosim.errors import NotFiniteError, SpecError

RUN = {"workload": {"model": "gpt", "layers": 4, "hidden": 512, "heads": 8, "seq_len": 256},
       "system": {"preset": "dojo-tile"},
       "strategy": {"dp": 25, "global_batch": 25, "micro_batch": 1}}
SYSTEM = {"name": "my-cluster", "chip": "h100-dgx",
          "levels": [{"name": "node", "children": 4, "topology": {"kind": "ring"},
                      "link_bandwidth": "100 GB/s", "latency_s": "2 us"}]}


def write(tmp_path, name, data) -> str:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(p)


@pytest.fixture(scope="module")
def small():
    model = dojosim.build("gpt", layers=4, hidden=512, heads=8, seq_len=256)
    return model, dojosim.load_system("dojo-tile"), dojosim.Strategy(dp=25, global_batch=25, micro_batch=1)


# ---------------------------------------------------------------- NaN and inf are never answers
@pytest.mark.parametrize("field, value", [("levels[0].link_bandwidth", 5e-324),
                                          ("chip.peak_flops.bf16", 1e-308),
                                          ("levels[0].latency_s", 1e308)])
def test_extreme_figures_give_an_error_naming_them(small, field, value):
    from dojosim.plan.overrides import apply_system_overrides

    model, system, strategy = small
    with pytest.raises(NotFiniteError, match=r"estimate\..*" + field.replace("[", r"\[").replace("]", r"\]")):
        dojosim.estimate(model, apply_system_overrides(system, {field: value}), strategy)


def test_cli_estimate_with_a_denormal_link_is_one_line(tmp_path, cli):
    sysfile = write(tmp_path, "sys.yaml", {**SYSTEM, "levels": [{**SYSTEM["levels"][0],
                                                                 "link_bandwidth": "5e-324 B/s"}]})
    run = {"workload": RUN["workload"], "system": {"path": sysfile},
           "strategy": {"dp": 4, "global_batch": 4, "micro_batch": 1}}
    code, out, err = cli("estimate", write(tmp_path, "r.yaml", run))
    assert one_line_error(code, err, "estimate.", "link_bandwidth"), err
    assert "nan" not in out.lower()


def test_capacity_of_a_tiny_target_is_one_chip(cli):
    import json

    code, out, err = cli("capacity", "--target", "5e-324 FLOPS", "--chips", "d1", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["chips"] == 1
    code, out, err = cli("capacity", "--target", "1e300 FLOPS", "--chips", "d1")
    assert one_line_error(code, err, "target", "chips"), err


def test_sweep_rows_with_nan_are_errors_and_an_all_failed_sweep_exits_2(tmp_path, cli):
    from dojosim.plan.sweep import run_sweep

    stats = run_sweep({"grid": {"workload.layers": [1, 2]}}, tmp_path / "a", workers=1, evaluator=_nan_row)
    assert stats["errors"] == 2 and "not a finite number" in stats["first_error"]
    spec = {"base": RUN, "grid": {"system.levels[0].link_bandwidth": ["5e-324 B/s", "1e-320 B/s"]}}
    code, out, err = cli("sweep", write(tmp_path, "s.yaml", spec), "--out", tmp_path / "b", "--workers", "1")
    assert one_line_error(code, err, "every one of the 2 points failed"), err


def _nan_row(params, spec):
    return {"value": math.nan}


# ---------------------------------------------------------------- limits, checked before work
@pytest.mark.parametrize("args, words", [
    (["search", "--model", "gpt", "--system", "dojo-tile", "--global-batch", str(2**63)], ["global_batch", "limit"]),
    (["search", "--model", "gpt", "--system", "dojo-tile", "--global-batch", "8", "--devices", str(2**63)],
     ["devices", "limit"]),
    (["compare", "--model", "gpt", "--global-batch", str(2**63)], ["global_batch", "limit"]),
    (["compare", "--model", "gpt", "--global-batch", "-1"], ["global_batch"]),
    (["compare", "--model", "gpt", "--objective", "bogus"], ["objective", "bogus"]),
    (["numerics", "--steps", str(2**63)], ["steps", "limit"]),
    (["numerics", "--batch", str(2**40)], ["batch", "limit"]),
])
def test_huge_numbers_are_refused_at_once(cli, args, words):
    t0 = time.monotonic()
    code, _, err = cli(*args)
    assert one_line_error(code, err, *words), err
    assert time.monotonic() - t0 < 10


def test_workers_are_capped_at_the_cores():
    from dojosim.limits import cap_workers

    assert cap_workers(1000) == (os.cpu_count() or 1)
    with pytest.raises(SpecError, match="workers"):
        cap_workers(0)


def test_api_search_with_a_huge_batch_returns_at_once(small):
    model, system, _ = small
    with pytest.raises(SpecError, match="global_batch"):
        dojosim.search(model, system, 2**63)


# ---------------------------------------------------------------- sweep files
@pytest.mark.parametrize("spec, words", [
    ({"grid": {1: [1]}}, ["sweep.grid.1"]),
    ({"grid": {None: [1]}}, ["sweep.grid.None"]),
    ({"grid": {"workload.layers": list(range(1000)), "workload.hidden": list(range(1000)),
               "strategy.dp": list(range(1000))}}, ["points", "limit"]),
    ({"random": {"samples": 10**9, "params": {"workload.layers": {"int": [1, 9]}}}}, ["samples"]),
    ({"random": {"samples": 2, "seed": "abc", "params": {"workload.layers": {"int": [1, 9]}}}}, ["seed"]),
    ({"random": {"samples": 2, "params": {"workload.hidden": {"loguniform": [0, 9]}}}}, ["loguniform"]),
    ({"random": {"samples": 2, "params": {"workload.hidden": {"uniform": [9, 1]}}}}, ["above high"]),
    ({"grid": {"workload.layers": [1]}, "constraints": ["tp=1"]}, ["sweep.constraints"]),
    ({"grid": {"workload.layers": [1]}, "outputs": "mfu"}, ["sweep.outputs"]),
    ({"grid": {"workload.layers": [1]}, "run": 5}, ["sweep.run"]),
    ({"grid": {"workload.layers": [1]}, "base": {"system": {"preset": "dojo-tile", "device": 16}}},
     ["sweep.base.system.device", "unknown key"]),
    ({"grid": {"workload.layers": [1]}, "objective": "speed"}, ["sweep.objective"]),
])
def test_sweep_file_mistakes_are_one_line(tmp_path, cli, spec, words):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(spec))
    t0 = time.monotonic()
    code, _, err = cli("sweep", p, "--out", tmp_path / "o")
    assert one_line_error(code, err, *words), err
    assert time.monotonic() - t0 < 10 and not (tmp_path / "o").exists()


def test_mixed_type_grid_values_are_stored(tmp_path):
    from dojosim.plan.sweep import load_results, run_sweep

    spec = {"evaluator": "echo", "grid": {"workload.layers": [1, "two", 3.5, True, None]}}
    assert run_sweep(spec, tmp_path / "o", workers=1)["written"] == 5
    assert len(load_results(tmp_path / "o")) == 5


# ---------------------------------------------------------------- fleet files
FLEET = {"workload": {"model": "gpt", "global_batch": 64}, "parts": [{"preset": "h100-dgx", "devices": 64}]}


@pytest.mark.parametrize("change, words", [
    ({"island": 9223372036854775808}, ["fleet.island", "limit"]),
    ({"island": 0}, ["fleet.island"]), ({"island": -5}, ["fleet.island"]), ({"island": 1.5}, ["fleet.island"]),
    ({"island": "big"}, ["fleet.island"]),
    ({"parts": [{"preset": ["h100-dgx"], "devices": 64}]}, ["fleet.parts[0].preset"]),
    ({"parts": [{"preset": "h100-dgx", "name": 5, "devices": 64}]}, ["fleet.parts[0].name"]),
    ({"parts": [{"preset": "h100-dgx", "devices": None}]}, ["fleet.parts[0]", "exactly one"]),
    ({"reference": 7}, ["fleet.reference"]),
    ({"workload": {"model": "gpt", "global_batch": 64, "set": [1, 2]}}, ["fleet.workload.set"]),
    ({"workload": {"model": "gpt", "global_batch": 64, "precision": "fp4"}}, ["fleet.workload.precision"]),
    ({"workload": {"model": "gpt", "global_batch": 64, "batch": 3}}, ["fleet.workload.batch", "unknown key"]),
    ({"jobs": [{"name": "a", "train": "1e9 tokens", "when": 1}]}, ["fleet.jobs[0].when"]),
])
def test_fleet_file_mistakes_are_one_line(tmp_path, cli, change, words):
    code, _, err = cli("fleet", write(tmp_path, "f.yaml", {**FLEET, **change}))
    assert one_line_error(code, err, *words), err


# ---------------------------------------------------------------- names print as written
def test_markup_in_user_names_prints_literally(tmp_path, cli):
    sysfile = write(tmp_path, "sys.yaml", {**SYSTEM, "name": "evil [/bold] [red]x",
                                           "levels": [{**SYSTEM["levels"][0], "name": "[/] lvl"}]})
    code, out, err = cli("show", sysfile)
    assert code == 0, err
    assert "evil [/bold] [red]x" in out and "[/] lvl" in out


# ---------------------------------------------------------------- the public API's errors
def test_public_api_raises_only_spec_errors_for_bad_input(small, tmp_path):
    model, system, strategy = small
    from dojosim.plan.sweep import run_sweep

    calls = [lambda: dojosim.estimate(1, system, strategy), lambda: dojosim.estimate(model, 3.5, strategy),
             lambda: dojosim.estimate(model, system, 5), lambda: dojosim.estimate(model, system, strategy, assumptions="a"),
             lambda: dojosim.estimate(model, system, {"dp": 0}), lambda: dojosim.Strategy(dp=0),
             lambda: dojosim.Strategy(tp="x"), lambda: dojosim.search(None, system, 8),
             lambda: dojosim.search(model, system, "8"), lambda: dojosim.search(model, system, 8, top=-1),
             lambda: dojosim.load_system(5), lambda: dojosim.load_system("dojo-tile", devices=2**63),
             lambda: dojosim.build(5), lambda: dojosim.build("gpt", layers=float("nan")),
             lambda: dojosim.load_run(5), lambda: dojosim.load_run({"workload": 1}),
             lambda: dojosim.load_cases(3.5), lambda: run_sweep(7, tmp_path / "x"),
             lambda: run_sweep({"grid": {"workload.layers": [1]}}, 7),
             lambda: run_sweep({"grid": {"workload.layers": [1]}}, tmp_path / "y", workers="many"),
             lambda: dojosim.build({"a": 1}), lambda: dojosim.search(model, system, 25, constraints=[1]),
             lambda: dojosim.load_results(5), lambda: dojosim.Strategy.from_dict([1])]
    for i, call in enumerate(calls):
        with pytest.raises(SpecError):
            call()


# ---------------------------------------------------------------- Ray starts privately
def test_ray_is_started_without_dashboard_usage_stats_or_metadata_probe(monkeypatch):
    seen = {}
    fake = types.SimpleNamespace(is_initialized=lambda: False)

    def init(**kw):
        seen.update(kw, HOME=os.environ["HOME"], USAGE=os.environ.get("RAY_USAGE_STATS_ENABLED"))
        seen["bootstrap"] = open(os.path.join(os.environ["HOME"], "ray_bootstrap_config.yaml")).read()

    fake.init = init
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    home = os.environ.get("HOME")
    from dojosim.plan.ray_start import start_ray

    start_ray(None, 2)
    assert seen["include_dashboard"] is False and seen["USAGE"] == "0"
    assert seen["_node_ip_address"] == "127.0.0.1" and seen["num_cpus"] == 2
    assert seen["HOME"] != home and seen["bootstrap"].strip() == "{}"
    assert os.environ.get("HOME") == home

    def unreachable(**kw):
        raise ConnectionError("Could not find any running Ray instance.\nPlease start one")

    fake.init = unreachable
    with pytest.raises(SpecError, match="address: cannot start or reach Ray at 10.0.0.1:6379"):
        start_ray("10.0.0.1:6379", 1)
