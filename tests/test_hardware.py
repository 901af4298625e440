"""Presets load, their totals match the published figures they come from, and --devices works."""
import math

import pytest
import yaml

from dojosim.errors import SpecError
from dojosim.hardware import Chip, Level, MemoryPool, System, Topology, list_presets, load_system
from dojosim.hardware.presets import _registry

PRESETS = list_presets()
REQUIRED = {"d1", "dojo-tile", "dojo-tray", "dojo-cabinet", "dojo-exapod", "dojo-d2-tile", "a100-40gb-dgx",
            "a100-80gb-dgx", "h100-dgx", "h800-dgx", "h200-dgx", "b200-dgx", "gb200-nvl72", "tpu-v4-pod", "ai4"}


def test_all_required_presets_exist():
    assert REQUIRED <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_with_consistent_types(name):
    s = load_system(name)
    assert isinstance(s, System) and isinstance(s.chip, Chip)
    assert all(isinstance(lv, Level) and isinstance(lv.topology, Topology) for lv in s.levels)
    assert all(isinstance(p, MemoryPool) for lv in s.levels for p in lv.memory_pools)
    assert s.chips == math.prod(lv.children for lv in s.levels)
    t = s.totals()
    for key in ("name", "chips", "peak_flops", "sram_bytes", "dram_bytes", "memory_bandwidth", "power_w",
                "price_usd", "levels"):
        assert key in t
    assert t["power_w"] >= s.chips * s.chip.tdp_w
    assert all(v > 0 for v in t["peak_flops"].values())


def _numbers(node, path=""):
    """Every (path, value-record) in a raw preset spec that holds a number."""
    if isinstance(node, dict):
        if "value" in node:
            yield path, node
            return
        for k, v in node.items():
            if k not in ("definitions",):
                yield from _numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and not path.endswith(
            ("shape[0]", "shape[1]", "shape[2]", "oversubscription")):
        yield path, node


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_number_has_a_source(name):
    raw = _registry()[name]
    seen = 0
    for path, rec in _numbers(raw):
        assert isinstance(rec, dict), f"{name}: {path} is a bare number; presets give every number a source"
        assert str(rec.get("source", "")).strip(), f"{name}: {path} has no source"
        assert isinstance(rec.get("assumed", False), bool)
        seen += 1
    assert seen >= 5
    for i, lv in enumerate(raw.get("levels") or []):
        assert lv["topology"].get("source"), f"{name}: levels[{i}].topology has no source"


@pytest.mark.parametrize("name", PRESETS)
def test_every_price_is_assumed(name):
    s = load_system(name)
    for path, src in s.sources.items():
        if path.endswith(("price_usd", "cost_overhead_usd", "cost_per_child_usd")):
            assert src.assumed, f"{name}: {path} is a price and must be marked assumed"


def test_dojo_tile_matches_hot_chips_34():
    t = load_system("dojo-tile").totals()
    assert t["chips"] == 25
    assert t["peak_flops"]["bf16"] == pytest.approx(9.05e15, rel=1e-3)   # "9 PFLOPS" (25 x 362 TF)
    assert t["sram_bytes"] == pytest.approx(11e9, rel=0.01)               # "11 GB"
    tile = t["levels"][0]
    assert tile["egress_bandwidth"] == pytest.approx(36e12)               # "36 TB/s off-tile"
    assert tile["bisection_bandwidth"] == pytest.approx(10e12, rel=0.02)  # "10 TB/s on-tile bisection"
    assert t["power_w"] == pytest.approx(15e3)                            # "15 kW per tile"
    assert tile["memory_pools"][0]["count"] == 5                          # "DIP x5"


def test_dojo_exapod_matches_published_totals():
    t = load_system("dojo-exapod").totals()
    assert t["chips"] == 3000
    assert t["peak_flops"]["bf16"] == pytest.approx(1.086e18, rel=1e-3)   # "1.1 EFLOPS"
    assert t["sram_bytes"] == pytest.approx(1.32e12, rel=0.01)            # "1.3 TB SRAM"
    assert t["dram_bytes"] == pytest.approx(13e12, rel=0.03)              # "13 TB DRAM"
    assert [lv["name"] for lv in t["levels"]] == ["tile", "tray", "cabinet", "exapod"]
    assert [lv["instances"] for lv in t["levels"]] == [120, 20, 10, 1]
    assert 1.5e6 < t["power_w"] < 3e6                                     # "~2 MW" (secondary estimate)
    assert "dram_bytes" in t["assumed_totals"]                            # 20 DIPs per tray is assumed


def test_dojo_tray_and_cabinet():
    tray = load_system("dojo-tray").totals()
    assert tray["chips"] == 150 and tray["peak_flops"]["bf16"] == pytest.approx(54.3e15, rel=1e-3)  # "54 PF"
    assert tray["power_w"] >= 100e3                                                               # "100 kW+"
    cab = load_system("dojo-cabinet").totals()
    assert cab["chips"] == 300 and cab["sram_bytes"] == pytest.approx(132e9, rel=0.01)


