"""The engine's per-op and per-block costs against figures recorded from the scalar engine before
it was vectorized (commit 7bed3ca): every number of each estimate below (step time, breakdown,
per-op times, what bound them, the partitions chosen) must agree to 1e-9 relative.

The cases span what the cost model branches on: GPU transformers (tp, sequence parallel, fp8,
recompute, MoE experts, context parallel), CNNs with grouped convolutions, the FSD network on a
Dojo tile and an ExaPOD (spatial split, per-block partitions, SRAM streaming), the occupancy
network, a TPU pod, engine draws of the assumed figures, and single ops on one D1.

    PYTHONPATH=src python tests/test_engine_reference.py --write   # re-record (only from a
                                                                   # commit whose engine is the reference)
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from dojosim import Strategy
from dojosim.assumptions import DEFAULT
from dojosim.engine.compute import Split, make_device, op_time
from dojosim.engine.estimate import estimate
from dojosim.hardware import load_system
from dojosim.workload import build, ops

FIXTURE = Path(__file__).with_name("engine_reference.json")
REL = 1e-9


def _s(**kw) -> Strategy:
    return Strategy(**kw)


# (case id, model name and settings, system preset and devices, strategy fields, assumption changes)
CASES = [
    ("gpt3-a100-3072", ("gpt3-175b", {}), ("a100-80gb-dgx", 3072),
     dict(dp=24, tp=8, pp=16, micro_batch=1, global_batch=1536, recompute="full", precision="fp16"), {}),
    ("gpt3-a100-interleave", ("gpt3-175b", {}), ("a100-80gb-dgx", 1024),
     dict(dp=8, tp=8, pp=16, interleave=2, micro_batch=2, global_batch=512, recompute="selective",
          sequence_parallel=True, zero=1), {}),
    ("llama8b-h100-fp8-cp", ("llama3-8b", {}), ("h100-dgx", 64),
     dict(dp=8, tp=4, cp=2, micro_batch=1, global_batch=64, precision="fp8", sequence_parallel=True), {}),
    ("mixtral-h100-ep", ("mixtral-8x7b", {}), ("h100-dgx", 64),
     dict(dp=8, tp=2, pp=4, ep=8, micro_batch=1, global_batch=256, zero=1), {}),
    ("resnet50-a100", ("resnet50", {}), ("a100-80gb-dgx", 8),
     dict(dp=8, micro_batch=32, global_batch=256), {}),
    ("regnet-a100", ("regnety-1.6gf", {}), ("a100-80gb-dgx", 8),
     dict(dp=8, micro_batch=64, global_batch=512), {}),
    ("regnet-d1", ("regnety-400mf", {}), ("dojo-tile", 25),
     dict(dp=25, micro_batch=4, global_batch=100), {}),
    ("vit-tpu", ("vit-b16", {}), ("tpu-v4-pod", 64),
     dict(dp=16, tp=4, micro_batch=8, global_batch=1024), {}),
    ("fsd-tile-spatial25", ("fsd", {}), ("dojo-tile", 25),
     dict(dp=1, cp=25, micro_batch=1, global_batch=200, zero=1), {}),
    ("fsd-exapod-default", ("fsd", {}), ("dojo-exapod", None),
     dict(dp=75, cp=40, micro_batch=1, global_batch=24000, zero=1), {}),
    ("fsd-exapod-dp300", ("fsd", {}), ("dojo-exapod", None),
     dict(dp=300, cp=10, micro_batch=1, global_batch=2400, zero=1), {}),
    ("fsd-exapod-draw", ("fsd", {}), ("dojo-exapod", None),
     dict(dp=150, cp=20, micro_batch=1, global_batch=1200, zero=1),
     {"mesh_bandwidth": 4.0e11, "sram_operand_fraction": 0.35, "kernel_overhead_s": 2e-6}),
    ("fsd-h100", ("fsd", {}), ("h100-dgx", 64),
     dict(dp=32, cp=2, micro_batch=1, global_batch=256, zero=1), {}),
    ("fsd-mini-d1-mb2", ("fsd-mini", {}), ("dojo-tile", 25),
     dict(dp=5, cp=5, micro_batch=2, global_batch=40), {}),
    ("occupancy-tile", ("occupancy", {}), ("dojo-tile", 25),
     dict(dp=1, cp=25, micro_batch=1, global_batch=100, zero=1), {}),
    ("occupancy-tray-pp", ("occupancy", {}), ("dojo-tray", None),
     dict(dp=6, cp=25, micro_batch=1, global_batch=60, zero=1), {}),
]

# Single ops on one D1 (what benchmarks/bench_dojo.py prints)
D1_OPS = [
    ("gemm-8192", lambda: ops.linear("gemm", 8192, 8192, 8192, bias=False)),
    ("gemm-1024", lambda: ops.linear("gemm", 1024, 1024, 1024, bias=False)),
    ("conv3x3", lambda: ops.conv("c", 256, 256, 3, 1, (240, 320))[0].scaled(16)),
    ("depthwise", lambda: ops.conv("dw", 128, 128, 3, 1, (240, 320), groups=128)[0].scaled(16)),
    ("pointwise", lambda: ops.conv("pw", 4, 64, 1, 1, (480, 640))[0].scaled(16)),
    ("depthwise-1x1", lambda: ops.conv("dw1", 128, 128, 1, 1, (240, 320), groups=128)[0].scaled(16)),
    ("grouped", lambda: ops.conv("g", 64, 64, 3, 1, (120, 160), groups=4)[0].scaled(8)),
    ("norm", lambda: ops.norm("bn", 64 * 480 * 640 * 16, 64)),
    ("relu", lambda: ops.elementwise("relu", 64 * 480 * 640 * 16)),
]


def _estimate_case(case) -> dict:
    _, (name, sets), (preset, devices), fields, changes = case
    model = build(name, **sets)
    system = load_system(preset, devices=devices) if devices else load_system(preset)
    a = DEFAULT.replace(**changes) if changes else DEFAULT
    return json.loads(json.dumps(estimate(model, system, Strategy(**fields), a).to_dict(), default=str))


def _d1_op(make) -> dict:
    d1 = load_system("d1")
    dev = make_device(d1.chip, "bf16", d1.chip.sram_bandwidth, a=DEFAULT.for_chip(d1.chip))
    t = op_time(make(), 1, Split(), dev)
    return {"fwd_s": t.fwd_s, "bwd_s": t.bwd_s, "fwd_flops": t.fwd_flops, "bound": t.bound}


def _compare(got, want, path: str) -> list[str]:
    """Every difference between two JSON-like trees beyond ``REL`` (numbers) or exact (others)."""
    if isinstance(want, dict):
        if set(got) != set(want):
            return [f"{path}: keys {sorted(set(got) ^ set(want))}"]
        return [d for k in want for d in _compare(got[k], want[k], f"{path}.{k}")]
    if isinstance(want, list):
        if len(got) != len(want):
            return [f"{path}: length {len(got)} != {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in _compare(g, w, f"{path}[{i}]")]
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        if not math.isclose(got, want, rel_tol=REL, abs_tol=1e-300):
            return [f"{path}: {got!r} != {want!r}"]
        return []
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_estimate_matches_the_scalar_engine(case, reference):
    diffs = _compare(_estimate_case(case), reference["estimates"][case[0]], case[0])
    assert not diffs, "\n".join(diffs[:20])


@pytest.mark.parametrize("name,make", D1_OPS, ids=[c[0] for c in D1_OPS])
def test_d1_op_matches_the_scalar_engine(name, make, reference):
    diffs = _compare(_d1_op(make), reference["d1_ops"][name], name)
    assert not diffs, "\n".join(diffs)


def test_reference_is_not_trivial(reference):
    """The recorded cases really exercise the branches: spatial partitions, SRAM streaming, a
    vector-bound op and non-zero tensor-parallel traffic all appear."""
    est = reference["estimates"]
    assert est["fsd-exapod-default"]["extra"]["partitions"]
    assert {p[1] for c in est.values() for p in c["extra"]["partitions"]} >= {"images", "rows"}
    assert any(c["breakdown"]["memory_stream"] > 0 for c in est.values())
    assert est["gpt3-a100-3072"]["breakdown"]["comm_tp"] > 0
    assert {op["bound"] for op in reference["d1_ops"].values()} >= {"matrix", "vector", "sram"}
    assert reference["d1_ops"]["depthwise-1x1"]["bound"] != "matrix"   # the SIMD path of a grouped conv


if __name__ == "__main__" and "--write" in sys.argv:
    data = {"estimates": {c[0]: _estimate_case(c) for c in CASES},
            "d1_ops": {name: _d1_op(make) for name, make in D1_OPS}}
    FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
