"""CLI commands of the engine: `dojosim estimate RUN.yaml` and `dojosim validate [--cases FILE]`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..errors import SpecError
from . import _inputs as _in
from ._app import FORCE_OPTION, JSON_OPTION, app, check_plot_dir, console, emit_json, is_interactive, print_table, wrote
from ._ranges import RANGE_NOTE, SAMPLES_OPTION, SEED_OPTION, span, spread_json

PLOT_OPTION = typer.Option(None, "--plot", help="Write plots (PNG + SVG) into this directory.")


def estimate_json(est) -> dict:
    """The JSON of one estimate: the headline figures first, then everything else."""
    mem = est.memory
    out = {
        "model": est.model,
        "system": est.system,
        "devices": est.devices,
        "step_time_s": est.step_time_s,
        "samples_per_s": est.samples_per_s,
        "tokens_per_s": est.tokens_per_s,
        "model_flops_per_step": est.model_flops_per_step,
        "hardware_flops_per_step": est.hardware_flops_per_step,
        "mfu": est.mfu,
        "hfu": est.hfu,
        "memory": {"per_device_bytes": mem.per_device_bytes, "capacity_bytes": mem.capacity_bytes,
                   "fits": mem.fits, "components": mem.components, "tiers": mem.tiers},
        "energy_j_per_step": est.energy_j_per_step,
        "power_w": est.power_w,
        "breakdown": dict(est.breakdown),
        "micro_batches": est.micro_batches,
        "pipeline_stages": est.pipeline_stages,
        "interleave": est.interleave,
        "strategy": est.strategy,
        "notes": list(est.notes),
        "op_bounds": est.extra.get("op_bounds", {}),
        "partitions": est.extra.get("partitions", []),
        "input": est.extra.get("input", {}),
    }
    return out


def with_ranges(out: dict, sampled) -> dict:
    """An estimate's JSON with ``range`` (of the step time), ``ranges`` (every sampled figure) and
    what was sampled; unchanged when nothing was (``--samples 0``)."""
    if sampled is None:
        return out
    ranges = spread_json(sampled)
    out["range"] = ranges.get("step_time_s")
    out["ranges"] = ranges
    out["range_samples"] = sampled.to_dict()
    return out


def partition_runs(partitions) -> list[str]:
    """Consecutive blocks on the same partition (and pipeline stage) as one "first..last:
    partition" entry; "stage N" is added when the blocks span several stages."""
    staged = len({p[2] for p in partitions if len(p) > 2}) > 1
    key = (lambda p: (p[1], p[2])) if staged else (lambda p: p[1])  # noqa: E731
    out, start = [], 0
    for i in range(1, len(partitions) + 1):
        if i == len(partitions) or key(partitions[i]) != key(partitions[start]):
            first, last = partitions[start][0], partitions[i - 1][0]
            name = first if first == last else f"{first}..{last}"
            where = f" (stage {partitions[start][2]})" if staged else ""
            out.append(f"{name}: {partitions[start][1]}{where}")
            start = i
    return out


