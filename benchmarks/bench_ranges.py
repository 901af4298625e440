"""Time the p10-p90 ranges: 256 Latin hypercube draws (the default) on the default `compare`
(FSD on a Dojo ExaPOD against H100s of equal power) and on one `estimate`.

The splits are chosen once (by the search, as `dojosim compare` does) and then re-estimated
under each draw of the assumed figures; only that re-estimation is timed here (the issue's
budget: under 5 s for the default compare). Wall and CPU seconds are both printed: on a shared
machine the CPU time is the figure that does not depend on the other users.

    python benchmarks/bench_ranges.py
"""
from __future__ import annotations

import time

from dojosim.assumptions import DEFAULT
from dojosim.hardware import load_system, with_devices
from dojosim.ranges import DEFAULT_SAMPLES, estimate_spread
from dojosim.report.compare import DEFAULT_MODEL, DEFAULT_SYSTEMS, _attach_ranges, compare
from dojosim.run import load_run
from dojosim.workload import build


def main() -> None:
    model = build(DEFAULT_MODEL)
    t0 = time.perf_counter()
    rows = compare(model, list(DEFAULT_SYSTEMS), samples=0)
    t_search = time.perf_counter() - t0
    systems = [with_devices(load_system(r["system"]), r["devices"]) for r in rows]
    t0, c0 = time.perf_counter(), time.process_time()
    _attach_ranges(model, rows, systems, DEFAULT, DEFAULT_SAMPLES, 0)
    t_ranges, c_ranges = time.perf_counter() - t0, time.process_time() - c0
    print(f"default compare ({', '.join(DEFAULT_SYSTEMS)}), splits searched once: {t_search:6.2f} s")
    print(f"  + ranges, {DEFAULT_SAMPLES} draws x {len(rows)} systems re-estimated:   {t_ranges:6.2f} s "
          f"wall, {c_ranges:.2f} s CPU ({c_ranges / DEFAULT_SAMPLES * 1e3:.1f} ms CPU per draw)")
    for r in rows:
        rg = r["ranges"]
        print(f"  {r['label']:<22} step {r['step_time_s']:.3g} s, p10-p90 {rg['step_time_s']['p10']:.3g}-"
              f"{rg['step_time_s']['p90']:.3g} s; vs ref {r['relative_samples_per_s']:.2f}x, p10-p90 "
              f"{rg['relative_samples_per_s']['p10']:.2f}-{rg['relative_samples_per_s']['p90']:.2f}x")
    run = load_run("examples/fsd-dojo-exapod.yaml")
    t0, c0 = time.perf_counter(), time.process_time()
    estimate_spread(run.model, run.system, run.strategy, samples=DEFAULT_SAMPLES)
    print(f"estimate examples/fsd-dojo-exapod.yaml, {DEFAULT_SAMPLES} draws:       "
          f"{time.perf_counter() - t0:6.2f} s wall, {time.process_time() - c0:.2f} s CPU")


if __name__ == "__main__":
    main()
