"""Cost of CFloat emulation on the CPU: conversion throughput, and one training step under each
precision relative to plain FP32.

    python benchmarks/bench_numerics.py [--steps 10] [--warmup 3] [--elements 1000000]

Prints two tables. Step times are medians over ``--steps`` timed steps after ``--warmup`` untimed
ones, same model, same batch, same seed; only the precision policy differs.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from dojosim.numerics import decode, emulate, encode, quantize
from dojosim.numerics.experiment import POLICIES, SETUPS, batch_for, build_network, loss_fn


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def conversions(n: int, repeat: int) -> None:
    x = torch.randn(n, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    rows = [("fp32 -> bf16 -> fp32 (torch)", lambda: x.to(torch.bfloat16).float())]
    for fmt, bias in (("1_4_3", 12), ("1_5_2", 20), ("shp", 15)):
        rows += [
            (f"quantize {fmt} nearest", lambda f=fmt, b=bias: quantize(x, f, b)),
            (f"quantize {fmt} stochastic", lambda f=fmt, b=bias: quantize(x, f, b, "stochastic", gen)),
        ]
    codes = encode(x, "1_4_3", 12)
    rows += [("encode 1_4_3 nearest", lambda: encode(x, "1_4_3", 12)),
             ("decode 1_4_3", lambda: decode(codes, "1_4_3", 12))]
    print(f"\nconversions of {n:,} float32 values (median of {repeat})")
    print(f"{'operation':34s} {'ms':>8s} {'Melem/s':>9s}")
    for name, fn in rows:
        fn()
        s = _median_seconds(fn, repeat)
        print(f"{name:34s} {s * 1e3:8.2f} {n / s / 1e6:9.1f}")


def steps(model: str, n: int, warmup: int) -> None:
    """Step time per precision. The precisions take turns step by step (round robin), so a change
    in the machine's load during the run hits all of them alike."""
    batch = SETUPS[model].batch
    x, y = batch_for(model, batch, 0)
    runners = {}
    for policy in POLICIES:
        net, _ = build_network(model, 0)
        if policy != "fp32":
            emulate(net, policy)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)

        def step(net=net, opt=opt):
            loss = loss_fn(model, net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        runners[policy] = step
    for _ in range(warmup):
        for step in runners.values():
            step()
    times = {p: [] for p in runners}
    for _ in range(n):
        for p, step in runners.items():
            t = time.perf_counter()
            step()
            times[p].append(time.perf_counter() - t)
    print(f"\n{model}: one training step (forward + backward + AdamW), batch {batch}, median of {n}")
    print(f"{'precision':18s} {'ms/step':>9s} {'x fp32':>7s}")
    base = statistics.median(times["fp32"])
    for p, ts in times.items():
        s = statistics.median(ts)
        print(f"{p:18s} {s * 1e3:9.1f} {s / base:7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--elements", type=int, default=1_000_000)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}; load average {os.getloadavg()[0]:.1f}")
    conversions(args.elements, max(3, args.steps))
    for model in SETUPS:
        steps(model, args.steps, args.warmup)


if __name__ == "__main__":
    main()
