"""Time one `estimate` of GPT-3 175B on 3,072 A100s (the issue's benchmark: under 5 ms).

Prints: the first (cold) estimate, which builds and caches the per-(model, system, split) costs
and places the parallel groups (best of five, each on new model and system objects with every
engine cache emptied); repeated estimates of the same split (warm); and estimates that
sweep the batch size over a fixed split (what a search does most), all in ms per estimate.

    python benchmarks/bench_estimate.py
"""
from __future__ import annotations

import statistics
import time

from dojosim import Strategy
from dojosim.engine import estimate  # the engine itself: the API wrapper adds name lookups
from dojosim.engine import estimate as _est_mod  # noqa: F401  (import cost outside the timing)
from dojosim.engine.estimate import _CACHE
from dojosim.hardware import load_system
from dojosim.workload import build


def empty_engine_caches() -> None:
    """Forget everything the engine memoizes: its estimate cache, the models' parts and the
    systems' facts, the partition options and every functools cache of its modules (placements,
    the D1's cores)."""
    import sys

    from dojosim.engine import partition

    _CACHE.clear()
    est = sys.modules["dojosim.engine.estimate"]
    for memo in (getattr(partition, "_OPTIONS", None), getattr(est, "_PARTS", None), getattr(est, "_SYSTEMS", None)):
        if memo is not None:   # (absent in the scalar engine)
            memo.clear()
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("dojosim.engine."):
            for obj in list(vars(mod).values()):
                if callable(getattr(obj, "cache_clear", None)):
                    obj.cache_clear()


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    model = build("gpt3-175b")
    system = load_system("a100-80gb-dgx", devices=3072)
    s = Strategy(dp=24, tp=8, pp=16, interleave=1, micro_batch=1, global_batch=1536,
                 recompute="full", precision="fp16")

    # Import everything the engine loads lazily (comm, placement) on a small, unrelated run.
    estimate(build("gpt", layers=2), load_system("a100-80gb-dgx", devices=16),
             Strategy(dp=4, tp=4, micro_batch=1, global_batch=4))
    # A first estimate, five times over (the best is printed: wall time follows the machine's
    # load): each on model and system objects the engine has not seen, every cache emptied.
    cold = []
    for _ in range(5):
        model, system = build("gpt3-175b"), load_system("a100-80gb-dgx", devices=3072)
        empty_engine_caches()
        cold += timed(lambda: estimate(model, system, s), 1)
    warm = timed(lambda: estimate(model, system, s), 200)
    batches = [s.model_copy(update={"global_batch": 24 * k}) for k in range(16, 216, 8)]
    sweep = []
    for b in batches:
        sweep += timed(lambda b=b: estimate(model, system, b), 1)
    # New splits each time (costs rebuilt per tp/micro-batch; groups placed per degrees).
    fresh = []
    for tp, pp in ((8, 16), (4, 32), (8, 8), (2, 48), (8, 24)):
        dp = 3072 // (tp * pp)
        st = Strategy(dp=dp, tp=tp, pp=pp, micro_batch=1, global_batch=dp * 64, recompute="full")
        _CACHE.clear()
        fresh += timed(lambda st=st: estimate(model, system, st), 1)

    est = estimate(model, system, s)
    print(f"GPT-3 175B on {system.chips} x {system.chip.name}, dp24 tp8 pp16, gbs 1536: "
          f"step {est.step_time_s:.2f} s, MFU {est.mfu:.1%}")
    print(f"first estimate of this run      : {min(cold) * 1e3:8.3f} ms (best of {len(cold)}: modules imported, "
          f"caches empty)")
    print(f"warm, same split (median of 200): {statistics.median(warm) * 1e3:8.3f} ms")
    print(f"batch sweep, cached costs       : {statistics.median(sweep) * 1e3:8.3f} ms (median of {len(sweep)})")
    print(f"new split, empty cache          : {statistics.median(fresh) * 1e3:8.3f} ms (median of {len(fresh)})")
    # CPU time does not count the waits of a shared machine: the figure to compare two trees by.
    c0 = time.process_time()
    for _ in range(40):
        for b in batches:
            estimate(model, system, b)
    cpu = (time.process_time() - c0) / (40 * len(batches))
    print(f"batch sweep, CPU time per estimate: {cpu * 1e3:6.3f} ms (40 x {len(batches)} estimates)")


if __name__ == "__main__":
    main()
