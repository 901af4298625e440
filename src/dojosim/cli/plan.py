"""CLI commands of the planner: `dojosim search`, `dojosim sweep`, `dojosim fleet`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ..errors import SpecError
from ..yamlfile import parse_yaml
from ..plan.search import split_text
from ._app import FORCE_OPTION, JSON_OPTION, app, check_plot_dir, console, emit_json, is_interactive

_SPLIT_KEYS = ("dp", "tp", "pp", "cp", "ep")


def parse_sets(sets: list[str] | None, path: str = "set") -> dict:
    """``["layers=96", "hidden=12288"]`` -> {"layers": 96, "hidden": 12288} (YAML scalars)."""
    out = {}
    for item in sets or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise SpecError(path, f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_yaml(value, f"{path}.{key.strip()}")
    return out


def _order_text(strategy) -> str:
    # ep reuses data-parallel ranks and takes no place of its own in the level mapping.
    degrees = {k: getattr(strategy, k) for k in _SPLIT_KEYS if k != "ep"}
    return ">".join(d for d in strategy.order if degrees.get(d, 1) > 1) or "-"


# ---------------------------------------------------------------- search
@app.command("search")
def search_cmd(
    model: str = typer.Option(..., "--model", help="A zoo model (dojosim models), e.g. gpt3-175b."),
    sets: Optional[List[str]] = typer.Option(None, "--set", help="Override a model field: --set layers=48."),
    system: str = typer.Option(..., "--system", help="A preset or a system YAML file."),
    devices: Optional[int] = typer.Option(None, "--devices", help="Accelerators in total (default: the preset's)."),
    global_batch: int = typer.Option(..., "--global-batch", help="Samples (sequences, images, clips) per step."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Tokens per sequence (token models)."),
    objective: str = typer.Option("throughput", "--objective", help="throughput | cost | energy."),
    top: int = typer.Option(10, "--top", help="How many strategies to show."),
    fix: Optional[List[str]] = typer.Option(None, "--fix", help="Limit a field: --fix tp=8, --fix recompute=[none,full], --fix precision=fp8."),
    exhaustive: bool = typer.Option(False, "--exhaustive", help="Also cost splits the two pruning rules drop (ZeRO-2/3 with pp>1, tp>1 without SP)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: all cores)."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write plots (PNG + SVG) into this directory."),
    force: bool = FORCE_OPTION,
) -> None:
    """Find the best split of a model on a system: every valid strategy, pruned, costed and ranked."""
    from ..hardware import load_system
    from ..plan.search import search_with_stats
    from ..workload import build

    check_plot_dir(plot, force)
    overrides = parse_sets(sets)
    if seq_len is not None:
        overrides["seq_len"] = seq_len
    mdl = build(model, **overrides)
    sys_ = load_system(system, devices=devices)
    constraints = parse_sets(fix, "fix")
    if exhaustive:
        constraints["exhaustive"] = True
    res = search_with_stats(mdl, sys_, global_batch, objective, top, constraints, workers=workers,
                            progress=is_interactive() and not json_)
    if plot is not None:
        from ..report.plots import plot_search

        plot_search(res.candidates, plot, force=force)
    if json_:
        from .engine import estimate_json

        emit_json({"model": mdl.name, "system": sys_.name, "devices": sys_.chips, "global_batch": global_batch,
                   "objective": objective, "stats": res.stats.to_dict(),
                   "candidates": [{"rank": i + 1, "score": c.score, "split": split_text(c.strategy),
                                   "strategy": c.strategy.model_dump(mode="json"),
                                   "estimate": estimate_json(c.estimate)}
                                  for i, c in enumerate(res.candidates)]})
        return
    _print_search(mdl, sys_, global_batch, objective, res)


def _print_search(mdl, sys_, global_batch, objective, res) -> None:
    from ..units import format as fmt, format_time

    unit = {"throughput": "samples/s", "cost": "USD/sample", "energy": "J/sample"}[objective]
    t = Table(title=f"best splits of {mdl.name} on {sys_.name} ({sys_.chips:,} devices, batch {global_batch:,}) "
                    f"by {objective}")
    cols = ["#", "split", "order", "step", "samples/s", "tokens/s", "MFU", "mem/device"]
    if objective != "throughput":
        cols.append(unit)
    for col in cols:
        t.add_column(col, justify="left" if col in ("split", "order") else "right")
    for i, c in enumerate(res.candidates):
        e = c.estimate
        t.add_row(str(i + 1), split_text(c.strategy), _order_text(c.strategy), format_time(e.step_time_s),
                  f"{e.samples_per_s:,.2f}", f"{e.tokens_per_s:,.0f}" if e.tokens_per_s else "-", f"{e.mfu:.1%}",
                  fmt(e.memory.per_device_bytes, "bytes", 3), *([f"{c.score:.4g}"] if objective != "throughput" else []))
    console.print(t)
    keys = [k for k in res.candidates[0].estimate.breakdown
            if any(c.estimate.breakdown.get(k, 0) > 0 for c in res.candidates)]
    b = Table(title="step time breakdown (share of step)")
    b.add_column("#", justify="right")
    for k in keys:
        b.add_column(k, justify="right")
    for i, c in enumerate(res.candidates):
        e = c.estimate
        b.add_row(str(i + 1), *(f"{e.breakdown.get(k, 0) / e.step_time_s:.1%}" for k in keys))
    console.print(b)
    s = res.stats
    console.print(f"{s.enumerated:,} strategies ({s.shapes:,} degree splits): {s.pruned_memory:,} pruned by the "
                  f"memory bound, {s.pruned_fit:,} skipped after a leaner variant did not fit, {s.pruned_bound:,} "
                  f"level orders skipped by the compute bound, {s.evaluated:,} costed ({s.not_fit:,} did not fit, {s.rejected:,} refused) in "
                  f"{s.wall_s:.2f} s on {s.workers} process(es) — {s.evals_per_s:,.0f} estimates/s.")


# ---------------------------------------------------------------- sweep
@app.command("sweep")
def sweep_cmd(
    spec: Path = typer.Argument(..., help="Sweep file (base run, grid and/or random samples)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted sweep in --out."),
    executor: str = typer.Option("local", "--executor", help="local (process pool) | ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (with --executor ray)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Parallel workers (default: all cores)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results directory (default: out/sweeps/NAME under the current directory)."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write plots (PNG + SVG) into this directory."),
    force: bool = FORCE_OPTION,
) -> None:
    """Run a design sweep; results are appended to a Parquet store as they arrive."""
    from ..plan.sweep import load_results, run_sweep

    check_plot_dir(plot, force)
    # out/ is git-ignored at the repository root, so running an example there leaves no stray files.
    out = out or Path("out") / "sweeps" / spec.stem
    stats = run_sweep(spec, out, resume=resume, executor=executor, address=address, workers=workers,
                      progress=is_interactive() and not json_)
    if plot is not None:
        from ..report.plots import plot_sweep

        plot_sweep(load_results(out), plot, force=force)
    if json_:
        emit_json(stats)
    else:
        console.print(f"{stats['points']:,} points: {stats['skipped']:,} already done, {stats['written']:,} written "
                      f"({stats['errors']:,} with errors) to {stats['out']}", markup=False)
        console.print("load them with: dojosim.plan.sweep.load_results(PATH) -> pandas DataFrame", markup=False)
    if stats["written"] and stats["errors"] == stats["written"]:
        raise SpecError("sweep", f"every one of the {stats['written']:,} points failed; the first: {stats['first_error']}")


# ---------------------------------------------------------------- fleet
@app.command("fleet")
def fleet_cmd(
    spec: Path = typer.Argument(..., help="Fleet file (parts and a workload)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes for each search (default: all cores)."),
    json_: bool = JSON_OPTION,
) -> None:
    """A heterogeneous fleet on one workload: throughput, H100-equivalents, job split, power, cost."""
    from ..plan.fleet import load_fleet, plan_fleet

    result = plan_fleet(load_fleet(spec), workers=workers)
    if json_:
        emit_json(result)
        return
    from ..plan.fleet import print_fleet

    print_fleet(result, console)
