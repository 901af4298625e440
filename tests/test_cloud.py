"""Dojo as a cloud: partitions, job files, the scheduler's isolation invariant, determinism."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dojosim.errors import SpecError
from dojosim.plan.cloud import POLICIES, read_jobs, run_cloud, synthetic
from dojosim.plan.cloud.jobs import Job
from dojosim.plan.cloud.partitions import make_pool
from dojosim.plan.cloud.timing import Timing


def fake_search(model, system, batch):
    """A stand-in for the split search: throughput grows with peak FLOP/s, less than linearly,
    and with the links the partition owns — enough to order partitions, no engine needed."""
    peak = system.peak_flops("bf16")
    links = sum(lv.link_count() for lv in system.levels) + 1
    return Timing(peak ** 0.9 / 1e12 * (1 + 0.01 * math.log(links)), system.power_w, 1e9, "fake")


def _isolated(res) -> None:
    """No two jobs that run at the same time hold the same grain; every grain is in the pool."""
    for run in res["runs"]:
        pool, sim = run.pool, run.sim
        spans = sorted((sim.start[i], sim.end[i], i) for i in range(len(sim.start)) if sim.start[i] is not None)
        holder: dict[int, tuple[float, int]] = {}
        for s, e, i in spans:
            assert sim.cells[i], "a started job holds grains"
            assert len(set(sim.cells[i])) == len(sim.cells[i])
            assert pool.key_grains(sim.keys[i]) == len(sim.cells[i])
            for c in sim.cells[i]:
                assert 0 <= c < pool.units
                prev = holder.get(c)
                assert prev is None or prev[0] <= s, f"grain {c} shared by jobs {prev[1]} and {i}"
                holder[c] = (e, i)


def _jobs(sizes, gaps, durations, elastic):
    out, t = [], 0.0
    for i, (s, g, d, el) in enumerate(zip(sizes, gaps, durations, elastic)):
        t += g
        out.append(Job(i, str(i), "t", "gpt", t, float(s), float(s * 4 if el else s), duration=d))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 40), data=st.data(),
       policy=st.sampled_from(POLICIES), system=st.sampled_from(["dojo-exapod", "h100-dgx", "tpu-v4-pod"]),
       scatter=st.booleans())
def test_no_two_running_jobs_share_a_grain(n, data, policy, system, scatter):
    sizes = data.draw(st.lists(st.sampled_from([1, 3, 8, 20, 64, 100, 300, 1500]), min_size=n, max_size=n))
    gaps = data.draw(st.lists(st.floats(0, 500), min_size=n, max_size=n))
    durs = data.draw(st.lists(st.floats(1, 5000), min_size=n, max_size=n))
    el = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    count = 1 if system != "h100-dgx" else 40
    res = run_cloud(_jobs(sizes, gaps, durs, el), system, count, policy, scatter=scatter, search_fn=fake_search)
    _isolated(res)
    run = res["runs"][0]
    assert run.summary["completed"] + run.summary["rejected"] == n


def test_same_seed_same_results():
    a = run_cloud(synthetic(400, seed=7), "dojo-exapod", 2, "backfill", load=1.0, search_fn=fake_search)
    b = run_cloud(synthetic(400, seed=7), "dojo-exapod", 2, "backfill", load=1.0, search_fn=fake_search)
    assert a["runs"][0].sim.start == b["runs"][0].sim.start
    assert a["runs"][0].summary == b["runs"][0].summary
    c = run_cloud(synthetic(400, seed=8), "dojo-exapod", 2, "backfill", load=1.0, search_fn=fake_search)
    assert c["runs"][0].sim.start != a["runs"][0].sim.start


def test_same_seed_same_results_with_the_engine():
    a = run_cloud(synthetic(30, seed=1), "dojo-exapod", 1, "best-fit", load=1.0, workers=1)
    b = run_cloud(synthetic(30, seed=1), "dojo-exapod", 1, "best-fit", load=1.0, workers=1)
    assert a["runs"][0].summary == b["runs"][0].summary
    assert a["runs"][0].summary["completed"] == 30


def test_one_tile_jobs_fill_the_machine_at_high_load():
    jobs = synthetic(3000, seed=2, fixed_gpus=1)
    res = run_cloud(jobs, "dojo-exapod", 1, "backfill", load=1.5, search_fn=fake_search)
    s = res["runs"][0].summary
    assert s["utilization"] >= 0.95
    assert s["fragmentation"] == 0


def test_mixed_rectangles_leave_fragments():
    jobs = synthetic(3000, seed=2, size_median=40, size_sigma=1.0, max_gpus=120)
    res = run_cloud(jobs, "dojo-exapod", 1, "best-fit", load=1.2, search_fn=fake_search)
    s = res["runs"][0].summary
    assert s["fragmentation"] > 0.01       # free tiles in shapes no waiting rectangle fits


def test_dojo_partition_is_a_system_with_its_own_links():
    from dojosim.engine.estimate import estimate
    from dojosim.strategy import Strategy
    from dojosim.workload import build

    pool = make_pool("dojo-exapod")
    assert (pool.rows, pool.cols, pool.blocks, pool.units) == (4, 3, 10, 120)
    rect = pool.system_for(("rect", 2, 3))
    assert rect.chips == 150 and rect.levels[-1].topology.shape == (2, 3)
    assert rect.levels[-1].link_bandwidth == pool.system.levels[1].link_bandwidth
    assert rect.power_w == pytest.approx(pool.system.power_w * 6 / 120)
    two = pool.system_for(("blocks", 2))
    assert two.chips == 600 and two.levels[-1].topology.kind == "switch"
    scat = pool.system_for(("scatter", 4))
    assert scat.chips == 100 and scat.levels[-1].link_bandwidth < rect.levels[-1].link_bandwidth
    est = estimate(build("gpt"), rect, Strategy.from_dict({"dp": 150, "global_batch": 150, "micro_batch": 1}))
    assert est.devices == 150 and est.step_time_s > 0


def test_mesh_pool_best_fit_packs_the_fullest_block():
    pool = make_pool("dojo-exapod")
    a = pool.allocate(("rect", 2, 3), best=True)
    b = pool.allocate(("rect", 1, 1), best=True)
    assert a.cells[0] // 12 == b.cells[0] // 12          # best-fit: same cabinet
    c = pool.allocate(("rect", 1, 1), best=False)
    assert c.cells[0] // 12 == 0                          # first-fit: lowest cabinet
    pool.release(a)
    assert pool.free_units == 120 - 2
    assert not pool.fits(("blocks", 10)) and pool.fits(("blocks", 9))


def test_tpu_slices_take_any_cubes_of_one_pod():
    pool = make_pool("tpu-v4-pod")
    assert pool.units == 64 and pool.grain_chips == 64
    assert pool.shapes(5) == [("units", 6)]               # 5 cubes make no torus block; 6 (1x2x3) do
    a = pool.allocate(("units", 6), best=True)
    assert len(a.cells) == 6 and pool.system_for(("units", 6)).chips == 384


def test_trace_columns_are_mapped(tmp_path):
    p = tmp_path / "helios.csv"
    p.write_text("job_id,user,gpu_num,submit_time,duration\n"
                 "a,u1,8,2020-04-01 00:00:00,3600\n"
                 "b,u2,1,2020-04-01 00:10:00,60\n")
    jobs = read_jobs(p, "gpt")
    assert [j.size for j in jobs] == [8.0, 1.0]
    assert [j.arrival for j in jobs] == [0.0, 600.0]
    assert jobs[1].tenant == "u2" and jobs[0].duration == 3600


def test_parquet_and_ranges(tmp_path):
    import pandas as pd

    p = tmp_path / "jobs.parquet"
    pd.DataFrame({"arrival": [0.0, 5.0], "size": ["2 tiles", "4-64"], "samples": [1e5, 2e5],
                  "workload": ["gpt", "resnet50"]}).to_parquet(p)
    jobs = read_jobs(p)
    assert jobs[0].size == pytest.approx(2 * 25 * 362e12 / 989e12, rel=0.02)
    assert (jobs[1].size, jobs[1].size_max) == (4.0, 64.0)


@pytest.mark.parametrize("text, where", [
    ("arrival,size,samples\n0,abc,10\n", "size"),
    ("arrival,size,samples\n0,-4,10\n", "size"),
    ("arrival,size,samples\nsoon,4,10\n", "arrival"),
    ("arrival,size,samples\n0,4,nan\n", "no work"),
    ("arrival,size\n0,4\n", "no work column"),
    ("size,samples\n4,10\n", "no arrival column"),
    ("arrival,size,samples,workload\n0,4,10,gpt-9000\n", "unknown"),
    ("arrival,size,samples\n0,4,inf\n", "samples"),
    ("arrival,size,samples\n0,4 furlongs,10\n", "unit"),
])
def test_bad_job_files_get_one_line_errors(tmp_path, text, where):
    from dojosim.cli import main

    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["cloud", str(p), "--workload", "gpt"])
    assert exc.value.code == 2
    with pytest.raises(SpecError) as err:
        run_cloud(read_jobs(p, "gpt"), search_fn=fake_search)
    assert where in str(err.value) and "\n" not in str(err.value)


def test_bad_options_are_spec_errors():
    jobs = synthetic(5, seed=0)
    for kwargs in ({"policy": "lifo"}, {"count": 0}, {"load": -1.0}, {"price": float("nan")},
                   {"instance_name": "p9.huge"}):
        with pytest.raises(SpecError):
            run_cloud(jobs, search_fn=fake_search, **kwargs)
    with pytest.raises(SpecError):
        synthetic(0)


def test_cli_json_and_compare(tmp_path):
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "dojosim", "cloud", "--synthetic", "60", "--json",
                          "--compare", "h100-dgx,tpu-v4-pod", "--plot", str(tmp_path), "--workers", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    kinds = [s["kind"] for s in doc["systems"]]
    assert kinds == ["dojo", "gpu", "tpu"]
    powers = [s["power_w"] for s in doc["systems"]]
    assert max(powers) / min(powers) < 1.05                # equal power
    assert all(s["gpu_cloud"]["break_even_usd_per_grain_hour"] > 0 for s in doc["systems"])
    assert (tmp_path / "cloud-occupancy-dojo.png").exists()


@pytest.mark.parametrize("policy", POLICIES)
def test_passes_after_arrivals_alone_change_nothing_else(policy):
    """The scheduler's shortcut (after an arrival with nothing freed, look only at the new
    jobs' signatures) starts exactly the jobs a full pass would."""
    from dojosim.plan.cloud import runner
    from dojosim.plan.cloud.scheduler import Prepared, simulate
    from dojosim.plan.cloud.timing import Timer

    jobs = synthetic(1500, seed=5, size_median=8, size_sigma=1.5, max_gpus=1100, elastic=0.3)
    pool = make_pool("dojo-exapod")
    wls = runner.load_workloads([j.workload for j in jobs])
    timer = Timer({k: v[0] for k, v in wls.items()}, fake_search)
    work, batches, _ = runner.job_work(jobs, timer, wls)
    opts = [runner.options(pool, j, batches[j.index], work[j.index], timer) for j in jobs]
    jobs = runner.set_load(jobs, pool, opts, 1.3)
    prep = [Prepared(j.index, j.arrival, o[0], o[0], o[1], o[2]) for j, o in zip(jobs, opts)]
    fast = simulate(prep, make_pool("dojo-exapod"), policy)
    full = simulate(prep, make_pool("dojo-exapod"), policy, incremental=False)
    assert fast.start == full.start and fast.keys == full.keys


