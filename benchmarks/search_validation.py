"""Search on the published validation cases: with each case's device count, global batch and
precision, does the search find a split at least as fast (by the engine) as the published one?

    python benchmarks/search_validation.py [--cases FILE] [--workers N] [--markdown] [--max-devices N]

Prints one row per case: the published split's predicted samples/s, the best split found, its
samples/s, the ratio, and the search's wall time and estimate count. Exit code 1 if any case's
search falls below the published split (a case whose published split does not fit is reported
as such; the search must then find one that fits).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from dojosim.validate import PUBLISHED_CASES as DEFAULT_CASES  # the cases shipped in the package


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=str(DEFAULT_CASES))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--max-devices", type=int, default=None)
    ap.add_argument("--min-devices", type=int, default=None)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    from dojosim.engine.estimate import estimate
    from dojosim.errors import SpecError
    from dojosim.plan.search import search_with_stats
    from dojosim.run import load_cases

    rows, worse = [], 0
    t_all = time.perf_counter()
    for case in load_cases(args.cases):
        try:
            run = case.run()
        except SpecError as err:
            rows.append((case.id, "-", "-", "-", "-", "-", "-", f"cannot build: {err}"))
            continue
        if args.max_devices and run.system.chips > args.max_devices:
            continue
        if args.min_devices and run.system.chips < args.min_devices:
            continue
        pub = estimate(run.model, run.system, run.strategy)
        res = search_with_stats(run.model, run.system, run.strategy.global_batch, top=1, workers=args.workers,
                                constraints={"precision": run.strategy.precision})
        best = res.candidates[0]
        ratio = best.score / pub.samples_per_s
        note = "" if pub.memory.fits else "published split predicted not to fit"
        if ratio < 1 - 1e-9 and pub.memory.fits:
            worse += 1
            note = "SEARCH BELOW PUBLISHED"
        rows.append((case.id, run.strategy.label(run.model), f"{pub.samples_per_s:,.2f}", best.strategy.label(run.model),
                     f"{best.score:,.2f}", f"{ratio:.3f}", f"{res.stats.wall_s:.1f} s / {res.stats.evaluated:,}", note))
        if not args.markdown:
            print(" | ".join(rows[-1]), flush=True)
    header = ("case", "published split", "samples/s", "best split found", "samples/s", "ratio",
              "search time / estimates", "note")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    print(f"\n{len(rows)} cases in {time.perf_counter() - t_all:.0f} s with {args.workers} workers; "
          f"search below published on {worse}.")
    sys.exit(1 if worse else 0)


if __name__ == "__main__":
    main()
