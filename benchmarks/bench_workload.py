"""Workload benchmarks: build big analytic graphs, trace ResNet-50 and the FSD default.

    python benchmarks/bench_workload.py

Prints wall-clock times (best of N after one warm-up, plus the cold first call where it
matters) and the counts they produced. Record the numbers in docs/workloads.md.
"""
from __future__ import annotations

import time

from dojosim.workload import build


def best(fn, repeat: int = 5) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    for layers in (12, 1000, 100_000):
        dt, m = best(lambda: build("gpt", layers=layers, hidden=12288, heads=96, seq_len=2048))
        t2, train = best(lambda: m.flops_train_per_sample)
        print(f"build gpt layers={layers:>6}: {dt * 1e3:7.3f} ms  ({m.params / 1e9:,.1f}B params, "
              f"{len(m.blocks)} blocks; flops_train_per_sample {t2 * 1e6:.1f} us)")
    for name in ("gpt3-175b", "llama3-405b", "resnet50", "fsd", "occupancy"):
        dt, m = best(lambda: build(name))
        print(f"build {name:<12}: {dt * 1e3:7.3f} ms  ({m.params / 1e6:,.2f}M params, "
              f"{m.flops_train_per_sample / 1e12:.3f} TFLOP train/sample)")

    try:
        import torch
    except ModuleNotFoundError:
        print("torch not installed: tracer benchmarks skipped")
        return
    from dojosim.workload import from_torch, torch_module
    from dojosim.workload.zoo import example_inputs_on

    for name, batch in (("resnet50", 32), ("fsd", 1), ("occupancy", 1), ("gpt3-175b", 1)):
        with torch.device("meta"):
            module = torch_module(name)
        inputs = example_inputs_on(name, batch, "meta")
        t = time.perf_counter()
        traced = from_torch(module, inputs)
        cold = time.perf_counter() - t
        warm, traced = best(lambda: from_torch(module, inputs), repeat=3)
        analytic = build(name)
        print(f"trace {name:<10} batch {batch:>2}: first {cold:6.3f} s, then {warm:6.3f} s  "
              f"(params {traced.params:,} vs analytic {analytic.params:,}; fwd FLOPs traced/analytic "
              f"{traced.flops_fwd_per_sample / analytic.flops_fwd_per_sample:.6f}; "
              f"{sum(len(b.ops) for b in traced.blocks)} ops in {len(traced.blocks)} blocks)")


if __name__ == "__main__":
    main()