def _print_estimate(est, sampled=None) -> None:
    from ..strategy import label
    from ..units import format as fmt, format_gib, format_number, format_time

    spreads = sampled.outputs if sampled is not None else {}
    t = Table(title=f"{est.model} on {est.system} ({est.devices:,} devices)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    if sampled is not None:
        t.add_column("p10–p90", justify="right")

    def row(name, value, key=None, text=None):
        cells = [name, value]
        if sampled is not None:
            cells.append(span(spreads.get(key), text) if key else "")
        t.add_row(*cells)

    row("split", label(est.strategy, spatial=est.tokens_per_s is None))
    row("step time", format_time(est.step_time_s), "step_time_s", format_time)
    row("samples/s", format_number(est.samples_per_s), "samples_per_s", format_number)
    if est.tokens_per_s is not None:
        row("tokens/s", f"{est.tokens_per_s:,.0f}", "tokens_per_s", lambda v: f"{v:,.0f}")
    row("model FLOPs / step", fmt(est.model_flops_per_step, "flop"))
    row("MFU / HFU", f"{est.mfu:.1%} / {est.hfu:.1%}", "mfu", lambda v: f"{v:.1%}")
    row("memory / device", f"{format_gib(est.memory.per_device_bytes)} of "
                           f"{format_gib(est.memory.capacity_bytes)}")
    row("energy / step", fmt(est.energy_j_per_step, "energy"), "energy_j_per_step", lambda v: fmt(v, "energy"))
    console.print(t)
    if sampled is not None:
        console.print(RANGE_NOTE.format(n=sampled.samples), markup=False)
    b = Table(title="step time breakdown")
    b.add_column("component")
    b.add_column("time", justify="right")
    b.add_column("share", justify="right")
    for k, v in est.breakdown.items():
        if v > 0:
            b.add_row(k, format_time(v), f"{v / est.step_time_s:.1%}")
    console.print(b)
    bounds = est.extra.get("op_bounds") or {}
    if bounds:
        console.print("ops' time by what bound it: " + ", ".join(
            f"{k} {v:.0%}" for k, v in sorted(bounds.items(), key=lambda kv: -kv[1])), markup=False)
    runs = partition_runs(est.extra.get("partitions") or [])
    if runs:
        cp = (est.strategy or {}).get("cp", 1)
        console.print(f"each sample over {cp} chips, block by block: " + "; ".join(runs), markup=False)
    if not est.memory.fits:
        console.print(Text.assemble(("DOES NOT FIT:", "bold red"), f" needs {format_gib(est.memory.per_device_bytes)} "
                                    f"per device, {format_gib(est.memory.capacity_bytes)} available "
                                    "(the times above assume it did)"))
    for note in est.notes:
        console.print(f"note: {note}", markup=False)


@app.command("estimate")
def estimate_cmd(
    run: Optional[Path] = typer.Argument(None, help="Run file (workload, system, strategy); or use the flags."),
    model: Optional[str] = _in.MODEL,
    sets: Optional[List[str]] = _in.SETS,
    model_file: Optional[str] = _in.MODEL_FILE,
    inputs: Optional[List[str]] = _in.INPUTS,
    system: Optional[str] = _in.SYSTEM,
    devices: Optional[int] = _in.DEVICES,
    global_batch: Optional[int] = _in.GLOBAL_BATCH,
    dp: Optional[int] = typer.Option(None, "--dp", help=_in.SPLIT_HELP["dp"]),
    tp: Optional[int] = typer.Option(None, "--tp", help=_in.SPLIT_HELP["tp"]),
    pp: Optional[int] = typer.Option(None, "--pp", help=_in.SPLIT_HELP["pp"]),
    cp: Optional[int] = typer.Option(None, "--cp", help=_in.SPLIT_HELP["cp"]),
    spatial: Optional[int] = typer.Option(None, "--spatial", help=_in.SPLIT_HELP["spatial"]),
    ep: Optional[int] = typer.Option(None, "--ep", help=_in.SPLIT_HELP["ep"]),
    interleave: Optional[int] = typer.Option(None, "--interleave", help=_in.SPLIT_HELP["interleave"]),
    micro_batch: Optional[int] = typer.Option(None, "--micro-batch", help=_in.SPLIT_HELP["micro_batch"]),
    zero: Optional[int] = typer.Option(None, "--zero", help=_in.SPLIT_HELP["zero"]),
    recompute: Optional[str] = typer.Option(None, "--recompute", help=_in.SPLIT_HELP["recompute"]),
    precision: Optional[str] = typer.Option(None, "--precision", help=_in.SPLIT_HELP["precision"]),
    sp: bool = typer.Option(False, "--sp", help="sequence parallelism (needs --tp > 1)"),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    samples: int = SAMPLES_OPTION,
    seed: int = SEED_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Predict one training step: time, breakdown, throughput, memory, energy, each headline
    figure with its p10-p90 range over the assumed figures.

    Give a run file, or the model, system and split as flags (no YAML needed).

    Example: dojosim estimate --model gpt3-175b --system a100-80gb-dgx --devices 1024 --tp 8 --pp 8
    --micro-batch 1 --global-batch 1536 --recompute full
    """
    from ..assumptions import DEFAULT
    from ..engine import estimate
    from ..ranges import estimate_spread

    check_plot_dir(plot, force)
    fields = _in.split_fields(dp=dp, tp=tp, pp=pp, cp=cp, spatial=spatial, ep=ep, interleave=interleave,
                              micro_batch=micro_batch, zero=zero, recompute=recompute, precision=precision,
                              sp=sp, global_batch=global_batch)
    flags = [n for n, v in (("--model", model), ("--model-file", model_file), ("--system", system),
                            ("--devices", devices), ("--set", sets), ("--input", inputs)) if v] + \
        [f"--{k.replace('_', '-')}" for k in fields]
    if run is not None:
        if flags:
            raise SpecError(flags[0], "give a run file or the model/system/split flags, not both")
        from ..run import load_run

        r = load_run(run)
        mdl, sys_ = r.model, r.system
        strat, assumptions = r.strategy, r.assumptions
    else:
        from ..api import as_strategy, as_system

        if not flags:
            raise SpecError("RUN", "missing: give a run file (RUN.yaml) or --model NAME --system PRESET "
                                   "(see dojosim estimate --help)")
        mdl = _in.model_from(model, sets, model_file, inputs)
        if system is None:
            raise SpecError("--system", "missing: give --system PRESET (dojosim systems) or a run file")
        sys_ = as_system(system, devices)
        strat, assumptions = as_strategy(None, sys_, mdl, **fields), DEFAULT
    est = estimate(mdl, sys_, strat, assumptions)
    sampled = None
    if samples > 0:
        sampled = estimate_spread(mdl, sys_, strat, assumptions=assumptions, samples=samples, seed=seed)
    if plot is not None:
        from ..report.plots import plot_estimate

        wrote(plot_estimate(est, plot, model=mdl, system=sys_, force=force), json_mode=json_)
    if json_:
        emit_json(with_ranges(estimate_json(est), sampled))
    else:
        _print_estimate(est, sampled)


@app.command("validate")
def validate_cmd(
    cases: Optional[Path] = typer.Option(
        None, "--cases", help="File of cases (validation format); default: the 41 published runs "
                              "shipped with dojosim."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Predict every published case (or those of a file) and compare with the measured step times.

    Example: dojosim validate --plot out/validation
    """
    from ..run import load_cases
    from ..validate import PUBLISHED_CASES, validate

    check_plot_dir(plot, force)
    items = load_cases(cases if cases is not None else PUBLISHED_CASES)
    if is_interactive() and not json_:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as prog:
            task = prog.add_task("predicting", total=len(items))
            result = validate(items, on_case=lambda c: prog.advance(task))
    else:
        result = validate(items)
    if plot is not None:
        from ..report.plots import plot_validation

        wrote(plot_validation(result, plot, force=force), json_mode=json_)
    if json_:
        emit_json(result)
        return
    from ..report.table import Col

    rows = [[r["id"], f"{r['measured_step_time_s']:.4g}", f"{r['predicted_step_time_s']:.4g}", f"{r['error']:+.1%}",
             r["quality"]] for r in result["cases"]]
    print_table(f"validation: {cases if cases is not None else 'published cases (built in)'}",
                [Col("case", "left", wrap=True), Col("measured s"), Col("predicted s"), Col("error"),
                 Col("q", "left")], rows)
    for r in result["cases"]:  # notes under the table, so the numbers keep one line each
        if r["notes"]:
            console.print(f"{r['id']}: {'; '.join(r['notes'])}", markup=False)
    if result["count"]:
        console.print(f"{result['count']} cases: median |error| {result['median_abs_error']:.1%}, "
                      f"mean {result['mean_abs_error']:.1%}, p90 {result['p90_abs_error']:.1%}, "
                      f"max {result['max_abs_error']:.1%}; within 10%: {result['within_10pct']}, "
                      f"within 25%: {result['within_25pct']}")
    for s in result["skipped"]:
        console.print(f"skipped {s['id']}: {s['reason']}", markup=False)
