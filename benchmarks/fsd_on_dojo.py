"""Print every table of docs/fsd-on-dojo.md from the real CLI, so the page can be regenerated.

    python benchmarks/fsd_on_dojo.py

Runs `dojosim estimate --json` on the six examples/fsd-*.yaml runs and `dojosim compare --json`
with the arguments the page shows, and prints Markdown tables plus the per-op-kind time shares
that the page quotes.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ("fsd-dojo-tile", "fsd-h100-equal-tile", "fsd-dojo-tray", "fsd-h100-equal-tray", "fsd-dojo-exapod",
        "fsd-h100-equal-exapod", "fsd-dojo-exapod-fed")
COMPARES = ((), ("--normalize", "chips"), ("--normalize", "price"), ("--set", "frames=4"),
            ("--set", "frames=1", "--set", "image_height=480", "--set", "image_width=640"))


def cli(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "dojosim", *args, "--json"], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout)


def runs_table() -> None:
    print("| run | devices | power | step | clips/s | MFU | memory per device (need / have) | energy per clip "
          "| compute share of step | input share |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for name in RUNS:
        d = cli("estimate", f"examples/{name}.yaml")
        gb = d["strategy"]["global_batch"]
        mem = d["memory"]
        fit = "fits" if mem["fits"] else "**does not fit**"
        print(f"| `{name}` | {d['devices']} | {d['power_w'] / 1e3:,.1f} kW | {d['step_time_s']:.3f} s | "
              f"{d['samples_per_s']:,.1f} | {d['mfu']:.1%} | {mem['per_device_bytes'] / 1e9:.2f} / "
              f"{mem['capacity_bytes'] / 1e9:.2f} GB {fit} | {d['energy_j_per_step'] / gb:,.0f} J | "
              f"{d['breakdown']['compute'] / d['step_time_s']:.0%} | "
              f"{d['breakdown']['input'] / d['step_time_s']:.0%} |")


def compare_table(args: tuple[str, ...]) -> None:
    d = cli("compare", *args)
    print(f"\n`dojosim compare {' '.join(args)}` (global batch {d['rows'][0]['global_batch']:,})\n")
    print("| system | devices | power | price (assumed) | split | step | clips/s | vs Dojo | MFU | memory / device "
          "| energy / clip | cost / clip |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in d["rows"]:
        if r.get("error"):
            print(f"| {r['system']} | {r['devices']:,} | | | {r['error']} | | | | | | | |")
            continue
        fit = "" if r["fits"] else " **(does not fit)**"
        print(f"| {r['system']} | {r['devices']:,} | {r['power_w'] / 1e3:,.0f} kW | ${r['price_usd'] / 1e6:,.2f}M | "
              f"{r['split']} | {r['step_time_s']:.3f} s | {r['samples_per_s']:,.0f} | "
              f"{r['relative_samples_per_s']:.2f}x | {r['mfu']:.1%} | {r['memory_per_device_bytes'] / 1e9:.2f} GB of "
              f"{r['memory_capacity_bytes'] / 1e9:.2f}{fit} | {r['energy_j_per_sample']:,.0f} J | "
              f"${r['cost_usd_per_sample'] * 1e6:,.1f}µ |")


def op_shares() -> None:
    """Share of each op kind in one clip's op time (ops weighted by their block's repeat count)."""
    sys.path.insert(0, str(ROOT / "src"))
    from dojosim.engine import estimate
    from dojosim.report.roofline import pool_roofs
    from dojosim.report.timeline import model_op_counts
    from dojosim.run import load_run

    print()
    for name in ("fsd-dojo-tile", "fsd-h100-equal-tile", "fsd-dojo-exapod"):
        r = load_run(ROOT / "examples" / f"{name}.yaml")
        e = estimate(r.model, r.system, r.strategy)
        counts = model_op_counts(r.model)
        kinds = {op.name: op.kind for b in r.model.blocks for op in b.ops}
        by_kind: dict[str, float] = {}
        for n, f, b, *_ in e.stage.ops:   # (name, fwd s, bwd s, fwd FLOPs, ...)
            by_kind[kinds[n]] = by_kind.get(kinds[n], 0.0) + (f + b) * counts.get(n, 1)
        total = sum(by_kind.values()) or 1.0
        shares = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(by_kind.items(), key=lambda x: -x[1]))
        roofs = ", ".join(f"{label} {bw / 1e9:,.0f} GB/s" for label, bw in pool_roofs(r.system))
        print(f"{name}: one micro-batch's forward+backward on one device "
              f"{e.stage.forward_s + e.stage.backward_s:.3f} s; "
              f"op time by kind: {shares}" + (f"; {roofs}" if roofs else ""))


def main() -> None:
    runs_table()
    if "--runs" in sys.argv:
        return
    for args in COMPARES:
        compare_table(args)
    op_shares()


if __name__ == "__main__":
    main()