def test_d1_chip():
    s = load_system("d1")
    assert s.chips == 1 and s.levels == []
    assert s.chip.peak_flops["bf16"] == 362e12 and s.chip.peak_flops["fp32"] == 22.6e12
    assert s.chip.dram_bytes == 0 and s.chip.sram_bytes == 440e6
    assert s.chip.sram_bandwidth == pytest.approx(354 * 400e9)
    assert s.sources["chip.peak_flops.fp16"].assumed and not s.sources["chip.peak_flops.bf16"].assumed


def test_d2_tile_marks_every_number_assumed():
    s = load_system("dojo-d2-tile")
    chip_paths = [p for p in s.sources if p.startswith("chip.")]
    assert chip_paths and all(s.sources[p].assumed for p in chip_paths)


def test_h100_dgx_1024_devices():
    s = load_system("h100-dgx", devices=1024)
    t = s.totals()
    assert t["chips"] == 1024
    assert t["peak_flops"]["bf16"] == pytest.approx(1.013e18, rel=1e-3)
    assert [lv.name for lv in s.levels] == ["node", "InfiniBand fat tree"]
    assert s.levels[1].children == 128
    assert s.levels[1].link_bandwidth == pytest.approx(8 * 400e9 / 8)     # 8 x 400 Gb/s per node
    assert s.levels[1].topology.kind == "fat_tree"
    assert s.levels[0].link_bandwidth == pytest.approx(450e9)            # NVLink 900 GB/s bidir
    assert t["power_w"] == pytest.approx(128 * (10.2e3 + 500))


@pytest.mark.parametrize("name,nvlink,nic,hbm", [
    ("a100-40gb-dgx", 300e9, 200e9, 40 * 2**30), ("a100-80gb-dgx", 300e9, 200e9, 80 * 2**30),
    ("h100-dgx", 450e9, 400e9, 80 * 2**30), ("h800-dgx", 200e9, 400e9, 80 * 2**30),
    ("h200-dgx", 450e9, 400e9, 141e9), ("b200-dgx", 900e9, 400e9, 180e9)])
def test_dgx_nodes(name, nvlink, nic, hbm):
    s = load_system(name)
    node = s.levels[0]
    assert s.chips == 8 and node.topology.kind == "switch"
    assert node.link_bandwidth == pytest.approx(nvlink)
    assert node.egress_bandwidth == pytest.approx(nic)                   # 8 NICs x rate / 8 bits
    assert s.chip.dram_bytes == pytest.approx(hbm)


@pytest.mark.parametrize("name,power", [("a100-80gb-dgx", 6.5e3), ("h100-dgx", 10.2e3), ("b200-dgx", 14.3e3)])
def test_dgx_node_power_matches_datasheets(name, power):
    assert load_system(name).power_w == pytest.approx(power)


def test_h800_has_h100_compute():
    assert load_system("h800-dgx").chip.peak_flops == load_system("h100-dgx").chip.peak_flops


def test_gb200_nvl72():
    s = load_system("gb200-nvl72")
    assert s.chips == 72 and s.power_w == pytest.approx(120e3)
    assert s.totals()["peak_flops"]["bf16"] == pytest.approx(180e15)


def test_tpu_v4_pod():
    t = load_system("tpu-v4-pod").totals()
    assert t["chips"] == 4096
    assert t["peak_flops"]["bf16"] == pytest.approx(1.1e18, rel=0.03)       # "1.1 EFLOPS"
    assert t["levels"][1]["bisection_bandwidth"] == pytest.approx(24e12, rel=0.1)  # "24 TB/s"
    assert t["levels"][0]["topology"] == {"kind": "torus", "shape": [4, 4, 4], "oversubscription": 1.0}


def test_ai4_is_all_assumed_ranges():
    s = load_system("ai4")
    src = s.sources["chip.peak_flops.int8"]
    assert src.assumed and src.range == (50e12, 500e12)
    assert all(s.sources[p].assumed for p in s.sources if p.startswith("chip."))


@pytest.mark.parametrize("devices", [1, 8, 32, 512, 560, 1920, 2520, 3072])
def test_a100_device_counts_of_validation_runs(devices):
    s = load_system("a100-80gb-dgx", devices=devices)
    assert s.chips == devices
    assert s.totals()["peak_flops"]["bf16"] == pytest.approx(devices * 312e12)


def test_slice_of_one_gpu_keeps_its_share():
    s = load_system("a100-80gb-dgx", devices=1)
    assert s.chips == 1 and s.levels[0].children == 1
    assert s.power_w == pytest.approx(6.5e3 / 8)
    assert s.levels[0].egress_bandwidth == pytest.approx(25e9)   # one HDR NIC