def test_gpu_cluster_break_even_is_the_instance_price():
    """Whole H100 nodes priced at the p5.48xlarge rate bill what the instances would: the
    break-even node-hour price of an H100 cluster is the instance's hourly price."""
    res = run_cloud(synthetic(200, seed=4), "h100-dgx", 64, "best-fit", load=0.8, search_fn=fake_search)
    s = res["runs"][0].summary
    assert s["gpu_cloud"]["break_even_usd_per_grain_hour"] == pytest.approx(98.32, rel=1e-9)


def test_seeds_and_policies_run_through_the_sweep_store(tmp_path):
    from dojosim.plan.cloud.sweep import evaluate, sweep_spec
    from dojosim.plan.sweep import load_results, run_sweep

    spec = sweep_spec({"synthetic": 12, "system": "dojo-exapod", "count": 1, "load": 0.9}, [0, 1],
                      ["backfill", "fifo"])
    stats = run_sweep(spec, tmp_path / "s", workers=1, evaluator=evaluate)
    assert stats["points"] == 4 and stats["errors"] == 0
    df = load_results(tmp_path / "s")
    assert set(df["param.cloud.policy"]) == {"backfill", "fifo"}
    assert df["dojo.utilization"].between(0, 1).all()


def test_oversized_job_file_is_refused_before_reading(tmp_path, monkeypatch):
    from dojosim.plan.cloud import jobs as jobs_mod

    p = tmp_path / "big.csv"
    p.write_text("arrival,size,samples\n" + "0,1,10\n" * 100)
    monkeypatch.setattr(jobs_mod, "MAX_FILE_BYTES", 100)
    with pytest.raises(SpecError, match="at most"):
        read_jobs(p, "gpt")
