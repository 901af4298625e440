"""CLI commands of the planner: `dojosim search`, `dojosim sweep`, `dojosim fleet`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ..errors import SpecError
from ..yamlfile import parse_yaml
from . import _inputs as _in
from ._app import (ASSUMED_LEGEND, FORCE_OPTION, JSON_OPTION, app, approx, check_plot_dir, console, emit_json,
                   is_interactive, print_table, wrote)

from ._ranges import RANGE_NOTE, SAMPLES_OPTION, SEED_OPTION, span


def parse_sets(sets: list[str] | None, path: str = "set") -> dict:
    """``["layers=96", "hidden=12288"]`` -> {"layers": 96, "hidden": 12288} (YAML scalars)."""
    out = {}
    for item in sets or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise SpecError(path, f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_yaml(value, f"{path}.{key.strip()}")
    return out


# ---------------------------------------------------------------- search
@app.command("search")
def search_cmd(
    model: Optional[str] = _in.MODEL,
    sets: Optional[List[str]] = _in.SETS,
    model_file: Optional[str] = _in.MODEL_FILE,
    inputs: Optional[List[str]] = _in.INPUTS,
    system: Optional[str] = _in.SYSTEM,
    devices: Optional[int] = _in.DEVICES,
    global_batch: Optional[int] = _in.GLOBAL_BATCH,
    tp: Optional[int] = typer.Option(None, "--tp", help="Fix the " + _in.SPLIT_HELP["tp"]),
    pp: Optional[int] = typer.Option(None, "--pp", help="Fix the " + _in.SPLIT_HELP["pp"]),
    cp: Optional[int] = typer.Option(None, "--cp", help="Fix the " + _in.SPLIT_HELP["cp"]),
    spatial: Optional[int] = typer.Option(None, "--spatial", help="Fix the " + _in.SPLIT_HELP["spatial"]),
    ep: Optional[int] = typer.Option(None, "--ep", help="Fix the " + _in.SPLIT_HELP["ep"]),
    micro_batch: Optional[int] = typer.Option(None, "--micro-batch", help="Fix the samples per micro-batch"),
    zero: Optional[int] = typer.Option(None, "--zero", help="Fix the " + _in.SPLIT_HELP["zero"]),
    recompute: Optional[str] = typer.Option(None, "--recompute", help="Fix the recompute: " + _in.SPLIT_HELP["recompute"]),
    precision: Optional[str] = typer.Option(None, "--precision", help="Fix the " + _in.SPLIT_HELP["precision"]),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Tokens per sequence (token models)."),
    objective: str = typer.Option("throughput", "--objective", help="throughput | cost | energy."),
    top: int = typer.Option(10, "--top", help="How many strategies to show."),
    fix: Optional[List[str]] = typer.Option(None, "--fix", help="Limit a field: --fix tp=8, --fix recompute=[none,full], --fix precision=fp8."),
    exhaustive: bool = typer.Option(False, "--exhaustive", help="Also cost splits the two pruning rules drop (ZeRO-2/3 with pp>1, tp>1 without SP)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes for the cost and energy objectives "
                                                                 "(default: all cores); the throughput search "
                                                                 "runs best-first in one."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write plots (PNG + SVG) into this directory."),
    force: bool = FORCE_OPTION,
) -> None:
    """Find the best split of a model on a system: every valid strategy, pruned, costed and ranked.

    The split flags (--tp 8, --zero 1, ...) fix that field; --fix takes lists (--fix tp=[4,8]).

    Example: dojosim search --model gpt3-175b --system a100-80gb-dgx --devices 1024 --global-batch 1536 --top 5
    """
    from ..hardware import load_system
    from ..plan.search import search_with_stats

    check_plot_dir(plot, force)
    sets = list(sets or []) + ([f"seq_len={seq_len}"] if seq_len is not None else [])
    mdl = _in.model_from(model, sets, model_file, inputs)
    if system is None:
        raise SpecError("--system", "missing: give --system PRESET (dojosim systems) or a system YAML file")
    sys_ = load_system(system, devices=devices)
    if global_batch is None:
        global_batch = (getattr(mdl, "config", None) or {}).get("global_batch")
        if not global_batch:
            raise SpecError("--global-batch", f"missing: {mdl.name} has no default; give --global-batch N")
    constraints = parse_sets(fix, "fix")
    fixed = _in.split_fields(tp=tp, pp=pp, cp=cp, spatial=spatial, ep=ep, micro_batch=micro_batch, zero=zero,
                             recompute=recompute, precision=precision)
    if "spatial" in fixed:
        fixed["cp"] = fixed.pop("spatial")
    constraints.update(fixed)
    if exhaustive:
        constraints["exhaustive"] = True
    res = search_with_stats(mdl, sys_, global_batch, objective, top, constraints, workers=workers,
                            progress=is_interactive() and not json_)
    if plot is not None:
        from ..report.plots import plot_search

        wrote(plot_search(res.candidates, plot, force=force), json_mode=json_)
    if json_:
        from .engine import estimate_json

        emit_json({"model": mdl.name, "system": sys_.name, "devices": sys_.chips, "global_batch": global_batch,
                   "objective": objective, "stats": res.stats.to_dict(),
                   "candidates": [{"rank": i + 1, "score": c.score, "split": c.strategy.label(mdl),
                                   "strategy": c.strategy.model_dump(mode="json"),
                                   "estimate": estimate_json(c.estimate)}
                                  for i, c in enumerate(res.candidates)]})
        return
    _print_search(mdl, sys_, global_batch, objective, res)


def _print_search(mdl, sys_, global_batch, objective, res) -> None:
    from ..report.table import Col
    from ..units import format_gib, format_number, format_time

    unit = {"throughput": "samples/s", "cost": "$/1M samples", "energy": "J/sample"}[objective]
    scale = 1e6 if objective == "cost" else 1.0
    cols = [Col("#"), Col("split", "left", wrap=True), Col("step"), Col("samples/s"), Col("tokens/s"), Col("MFU"),
            Col("memory/chip")] + ([Col(unit)] if objective != "throughput" else [])
    rows = []
    for i, c in enumerate(res.candidates):
        e = c.estimate
        rows.append([str(i + 1), c.strategy.label(mdl), format_time(e.step_time_s), format_number(e.samples_per_s),
                     format_number(e.tokens_per_s) if e.tokens_per_s else "-", f"{e.mfu:.1%}",
                     format_gib(e.memory.per_device_bytes, 3)]
                    + ([format_number(c.score * scale)] if objective != "throughput" else []))
    print_table(f"best splits of {mdl.name} on {sys_.name} ({sys_.chips:,} devices, batch {global_batch:,}) "
                f"by {objective}", cols, rows, key=1)
    keys = [k for k in res.candidates[0].estimate.breakdown
            if any(c.estimate.breakdown.get(k, 0) > 0 for c in res.candidates)]
    brows = [[str(i + 1)] + [f"{c.estimate.breakdown.get(k, 0) / c.estimate.step_time_s:.1%}" for k in keys]
             for i, c in enumerate(res.candidates)]
    print_table("step time breakdown (share of step)", [Col("#")] + [Col(k.replace("_", " ")) for k in keys], brows)
    s = res.stats
    console.print(f"{s.enumerated:,} strategies ({s.shapes:,} degree splits): {s.pruned_memory:,} pruned by the "
                  f"memory bound, {s.pruned_fit:,} skipped after a leaner variant did not fit, {s.pruned_bound:,} "
                  f"skipped by lower bounds on the step and busy time, {s.evaluated:,} costed ({s.not_fit:,} did not fit, "
                  f"{s.rejected:,} refused) after {s.bound_estimates:,} bound estimates, in {s.wall_s:.2f} s on "
                  f"{s.workers} process(es).", markup=False)
    console.print("split: `dojosim explain-split SPLIT` spells it out.", markup=False)
    from .engine import partition_runs

    best = res.candidates[0].estimate
    runs = partition_runs(best.extra.get("partitions") or [])
    if runs:
        console.print("#1 spreads each sample block by block: " + "; ".join(runs), markup=False)
    for note in best.notes:
        console.print(f"#1: {note}", markup=False)


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
    """Run a design sweep; results are appended to a Parquet store as they arrive.

    Example: dojosim sweep examples/sweeps/dojo-tile-design.yaml --plot out/sweep
    """
    from ..plan.sweep import load_results, run_sweep

    check_plot_dir(plot, force)
    # out/ is git-ignored at the repository root, so running an example there leaves no stray files.
    out = out or Path("out") / "sweeps" / spec.stem
    stats = run_sweep(spec, out, resume=resume, executor=executor, address=address, workers=workers,
                      progress=is_interactive() and not json_)
    if plot is not None:
        from ..report.plots import plot_sweep

        wrote(plot_sweep(load_results(out), plot, force=force), json_mode=json_)
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
    samples: int = SAMPLES_OPTION,
    seed: int = SEED_OPTION,
) -> None:
    """A heterogeneous fleet on one workload: throughput, H100-equivalents, job split, power, cost.

    Example: dojosim fleet examples/fleets/small-mixed.yaml
    """
    from ..plan.fleet import load_fleet, plan_fleet

    result = plan_fleet(load_fleet(spec), workers=workers, samples=samples, seed=seed)
    if json_:
        emit_json(result)
        return
    _print_fleet(result)


def _print_fleet(result: dict) -> None:
    from ..ranges import Spread
    from ..report.table import Col
    from ..units import format as fmt, format_number, format_time

    ref = result["reference"]
    cols = [Col("part", "left", wrap=True), Col("devices"), Col("islands x size"), Col("split", "left", wrap=True),
            Col("samples/s"), Col("share"), Col("H100-eq"), Col("H100-eq by peak"), Col("power"), Col("price")]
    ranged = "range_samples" in result
    if ranged:
        cols += [Col("samples/s p10–p90"), Col("H100-eq p10–p90")]

    def spans(r) -> list:
        if not ranged:
            return []
        rg = {k: Spread(**v) for k, v in (r.get("ranges") or {}).items() if v}
        return [span(rg.get("samples_per_s"), format_number), span(rg.get("h100_eq"), lambda v: f"{v:,.0f}")]

    def eq(v):
        return f"{v:,.0f}" if v is not None else "-"

    rows = []
    for r in result["parts"]:
        a = set(r.get("assumed_totals") or ())
        rows.append([r["name"], f"{r['devices']:,}", f"{r['islands']:,} x {r['island']:,}", r["split"] or "-",
                     format_number(r["samples_per_s"]), f"{r['share']:.1%}", eq(r["h100_eq"]),
                     eq(r["h100_eq_by_peak"]), approx(fmt(r["power_w"], "power"), "power_w" in a),
                     approx(fmt(r["price_usd"], "money"), "price_usd" in a)] + spans(r))
    tot = result["total"]
    any_a = {k for r in result["parts"] for k in (r.get("assumed_totals") or ())}
    rows.append(["total", f"{tot['devices']:,}", "", "", format_number(tot["samples_per_s"]), "100%",
                 eq(tot["h100_eq"]), eq(tot["h100_eq_by_peak"]),
                 approx(fmt(tot["power_w"], "power"), "power_w" in any_a),
                 approx(fmt(tot["price_usd"], "money"), "price_usd" in any_a)] + spans(tot))
    print_table(f"fleet {result['name']}: {result['model']} (batch {result['global_batch']:,}, "
                f"{result['precision']})", cols, rows)
    if ranged:
        console.print(RANGE_NOTE.format(n=result["range_samples"]["samples"]), markup=False)
    if ref["samples_per_s_per_device"]:
        console.print(f"1 H100-equivalent = {format_number(ref['samples_per_s_per_device'])} samples/s: one "
                      f"{ref['preset']} device's share of a {ref['island']:,}-device island ({ref['split']}).",
                      markup=False)
    for r in result["parts"]:
        if r["note"]:
            console.print(f"{r['name']}: {r['note']}", markup=False)
    for how, plan in (result.get("jobs") or {}).items():
        jrows = [[j["job"], format_number(j["samples"]),
                  "all parts by throughput" if how == "proportional" else j["part"],
                  format_time(j["time_s"] if how == "proportional" else j["end_s"] - j["start_s"])]
                 for j in plan["jobs"]]
        print_table(f"jobs, {how.replace('_', ' ')}: makespan {format_time(plan['makespan_s'])}",
                    [Col("job", "left", wrap=True), Col("samples"), Col("where", "left", wrap=True), Col("time")],
                    jrows)
    for note in result["notes"]:
        console.print(f"note: {note}", markup=False)
    if any_a:
        console.print(ASSUMED_LEGEND, markup=False)
