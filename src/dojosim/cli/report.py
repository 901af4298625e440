"""CLI commands that show predictions: `compare`, `trace` and `report`."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..errors import SpecError
from ._app import (ASSUMED_LEGEND, FORCE_OPTION, JSON_OPTION, app, approx, check_plot_dir, console, emit_json,
                   is_interactive, print_table, wrote)
from ._ranges import RANGE_NOTE, SAMPLES_OPTION, SEED_OPTION, span

PLOT_OPTION = typer.Option(None, "--plot", help="Write plots (PNG + SVG) into this directory.")


def _split_list(text: Optional[str]) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


@contextlib.contextmanager
def _status(message: str):
    """A spinner on a terminal; nothing in a pipe. Yields a function that updates the message."""
    if is_interactive():
        with console.status(message) as st:
            yield lambda text: st.update(f"{message}: {text}")
    else:
        yield lambda text: None


def _others_for(system_name: str) -> list[str]:
    """The default systems to put a run beside: NVIDIA for a Dojo run, Dojo for anything else."""
    from ..report.compare import DEFAULT_SYSTEMS

    if system_name.startswith("dojo") or system_name == "d1":
        return [DEFAULT_SYSTEMS[1]]
    return [DEFAULT_SYSTEMS[0]]


def _print_compare(rows: list[dict], model_name: str) -> None:
    from rich.text import Text

    from ..report.table import Col
    from ..units import format as fmt, format_gib, format_number, format_time

    norm = rows[0]["normalize"] if rows else ""
    ranged = any(r.get("ranges") for r in rows)
    cols = [Col("system", "left", wrap=True), Col("chips"), Col("power"), Col("price"), Col("split", "left", wrap=True),
            Col("step"), Col("samples/s"), Col("vs ref"), Col("MFU"), Col("memory/chip"),
            Col("energy/sample"), Col("$/1M samples")]
    if ranged:
        cols += [Col("step p10–p90"), Col("samples/s p10–p90"), Col("vs ref p10–p90")]
    table = []
    for r in rows:
        a = set(r.get("assumed") or ())
        head = [r["label"], f"{r['devices']:,}", approx(fmt(r["power_w"], "power"), "power_w" in a),
                approx(fmt(r["price_usd"], "money"), "price_usd" in a)]
        if r.get("error"):
            table.append(head + ["see below"] + ["-"] * (len(cols) - 5))
            continue
        mem = format_gib(r["memory_per_device_bytes"]) + ("" if r["fits"] else " (no fit)")
        table.append(head + [
            r["split"], format_time(r["step_time_s"]), format_number(r["samples_per_s"]),
            f"{r['relative_samples_per_s']:.2f}x" if r.get("relative_samples_per_s") else "n/a",
            f"{r['mfu']:.1%}", Text(mem, style="" if r["fits"] else "red"),
            approx(fmt(r["energy_j_per_sample"], "energy"), "power_w" in a),
            approx(f"${format_number(r['cost_usd_per_sample'] * 1e6)}", "price_usd" in a)])
        if ranged:
            sp = _spreads(r)
            table[-1] += [span(sp.get("step_time_s"), format_time), span(sp.get("samples_per_s"), format_number),
                          span(sp.get("relative_samples_per_s"), lambda v: f"{v:.2f}x")]
    print_table(f"{model_name}: equal {norm} (global batch {rows[0]['global_batch']:,})" if rows else model_name,
                cols, table)
    for r in rows:
        if r.get("error"):
            console.print(f"{r['label']}: {r['error']}", markup=False)
        elif not r["fits"]:
            console.print(f"{r['label']}: DOES NOT FIT — no split fits in memory; shown is the split closest to "
                          f"fitting, timed as if it did, needing {format_gib(r['memory_per_device_bytes'])} per "
                          f"device of {format_gib(r['memory_capacity_bytes'])}", markup=False)
    if ranged:
        console.print(RANGE_NOTE.format(n=rows[0]["range_samples"]["samples"]), markup=False)
    if any(r.get("cost_is_amortized") for r in rows):
        console.print("$/1M samples: the hardware price paid off over 4 years, plus electricity.", markup=False)
    if any(r.get("assumed") for r in rows):
        console.print(ASSUMED_LEGEND, markup=False)
    console.print("split: `dojosim explain-split SPLIT` spells it out.", markup=False)


def _spreads(row: dict) -> dict:
    from ..ranges import Spread

    return {k: Spread(**v) for k, v in (row.get("ranges") or {}).items() if v}


@app.command("compare")
def compare_cmd(
    model: Optional[str] = typer.Option(None, "--model", help="Zoo model (default: fsd, Tesla's vision network)."),
    sets: Optional[List[str]] = typer.Option(None, "--set", help="Override a model field: --set frames=4."),
    run: Optional[Path] = typer.Option(None, "--run", help="A run file: its workload, and its system first."),
    systems: Optional[str] = typer.Option(None, "--systems",
                                          help="Comma-separated presets; the first is the reference "
                                               "(default: dojo-exapod,h100-dgx)."),
    normalize: str = typer.Option("power", "--normalize", help="Equalize systems on chips, power or price."),
    global_batch: Optional[int] = typer.Option(None, "--global-batch", "--global-batch-size", help="Samples per step (default: the "
                                                                             "model's, or one per device)."),
    objective: str = typer.Option("throughput", "--objective", help="What the split search optimizes: "
                                                                   "throughput, cost or energy."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    samples: int = SAMPLES_OPTION,
    seed: int = SEED_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """One workload on several systems side by side, at equal chips, power or price.

    With no arguments: the FSD network on a Dojo ExaPOD against H100 DGX nodes of equal power.

    Example: dojosim compare --model gpt3-175b --systems h100-dgx,dojo-exapod --normalize price
    """
    from ..report.compare import DEFAULT_MODEL, DEFAULT_SYSTEMS, compare, rows_to_json

    check_plot_dir(plot, force)
    names = _split_list(systems)
    strategy = assumptions = None
    if run is not None:
        if model is not None or sets:
            raise SpecError("--model", "give --model/--set or --run, not both")
        from ..run import load_run

        r = load_run(run)
        mdl, ref = r.model, r.system
        strategy, assumptions = r.strategy, r.assumptions
        sys_list = [ref] + (names or _others_for(ref.preset or ref.name))
    else:
        from ..workload import build
        from .plan import parse_sets

        mdl = build(model or DEFAULT_MODEL, **parse_sets(sets))
        sys_list = names or list(DEFAULT_SYSTEMS)
    with _status("comparing") as update:
        rows = compare(mdl, sys_list, normalize=normalize, global_batch=global_batch, objective=objective,
                       strategy=strategy, progress=update, assumptions=assumptions, samples=samples,
                       seed=seed)
    if plot is not None:
        from ..report.plots import plot_compare

        wrote(plot_compare([r for r in rows if not r.get("error")], plot, force=force), json_mode=json_)
    if json_:
        out = {"model": mdl.name, "normalize": normalize, "objective": objective, "rows": rows_to_json(rows)}
        if any(r.get("ranges") for r in rows):
            # each system's throughput relative to the reference, sampled jointly (shared
            # assumptions move both sides of the ratio together)
            out["ratios"] = [{"system": r["label"], "reference": rows[0]["label"], "figure": "samples_per_s",
                              "point": r.get("relative_samples_per_s"),
                              "range": r["ranges"]["relative_samples_per_s"]}
                             for r in rows[1:] if r.get("ranges")]
        emit_json(out)
    else:
        _print_compare(rows, mdl.name)


def _estimate_run(run: Path):
    from ..engine import estimate
    from ..run import load_run

    r = load_run(run)
    return r, estimate(r.model, r.system, r.strategy, r.assumptions)


@app.command("trace")
def trace_cmd(
    run: Path = typer.Argument(..., help="Run file (workload, system, strategy)."),
    output: Path = typer.Option(Path("step.json"), "-o", "--output", help="Trace file to write (JSON)."),
    gantt: Optional[Path] = typer.Option(None, "--gantt", help="Also draw the timeline as a Gantt chart "
                                                                 "(.png or .svg)."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Write the predicted timeline of one step as a Chrome/Perfetto trace (open it in ui.perfetto.dev).

    Example: dojosim trace examples/fsd-dojo-tile.yaml -o out/step.json
    """
    from ..outfile import check_output
    from ..report.gantt import GANTT_SUFFIXES
    from ..report.timeline import timeline
    from ..report.trace import timeline_hints, write_trace

    check_output(output, force=force, what="--output")
    if gantt is not None:
        check_output(gantt, force=force, what="--gantt", suffixes=GANTT_SUFFIXES)
    check_plot_dir(plot, force)
    r, est = _estimate_run(run)
    path = write_trace(est, output, model=r.model, force=force)
    tl = timeline(est, **timeline_hints(r.model))
    extra = []
    if gantt is not None:
        from ..report.gantt import plot_gantt

        extra.append(plot_gantt(est, gantt, force=force))
    if plot is not None:
        from ..report.plots import plot_estimate

        extra += plot_estimate(est, plot, model=r.model, system=r.system, force=force)
    summary = {"trace": str(path), "events": len(tl.events), "tracks": len(tl.tracks),
               "step_time_s": tl.step_time_s, "estimate_step_time_s": est.step_time_s,
               "pipeline_stages": tl.pipeline_stages, "micro_batches": tl.micro_batches,
               "interleave": tl.interleave, "bubble_s": tl.bubble_s, "truncated": tl.truncated,
               "notes": list(tl.notes), "plots": [str(p) for p in extra]}
    if json_:
        emit_json(summary)
        return
    from ..units import format_time

    t = Table(title=f"trace of one step: {est.model} on {est.system}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("file", str(path))
    t.add_row("events / tracks", f"{len(tl.events):,} / {len(tl.tracks)}")
    cut = f" (first {tl.micro_batches} micro-batches only)" if tl.truncated else ""
    t.add_row("step (timeline / estimate)", f"{format_time(tl.step_time_s)}{cut} / {format_time(est.step_time_s)}")
    t.add_row("schedule", f"{tl.schedule}: {tl.pipeline_stages} stage(s) x {tl.micro_batches} micro-batches"
                          + (f", interleave {tl.interleave}" if tl.interleave > 1 else ""))
    t.add_row("stage-0 bubble", format_time(tl.bubble_s))
    console.print(t)
    for n in tl.notes:
        console.print(f"note: {n}", markup=False)
    for p in extra:
        console.print(f"wrote {p}", markup=False)


@app.command("report")
def report_cmd(
    run: Path = typer.Argument(..., help="Run file (workload, system, strategy)."),
    output: Path = typer.Option(Path("report.html"), "-o", "--output", help="HTML file to write."),
    systems: Optional[str] = typer.Option(None, "--systems", help="Systems to compare the run with "
                                                                  "(comma-separated presets)."),
    normalize: str = typer.Option("power", "--normalize", help="Equalize compared systems on chips, power "
                                                               "or price."),
    no_compare: bool = typer.Option(False, "--no-compare", help="Leave out the comparison (faster)."),
    claims: bool = typer.Option(False, "--claims", help="Add the ledger of Tesla's Dojo claims "
                                                        "(dojosim claims)."),
    no_sensitivity: bool = typer.Option(False, "--no-sensitivity", help="Leave out which assumptions the "
                                                                        "answer depends on (dojosim sensitivity)."),
    cloud_jobs: Optional[int] = typer.Option(None, "--cloud", help="Add a section on N synthetic tenants' "
                                                                   "jobs on the run's system (dojosim cloud "
                                                                   "--synthetic N, seed 0, backfill)."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Write one self-contained HTML report of a run: estimate, breakdowns, memory, timeline, comparison.

    Example: dojosim report examples/fsd-dojo-tile.yaml -o out/report.html
    """
    from ..outfile import check_output
    from ..report.compare import compare, rows_to_json
    from ..report.html import write_report

    check_output(output, force=force, what="--output")
    check_plot_dir(plot, force)
    if cloud_jobs is not None:
        from ..plan.cloud.jobs import MAX_JOBS

        if not 1 <= cloud_jobs <= MAX_JOBS:   # checked before the long work, named as the user wrote it
            raise SpecError("--cloud", f"must be a whole number of jobs from 1 to {MAX_JOBS:,}, got {cloud_jobs}")
    with _status("estimating") as update:
        r, est = _estimate_run(run)
        rows: list[dict] = []
        if not no_compare:
            others = _split_list(systems) or _others_for(r.system.preset or r.system.name)
            update("comparing")
            rows = compare(r.model, [r.system] + others, normalize=normalize, strategy=r.strategy,
                           global_batch=r.strategy.global_batch, progress=update)
        ledger_entries = []
        if claims:
            from ..cli.claims import default_claims_dir
            from ..plan.claims import ledger

            update("checking claims")
            ledger_entries = ledger(default_claims_dir())
        sens = None
        if not no_sensitivity:
            from ..plan.sensitivity import sensitivity

            update("swinging the assumptions")
            sens = sensitivity([r])
        cloud = None
        if cloud_jobs is not None:
            from ..plan.cloud import run_cloud
            from ..plan.cloud import synthetic as draw

            preset = r.system.preset
            if not preset:
                raise SpecError("cloud", "a cloud section needs the run's system to be a preset")
            update("scheduling tenants' jobs")
            cloud = run_cloud(draw(cloud_jobs, 0), preset, 1, "backfill", load=0.9, compare=[],
                              keep_cells=False)
        update("drawing")
        path = write_report(est, output, model=r.model, system=r.system, compare_rows=rows, run=r.raw,
                            claims=ledger_entries, sensitivity=sens, cloud=cloud, force=force)
    if plot is not None:
        from ..report.plots import plot_estimate

        wrote(plot_estimate(est, plot, model=r.model, system=r.system, force=force), json_mode=json_)
    if json_:
        emit_json({"report": str(path), "bytes": path.stat().st_size, "step_time_s": est.step_time_s,
                   "compare": rows_to_json(rows)})
    else:
        console.print(f"wrote {path} ({path.stat().st_size / 1e3:,.0f} kB); open it in a browser", markup=False)
