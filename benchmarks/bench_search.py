"""Strategy-search benchmark: estimates per second per core, and the wall time of a complete
search for GPT-3 175B on 1,024 A100s (a100-80gb-dgx) at global batch 1,536.

    python benchmarks/bench_search.py [--workers N] [--repeat R]

Prints: the search in a fresh process (nothing cached: what `dojosim search` pays after its
imports; wall and CPU seconds, best of R), the raw cost of one `estimate` on varied strategies,
the search again in this process (the engine's per-split costs now cached by those estimates),
the search with N workers, and whether the top 5 (labels and step times) equals
`search_reference.json`, recorded from the search before issue 12's speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REFERENCE = Path(__file__).with_name("search_reference.json")


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (the pool workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--model", default="gpt3-175b")
    ap.add_argument("--system", default="a100-80gb-dgx")
    ap.add_argument("--devices", type=int, default=1024)
    ap.add_argument("--global-batch", type=int, default=1536)
    ap.add_argument("--cold-once", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cold_once:
        return cold_once(args)

    from dojosim.engine.estimate import estimate
    from dojosim.hardware import load_system
    from dojosim.plan import space as sp
    from dojosim.plan.search import search_with_stats
    from dojosim.workload import build

    model = build(args.model)
    system = load_system(args.system, devices=args.devices)
    gb = args.global_batch
    print(f"{args.model} on {args.devices} x {args.system}, global batch {gb}; os.cpu_count() = {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")

    # 0. The search in a fresh process, nothing cached (imports excluded).
    cold = []
    for _ in range(args.repeat):
        cmd = [sys.executable, __file__, "--cold-once", "--model", args.model, "--system", args.system,
               "--devices", str(args.devices), "--global-batch", str(gb)]
        line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        print(line)
        cold.append(tuple(float(x) for x in line.split("|")[1].split()))
    print(f"search in a fresh process, best of {args.repeat}: {min(c[0] for c in cold):.2f} s wall, "
          f"{min(c[1] for c in cold):.2f} s CPU")

    # 1. Raw estimate cost over a spread of strategies (every 50th of the space, no pruning).
    facts = sp.ModelFacts.of(model)
    levels = sp.placement_levels(system)
    sample = []
    for i, shape in enumerate(sp.shapes(facts, args.devices, gb, sp.Space())):
        for j, s in enumerate(sp.variants(facts, shape, gb, sp.Space(), levels, None)):
            if (i * 7919 + j) % 50 == 0:
                sample.append(s)
    c0 = cpu_s()
    for s in sample:
        estimate(model, system, s)
    per = (cpu_s() - c0) / len(sample)
    print(f"estimate alone: {len(sample):,} varied strategies, {per * 1e6:.0f} us CPU each = {1 / per:,.0f} "
          "estimates per CPU-second")

    exhaustive = sp.count(facts, args.devices, gb, sp.Space(exhaustive=True), levels)
    print(f"space: {exhaustive:,} strategies with every level order and no rules "
          "(the search's default space drops ZeRO-2/3 with pp>1 and tp>1 without SP)")

    # 2. Serial search in this process, the engine's per-split costs cached by the estimates above.
    # On a shared machine wall time depends on what else runs; CPU time is the per-core figure.
    walls, cpus = [], []
    for _ in range(args.repeat):
        c0 = cpu_s()
        res = search_with_stats(model, system, gb, top=10, workers=1)
        cpu = cpu_s() - c0
        st = res.stats
        walls.append(st.wall_s)
        cpus.append(cpu)
        print(f"serial search: {st.enumerated:,} strategies, {st.pruned_memory:,} pruned by the memory bound, "
              f"{st.pruned_fit:,} by fit, {st.pruned_bound:,} by the step and busy-time bounds, "
              f"{st.bound_estimates:,} bound estimates (one per group of level orders), "
              f"{st.evaluated:,} estimated in {st.wall_s:.2f} s wall / {cpu:.2f} s CPU = "
              f"{st.evaluated / cpu:,.0f} estimates per CPU-second")
    print(f"serial search, caches warm, best of {args.repeat}: {min(walls):.2f} s wall, {min(cpus):.2f} s CPU")
    check_reference(args, model, res)

    # 3. The complete search on all cores.
    for _ in range(args.repeat):
        c0 = cpu_s()
        res = search_with_stats(model, system, gb, top=10, workers=args.workers)
        cpu = cpu_s() - c0
        st = res.stats
        best = res.candidates[0]
        print(f"search with workers={args.workers} ({st.workers} used: the throughput search runs best-first in one "
              f"process): {st.evaluated:,} estimated in {st.wall_s:.2f} s wall, "
              f"{cpu:.2f} s CPU over all processes = {st.evaluated / cpu:,.0f} estimates per CPU-second; "
              f"load average now {os.getloadavg()[0]:.2f}")
    print(f"best: {best.score:.2f} samples/s, step {best.estimate.step_time_s:.2f} s, MFU {best.estimate.mfu:.1%}: "
          f"{best.strategy.label(model)}")


def cold_once(args) -> None:
    """One search in this (fresh) process; prints its stats and '| wall cpu'."""
    import dojosim.engine.estimate  # noqa: F401  (the engine's imports are not the search's time)
    from dojosim.hardware import load_system
    from dojosim.plan.search import search_with_stats
    from dojosim.workload import build

    model, system = build(args.model), load_system(args.system, devices=args.devices)
    t0, c0 = time.perf_counter(), cpu_s()
    st = search_with_stats(model, system, args.global_batch, top=10, workers=1).stats
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    print(f"fresh-process search: {st.evaluated:,} estimated, {st.bound_estimates:,} bound estimates, "
          f"{wall:.2f} s wall / {cpu:.2f} s CPU, load average {os.getloadavg()[0]:.2f} | {wall:.4f} {cpu:.4f}")


def check_reference(args, model, res) -> None:
    """Compare the top 5 with the recorded reference (same case only)."""
    ref = json.loads(REFERENCE.read_text())
    case = ref["case"]
    if (args.model, args.system, args.devices, args.global_batch) != (
            case["model"], case["system"], case["devices"], case["global_batch"]):
        print("top 5 vs reference: not recorded for this case")
        return
    got = [(c.strategy.label(model), c.estimate.step_time_s) for c in res.candidates[:5]]
    want = [(r["label"], r["step_time_s"]) for r in ref["top"][:5]]
    same = len(got) == len(want) and all(g[0] == w[0] and abs(g[1] - w[1]) <= 1e-9 * w[1]
                                         for g, w in zip(got, want))
    print(f"top 5 equals the reference recorded at {ref['recorded_at']}: {'yes' if same else 'NO'}")
    for (label, step), (wl, ws) in zip(got, want):
        print(f"  {label:<40} {step:.6f} s   (reference {wl}, {ws:.6f} s)")


if __name__ == "__main__":
    main()