def test_slices_of_the_dojo_mesh():
    s = load_system("dojo-tile", devices=10)
    assert s.levels[0].topology.shape in ((2, 5), (5, 2))
    s = load_system("dojo-exapod", devices=150)                   # one tray
    assert [lv.name for lv in s.levels] == ["tile", "tray"] and s.totals()["dram_bytes"] == pytest.approx(640e9)
    s = load_system("dojo-exapod", devices=600)                   # 2 cabinets of the Z-plane switch
    assert s.levels[-1].name == "exapod" and s.levels[-1].children == 2


def test_scale_out_of_exapods_and_tiles():
    s = load_system("dojo-exapod", devices=6000)
    assert s.chips == 6000 and s.levels[-1].children == 2
    s = load_system("dojo-tile", devices=150)
    assert s.levels[-1].topology.kind == "mesh2d" and math.prod(s.levels[-1].topology.shape) == 6


def test_scale_out_sources_follow_the_new_level():
    s = load_system("h100-dgx", devices=64)
    assert s.sources["levels[1].latency_s"].assumed
    assert "levels[1].link_bandwidth" in s.sources


@pytest.mark.parametrize("name,devices", [("h100-dgx", 12), ("dojo-tile", 7), ("dojo-exapod", 3001),
                                          ("h100-dgx", 0), ("gb200-nvl72", 100), ("d1", -1)])
def test_devices_that_do_not_tile(name, devices):
    with pytest.raises(SpecError) as err:
        load_system(name, devices=devices)
    assert err.value.path == "devices"


def test_devices_equal_to_preset_is_unchanged():
    assert load_system("dojo-exapod", devices=3000).totals() == load_system("dojo-exapod").totals()


def test_loaded_presets_are_independent_copies():
    a = load_system("h100-dgx")
    a.levels[0].link_bandwidth = 1.0
    assert load_system("h100-dgx").levels[0].link_bandwidth == pytest.approx(450e9)


def test_user_file_in_the_preset_schema(tmp_path):
    spec = {
        "name": "my-cluster",
        "chip": "h100-dgx",      # borrow a preset's chip
        "levels": [{"name": "node", "children": 4, "topology": {"kind": "ring"},
                    "link_bandwidth": "100 GB/s", "latency_s": "2 us",
                    "power_overhead_w": {"value": "2 kW", "source": "my guess", "assumed": True}}],
    }
    f = tmp_path / "mine.yaml"
    f.write_text(yaml.safe_dump(spec))
    s = load_system(str(f), devices=2)
    assert s.chips == 2 and s.chip.name == "H100 SXM5"
    assert s.power_w == pytest.approx(2 * 700 + 1e3)
    assert "levels[0].power_overhead_w" in s.assumed
    assert s.sources["chip.peak_flops.bf16"].text  # the borrowed chip keeps its sources


def test_level_network_figures():
    mesh = Level(name="m", children=6, topology=Topology(kind="mesh2d", shape=(2, 3)), link_bandwidth=1.0, latency_s=0)
    assert mesh.link_count() == 7 and mesh.bisection_bandwidth() == 2.0 and mesh.injection_bandwidth() == 14.0
    torus = Level(name="t", children=64, topology=Topology(kind="torus", shape=(4, 4, 4)), link_bandwidth=1.0, latency_s=0)
    assert torus.link_count() == 192 and torus.bisection_bandwidth() == 32.0
    ring = Level(name="r", children=8, topology=Topology(kind="ring"), link_bandwidth=1.0, latency_s=0)
    assert ring.link_count() == 8 and ring.bisection_bandwidth() == 2.0
    ft = Level(name="f", children=8, topology=Topology(kind="fat_tree", oversubscription=2), link_bandwidth=1.0, latency_s=0)
    assert ft.bisection_bandwidth() == 2.0 and ft.injection_bandwidth() == 8.0


from hypothesis import given, strategies as st  # noqa: E402

_SCALABLE = [n for n in PRESETS if load_system(n).scale_out is not None]


@given(name=st.sampled_from(PRESETS), devices=st.integers(min_value=1, max_value=20000))
def test_any_device_count_builds_exactly_or_fails_on_devices(name, devices):
    base = load_system(name)
    try:
        s = load_system(name, devices=devices)
    except SpecError as err:
        assert err.path == "devices"
        return
    assert s.chips == devices
    t = s.totals()
    for dtype, peak in base.chip.peak_flops.items():
        assert t["peak_flops"][dtype] == pytest.approx(devices * peak)
    assert t["power_w"] >= devices * base.chip.tdp_w
    for lv in s.levels:  # every built level is a valid Level (shape matches children)
        Level.model_validate(lv.model_dump())


@given(name=st.sampled_from(_SCALABLE), copies=st.integers(min_value=1, max_value=64))
def test_multiples_of_a_scalable_preset_always_build(name, copies):
    n = load_system(name).chips * copies
    assert load_system(name, devices=n).chips == n
