"""Slices: TPU v4 cubes wired by the optical switches, slices in several pods over the
data-centre network, GPU clusters of whole nodes, Dojo systems of whole tiles."""
from __future__ import annotations

import pytest

from dojosim.cli import main
from dojosim.engine.estimate import estimate
from dojosim.errors import SpecError
from dojosim.hardware import load_system
from dojosim.strategy import Strategy
from dojosim.workload import build


def test_tpu_v4_two_pods_of_3072():
    s = load_system("tpu-v4-pod", devices=6144)
    assert s.chips == 6144
    cube, pod, dcn = s.levels
    assert (cube.children, pod.children, dcn.children) == (64, 48, 2)
    assert pod.topology.kind == "torus" and sorted(pod.topology.shape) == [3, 4, 4]
    # the cross-pod level is the data-centre network, at the slices' share of each pod's
    full = load_system("tpu-v4-pod", devices=8192)
    assert dcn.topology.kind == full.levels[-1].topology.kind == "fat_tree"
    assert dcn.link_bandwidth == pytest.approx(full.levels[-1].link_bandwidth * 3072 / 4096)


@pytest.mark.parametrize("cubes, shape", [(48, [3, 4, 4]), (5, [1, 1, 5]), (12, [2, 2, 3]), (8, [2, 2, 2])])
def test_tpu_v4_any_number_of_cubes_gets_the_most_cubic_torus(cubes, shape):
    s = load_system("tpu-v4-pod", devices=64 * cubes)
    assert s.levels[-1].children == cubes and sorted(s.levels[-1].topology.shape) == shape


@pytest.mark.parametrize("name, devices", [("tpu-v4-pod", 100), ("tpu-v4-pod", 5000), ("h100-dgx", 20),
                                           ("dojo-exapod", 24), ("dojo-exapod", 3025)])
def test_counts_the_hardware_cannot_build_name_devices(name, devices):
    with pytest.raises(SpecError) as info:
        load_system(name, devices=devices)
    assert info.value.path == "devices" and "\n" not in str(info.value)


@pytest.mark.parametrize("name, devices", [("h100-dgx", 8 * 37), ("a100-80gb-dgx", 8 * 13), ("h100-dgx", 3)])
def test_gpu_clusters_of_any_whole_number_of_nodes(name, devices):
    assert load_system(name, devices=devices).chips == devices


@pytest.mark.parametrize("name, tiles", [("dojo-exapod", 7), ("dojo-exapod", 13), ("dojo-exapod", 130),
                                         ("dojo-tray", 7), ("dojo-tile", 3), ("dojo-cabinet", 5)])
def test_dojo_whole_tiles(name, tiles):
    s = load_system(name, devices=25 * tiles)
    assert s.chips == 25 * tiles
    assert s.levels[0].name == "tile" and s.levels[0].children == 25


def test_dojo_tiles_across_trays_use_the_slowest_link_they_cross():
    seven = load_system("dojo-exapod", devices=175)       # 7 tiles: one tray and a neighbour's tile
    thirteen = load_system("dojo-exapod", devices=325)    # 13 tiles: more than a cabinet
    tray = load_system("dojo-exapod").levels[1]
    exapod = load_system("dojo-exapod").levels[3]
    assert seven.levels[-1].link_bandwidth == tray.link_bandwidth
    assert thirteen.levels[-1].link_bandwidth == min(tray.link_bandwidth, exapod.link_bandwidth)
    # the DIP HBM of the trays, pro rata
    assert sum(p.count for p in seven.levels[-1].memory_pools) == 24   # ceil(20 x 7/6)


def test_slices_estimate():
    model = build("gpt", layers=16, hidden=4096, heads=32, seq_len=2048, vocab=32000)
    for name, devices, tp in (("tpu-v4-pod", 6144, 4), ("dojo-exapod", 175, 1)):
        system = load_system(name, devices=devices)
        est = estimate(model, system, Strategy(dp=devices // tp, tp=tp, global_batch=devices // tp * 2,
                                               micro_batch=1, zero=1, recompute="full"))
        assert est.step_time_s > 0 and est.breakdown["comm_dp"] >= 0


def test_show_two_pod_slices(capsys):
    with pytest.raises(SystemExit) as done:
        main(["show", "tpu-v4-pod", "--devices", "6144"])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert "pod × 2" in out and "3,072 chips each" in out and "data-center network" in out


def test_run_files_accept_slices():
    from dojosim.run import load_run

    r = load_run({"workload": {"model": "gpt", "layers": 4, "hidden": 1024, "heads": 16, "seq_len": 512,
                               "vocab": 32000},
                  "system": {"preset": "tpu-v4-pod", "devices": 6144},
                  "strategy": {"dp": 1536, "tp": 4, "global_batch": 3072, "micro_batch": 1}})
    assert r.system.chips == 6144 and estimate(r.model, r.system, r.strategy).step_time_s > 0
