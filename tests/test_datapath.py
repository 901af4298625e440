"""The input data path (engine/datapath.py): hosts, PCIe, TTP and the TTPoE Z-plane."""
import pytest

from dojosim.engine.datapath import input_path
from dojosim.engine.estimate import estimate
from dojosim.hardware import load_system
from dojosim.strategy import Strategy
from dojosim.workload.zoo import build

# Hot Chips 2024: "a vision training sample can be a 1.7 GB tensor" (8 cameras x 29 frames of
# 1280x960 RGB in 2 bytes = 1.71 GB).
BIG_CLIP = build("fsd", frames=29)
SPLIT = Strategy(dp=75, cp=40, micro_batch=1, global_batch=3000, zero=1)


def with_hosts(system, hosts):
    return system.model_copy(update={"levels": [
        lv.model_copy(update={"hosts": hosts}) if lv.name == "tray" else lv for lv in system.levels]})


def test_big_clip_is_input_bound_at_2022_host_count():
    assert 1.6e9 < BIG_CLIP.input_bytes_per_sample < 1.8e9
    pod = load_system("dojo-exapod")
    est = estimate(BIG_CLIP, pod, SPLIT)
    info = est.extra["input"]
    assert info["bound"] and est.breakdown["input"] > 0
    assert any(n.startswith("input-bound") for n in est.notes)
    # the hosts the estimate asks for remove the bound (PCIe slots first, then the Z-plane)
    assert info["removable"] and info["hosts_needed"] > info["hosts"]
    more = with_hosts(pod, -(-info["hosts_needed"] // pod.instances(1)))
    path = input_path(more)
    extra = info["zplane_hosts_needed"]
    assert path.bandwidth(zplane_hosts=extra) >= info["needed_bandwidth"] * 0.999


def test_more_hosts_never_slow_the_step_and_are_capped_by_the_links():
    pod = load_system("dojo-exapod")
    steps = [estimate(BIG_CLIP, with_hosts(pod, h), SPLIT).step_time_s for h in (2, 4, 8, 20)]
    assert steps == sorted(steps, reverse=True)
    path = input_path(pod)
    assert path.bandwidth(hosts=path.max_pcie_hosts) <= path.link_bw
    assert path.bandwidth(hosts=10**6) <= path.link_bw + path.zplane_bw
    assert path.bandwidth(hosts=10**6, zplane_hosts=10**6) <= path.link_bw + path.zplane_bw


def test_unreachable_rate_says_so():
    path = input_path(load_system("dojo-tile"))
    pcie, zplane, ok = path.hosts_for(path.link_bw + path.zplane_bw + 1e9)
    assert not ok and pcie <= path.max_pcie_hosts


def test_gpu_hosts_are_only_their_pcie_link():
    path = input_path(load_system("h100-dgx", devices=16))
    assert path.per_host_bw == 0 and path.bandwidth() == path.link_bw > 0


def test_run_file_sets_hosts_and_extra_hosts_go_over_the_zplane():
    from dojosim.errors import SpecError
    from dojosim.run import load_system_section

    fed = load_system_section({"preset": "dojo-exapod", "hosts": 22})
    path = input_path(fed)
    assert path.hosts == 22 * 20 and path.max_pcie_hosts == 400
    # 400 hosts fill the DIPs' PCIe slots; the other 40 feed them over Ethernet
    assert path.bandwidth() == pytest.approx(400 * path.per_host_bw + min(40 * path.per_host_bw, path.zplane_bw))
    with pytest.raises(SpecError, match="system.hosts"):
        load_system_section({"preset": "dojo-exapod", "hosts": 0})
    with pytest.raises(SpecError, match="system.hosts"):
        load_system_section({"preset": "h100-dgx", "hosts": 4})
