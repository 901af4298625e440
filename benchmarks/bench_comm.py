"""How fast placement and collective costing are, and what they predict on the presets.

    python benchmarks/bench_comm.py

Prints (1) microseconds per `place` (cached and uncached) and per `collective_time`, and
(2) a table of collective times and bus bandwidths for typical groups on the presets, the
numbers docs/communication.md quotes.
"""
from __future__ import annotations

import time

from dojosim.engine.comm import collective_time
from dojosim.engine.placement import _place_cached, place
from dojosim.hardware import load_system


def per_call_us(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def speed() -> None:
    sys = load_system("h100-dgx", devices=1024)
    deg = {"tp": 8, "pp": 4, "dp": 32}
    g = place(sys, deg)["dp"]
    print(f"place, cached (h100-dgx x1024):            {per_call_us(lambda: place(sys, deg), 20000):8.2f} us")
    print(f"collective_time all_reduce (dp=32):        {per_call_us(lambda: collective_time('all_reduce', 1e9, g), 100000):8.2f} us")

    splits = [{"tp": tp, "pp": pp, "dp": 1024 // tp // pp} for tp in (1, 2, 4, 8) for pp in (1, 2, 4, 8, 16)]

    def uncached():
        _place_cached.cache_clear()
        for d in splits:
            place(sys, d)
    print(f"place, uncached, aligned (mean of {len(splits)}):     {per_call_us(uncached, 20) / len(splits):8.2f} us")
    pod = load_system("dojo-exapod")

    def straddling():
        _place_cached.cache_clear()
        place(pod, {"tp": 8, "dp": 375})
    print(f"place, uncached, tp=8 straddling ExaPOD tiles: {per_call_us(straddling, 10):8.2f} us")


CASES = [
    ("a100-80gb-dgx", 1024, {"tp": 8, "pp": 8, "dp": 16}, "tp", "all_reduce"),
    ("a100-80gb-dgx", 1024, {"tp": 8, "pp": 8, "dp": 16}, "dp", "all_reduce"),
    ("a100-80gb-dgx", 1024, {"tp": 8, "pp": 8, "dp": 16}, "pp", "p2p"),
    ("h100-dgx", 1024, {"tp": 8, "dp": 128}, "tp", "all_reduce"),
    ("h100-dgx", 1024, {"tp": 8, "dp": 128}, "dp", "all_reduce"),
    ("h100-dgx", 1024, {"dp": 1024}, "dp", "all_reduce"),
    ("h100-dgx", 1024, {"tp": 8, "dp": 128, "ep": 8}, "ep", "all_to_all"),
    ("dojo-tile", None, {"tp": 25}, "tp", "all_reduce"),
    ("dojo-tile", None, {"tp": 5, "dp": 5}, "dp", "all_reduce"),
    ("dojo-tray", None, {"tp": 25, "dp": 6}, "dp", "all_reduce"),
    ("dojo-exapod", None, {"tp": 25, "dp": 120}, "dp", "all_reduce"),
    ("dojo-exapod", None, {"dp": 3000}, "dp", "all_reduce"),
    ("tpu-v4-pod", None, {"tp": 4, "dp": 1024}, "tp", "all_reduce"),
    ("tpu-v4-pod", None, {"tp": 4, "dp": 1024}, "dp", "all_reduce"),
]


def table(size: float = 1e9) -> None:
    print(f"\n{'system':<16}{'split':<30}{'group':<6}{'collective':<12}{'n':>6}{'time ms':>10}{'busbw GB/s':>12}")
    for preset, devices, deg, dim, kind in CASES:
        sys = load_system(preset, devices=devices)
        g = place(sys, deg)[dim]
        t = collective_time(kind, size, g)
        n = g.n
        # nccl-tests' bus bandwidth convention: the per-rank traffic of the ring algorithm over t
        factor = {"all_reduce": 2 * (n - 1) / n, "all_to_all": (n - 1) / n, "p2p": 1.0}[kind]
        split = " ".join(f"{k}={v}" for k, v in deg.items())
        print(f"{preset:<16}{split:<30}{dim:<6}{kind:<12}{n:>6}{t * 1e3:>10.3f}{factor * size / t / 1e9:>12.1f}")


if __name__ == "__main__":
    speed()
    table()
