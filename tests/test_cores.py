"""The D1 costed from its microarchitecture (engine/cores.py) and per-chip efficiency data."""
import pytest

from dojosim.assumptions import DEFAULT
from dojosim.engine.compute import Split, make_device, op_time
from dojosim.errors import SpecError
from dojosim.hardware import load_system
from dojosim.hardware.spec import read_system
from dojosim.workload import ops

D1 = load_system("d1")
DEV = make_device(D1.chip, "bf16", D1.chip.sram_bandwidth, a=DEFAULT.for_chip(D1.chip))
PEAK = D1.chip.peak_flops["bf16"]


def fwd(op):
    return op_time(op, 1, Split(), DEV)


def test_d1_carries_its_microarchitecture_with_sources():
    eff = {k: v.value for k, v in D1.chip.efficiency.items()}
    assert (eff["cores"], eff["mac_m"], eff["mac_n"], eff["mac_k"]) == (354, 8, 8, 4)
    for name in eff:
        src = D1.sources[f"chip.efficiency.{name}"]
        assert src.text and (not src.assumed or src.range), name
    assert DEV.cores is not None
    # GPUs keep the engine's defaults: no core model
    h100 = load_system("h100-dgx").chip
    assert make_device(h100, "bf16", 3.35e12, a=DEFAULT.for_chip(h100)).cores is None


def test_big_gemm_reaches_70_percent_of_peak():
    t = fwd(ops.linear("gemm", 8192, 8192, 8192, bias=False))
    assert 2 * 8192**3 / t.fwd_s / PEAK >= 0.70
    assert t.bound == "matrix"


def test_array_quantization_penalizes_odd_shapes():
    full = fwd(ops.linear("a", 4096, 512, 512, bias=False))
    odd = fwd(ops.linear("b", 4096, 514, 514, bias=False))   # one extra 8x8x4 tile row/column
    assert odd.fwd_s > full.fwd_s * 1.005


def test_few_channel_pointwise_conv_is_bound_by_sram_stores():
    op, _ = ops.conv("pw", 4, 64, 1, 1, (480, 640))
    t = fwd(op.scaled(16))
    assert t.bound == "sram"
    # slower than the matrix unit alone would run it (issue efficiency x peak)
    assert op.flops * 16 / (t.fwd_s - DEV.a.kernel_overhead_s) < DEV.cores.issue_eff * PEAK


def test_norms_and_activations_are_simd_bound():
    assert fwd(ops.norm("bn", 64 * 480 * 640 * 16, 64)).bound == "vector"
    assert fwd(ops.elementwise("relu", 64 * 480 * 640 * 16)).bound == "vector"


def test_depthwise_conv_runs_far_below_a_dense_conv():
    dw, _ = ops.conv("dw", 128, 128, 3, 1, (240, 320), groups=128)
    dense, _ = ops.conv("c", 128, 128, 3, 1, (240, 320))
    eff = lambda op: op.flops * 16 / fwd(op.scaled(16)).fwd_s / PEAK  # noqa: E731
    assert eff(dw) < 0.15 < 0.6 < eff(dense)


def test_efficiency_entry_is_checked():
    raw = {"name": "x", "chip": {"name": "c", "peak_flops": {"bf16": "1 TFLOPS"}, "tdp_w": "1 W",
                                  "efficiency": {"gemm_peak_efficiency": {"value": 1.5, "source": "x"}}}}
    with pytest.raises(SpecError, match="chip.efficiency.gemm_peak_efficiency"):
        read_system(raw)
    raw["chip"]["efficiency"] = {"warp_size": {"value": 32, "source": "x"}}
    with pytest.raises(SpecError, match="chip.efficiency.warp_size"):
        read_system(raw)
