"""Dojo figures the docs quote (docs/dojo.md): one FSD estimate on an ExaPOD (under 5 ms), the D1
core model on single ops, and the claims ledger's wall time. On a shared machine wall times follow
its load: the first estimate is the best of five, each a true first (new model and system
objects, every engine cache emptied), with its CPU time beside it.

    python benchmarks/bench_dojo.py
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_estimate import empty_engine_caches, timed  # noqa: E402

from dojosim import Strategy  # noqa: E402
from dojosim.assumptions import DEFAULT  # noqa: E402
from dojosim.engine.compute import Split, make_device, op_time  # noqa: E402
from dojosim.engine.estimate import _CACHE, estimate  # noqa: E402  (the engine: reports unfit splits, no FitError)
from dojosim.hardware import load_system  # noqa: E402
from dojosim.workload import build, ops  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def fsd_on_exapod() -> None:
    s = Strategy(dp=75, cp=40, micro_batch=1, global_batch=24000, zero=1)
    estimate(build("fsd-mini"), load_system("dojo-tile"), Strategy(dp=25, micro_batch=1, global_batch=25))
    # A first estimate, five times over: each on model and system objects the engine has not
    # seen, with every engine cache emptied (the op table, partitions and placement are built).
    first, first_cpu = [], []
    for _ in range(5):
        model, system = build("fsd"), load_system("dojo-exapod")
        empty_engine_caches()
        c0 = time.process_time()
        first += timed(lambda: estimate(model, system, s), 1)
        first_cpu.append(time.process_time() - c0)
    warm = timed(lambda: estimate(model, system, s), 100)
    sweep = []
    for k in range(1, 41):
        b = s.model_copy(update={"global_batch": 3000 * k})
        sweep += timed(lambda b=b: estimate(model, system, b), 1)
    fresh, cpu = [], []
    for dp, cp in ((75, 40), (100, 30), (120, 25), (150, 20), (300, 10)):
        st = Strategy(dp=dp, cp=cp, micro_batch=1, global_batch=dp * 8, zero=1)
        _CACHE.clear()
        c0 = time.process_time()
        fresh += timed(lambda st=st: estimate(model, system, st), 1)
        cpu.append(time.process_time() - c0)
    est = estimate(model, system, s)
    print(f"FSD default on dojo-exapod, dp75 spatial40: step {est.step_time_s:.3f} s, "
          f"{est.samples_per_s:,.0f} clips/s")
    print(f"  first estimate (caches empty)   : {min(first) * 1e3:8.2f} ms wall (best of {len(first)}; median "
          f"{statistics.median(first) * 1e3:.2f}), {min(first_cpu) * 1e3:.2f} ms CPU")
    print(f"  warm, same split (median of 100): {statistics.median(warm) * 1e3:8.3f} ms")
    print(f"  batch sweep, cached costs       : {statistics.median(sweep) * 1e3:8.3f} ms (median of {len(sweep)})")
    print(f"  new split, empty cache          : {statistics.median(fresh) * 1e3:8.2f} ms wall, "
          f"{statistics.median(cpu) * 1e3:.2f} ms CPU (median of {len(fresh)})")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores while measuring)")


def d1_ops() -> None:
    d1 = load_system("d1")
    dev = make_device(d1.chip, "bf16", d1.chip.sram_bandwidth, a=DEFAULT.for_chip(d1.chip))
    peak = d1.chip.peak_flops["bf16"]
    cases = [
        ("GEMM 8192^3", ops.linear("gemm", 8192, 8192, 8192, bias=False)),
        ("GEMM 1024^3", ops.linear("gemm", 1024, 1024, 1024, bias=False)),
        ("conv 3x3 256->256, 16 x 240x320", ops.conv("c", 256, 256, 3, 1, (240, 320))[0].scaled(16)),
        ("depthwise 3x3 x128, 16 x 240x320", ops.conv("dw", 128, 128, 3, 1, (240, 320), groups=128)[0].scaled(16)),
        ("1x1 conv 4->64, 16 x 480x640", ops.conv("pw", 4, 64, 1, 1, (480, 640))[0].scaled(16)),
        ("batch norm, 64 ch x 16 x 480x640", ops.norm("bn", 64 * 480 * 640 * 16, 64)),
        ("ReLU, 64 ch x 16 x 480x640", ops.elementwise("relu", 64 * 480 * 640 * 16)),
    ]
    print("one D1, bf16 (engine/cores.py): op, forward time, % of the 362 TFLOPS peak, what bound it")
    for name, op in cases:
        t = op_time(op, 1, Split(), dev)
        print(f"  {name:34s} {t.fwd_s * 1e6:10.1f} us {op.flops / t.fwd_s / peak:7.1%}  {t.bound}")


def claims_wall() -> None:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dojosim", "claims", "--json"], capture_output=True, check=True, cwd=ROOT)
    print(f"dojosim claims --json: {time.perf_counter() - t0:.1f} s wall")


if __name__ == "__main__":
    fsd_on_exapod()
    d1_ops()
    claims_wall()
