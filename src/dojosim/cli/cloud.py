"""`dojosim cloud`: a stream of tenants' jobs on one machine, side by side with equal-power ones."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..errors import SpecError
from ._app import FORCE_OPTION, JSON_OPTION, app, check_plot_dir, console, emit_json


def _list(text: Optional[str]) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _seeds(text: str) -> list[int]:
    """``3`` -> [3]; ``0-9`` -> [0..9]; ``1,4,7`` -> [1, 4, 7]."""
    out = []
    for part in _list(text):
        lo, dash, hi = part.partition("-")
        try:
            out += list(range(int(lo), int(hi) + 1)) if dash else [int(part)]
        except ValueError:
            raise SpecError("seeds", f"expected N, A-B or a comma list, got {text!r}") from None
    if not out or len(out) > 10_000:
        raise SpecError("seeds", f"expected 1 to 10,000 seeds, got {text!r}")
    return out


@app.command("cloud")
def cloud_cmd(
    jobs_file: Optional[Path] = typer.Argument(None, help="Jobs: CSV, Parquet or YAML (trace columns mapped)."),
    synthetic: Optional[int] = typer.Option(None, "--synthetic", help="Draw N jobs instead of reading a file."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic stream."),
    system: str = typer.Option("dojo-exapod", "--system", help="The machine (a preset)."),
    count: int = typer.Option(1, "--count", help="Copies of the machine (10 ExaPODs: --count 10)."),
    policy: str = typer.Option("backfill", "--policy", help="fifo | first-fit | best-fit | backfill | first-fit-backfill | elastic."),
    load: Optional[float] = typer.Option(None, "--load", help="Offered load on the machine (0.9 = 90%); sets the arrival rate. Default for --synthetic: 0.9."),
    compare: Optional[str] = typer.Option(None, "--compare", help="Equal-power alternatives: h100-dgx,tpu-v4-pod."),
    scatter: bool = typer.Option(False, "--scatter", help="Dojo: let a job take scattered tiles over the Z-plane when no rectangle is free."),
    price: Optional[float] = typer.Option(None, "--price", help="Price per grain-hour (tile, node, cube) for revenue."),
    instance: str = typer.Option("p5.48xlarge", "--instance", help="GPU cloud instance for the break-even price."),
    workload: Optional[str] = typer.Option(None, "--workload", help="Workload of jobs whose file gives none (zoo name or run file)."),
    fixed_gpus: Optional[float] = typer.Option(None, "--size", help="Synthetic: every job asks for this many GPUs."),
    elastic: float = typer.Option(0.0, "--elastic-share", help="Synthetic: share of jobs accepting half to twice their size."),
    size_median: Optional[float] = typer.Option(None, "--size-median", help="Synthetic: median job size in GPUs (default 2)."),
    size_sigma: Optional[float] = typer.Option(None, "--size-sigma", help="Synthetic: log-normal sigma of sizes (default 1.5)."),
    at: Optional[float] = typer.Option(None, "--at", help="Hours into the stream for the occupancy map (default: half-way)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write utilization, wait CDF and occupancy plots here."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Write an HTML report section to this file."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Many seeds (0-9) through the sweep machinery."),
    policies: Optional[str] = typer.Option(None, "--policies", help="Many policies (a,b) through the sweep machinery."),
    executor: str = typer.Option("local", "--executor", help="Sweep executor: local | ray."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (searches, sweep points)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Sweep results directory (default out/sweeps/cloud)."),
    json_: bool = JSON_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Many tenants on one machine: partitions, a job queue, utilization, waits and price.

    Example: dojosim cloud --synthetic 200 --system dojo-exapod --compare h100-dgx
    """
    from ..outfile import check_output, write_text
    from ..plan.cloud import read_jobs, run_cloud
    from ..plan.cloud import synthetic as draw

    check_plot_dir(plot, force)
    if html_out is not None:
        check_output(html_out, force=force, what="--html")

    if (jobs_file is None) == (synthetic is None):
        raise SpecError("jobs", "give a jobs file or --synthetic N (one of them)")
    others = _list(compare)
    if seeds or policies:
        _sweep(synthetic, system, count, load, others, scatter, fixed_gpus, elastic,
               _seeds(seeds) if seeds else [seed], _list(policies) or [policy], executor, workers, out, json_)
        return
    if synthetic is not None:
        shape = {k: v for k, v in (("size_median", size_median), ("size_sigma", size_sigma)) if v is not None}
        jobs = draw(synthetic, seed, fixed_gpus=fixed_gpus, elastic=elastic, **shape)
        load = 0.9 if load is None else load
        base = None
    else:
        jobs = read_jobs(jobs_file, workload)
        base = jobs_file.parent
    snapshot = None if at is None else at * 3600.0
    if at is not None and not (at >= 0 and at < 1e6):
        raise SpecError("at", f"must be hours >= 0, got {at!r}")
    res = run_cloud(jobs, system, count, policy, load=load, compare=others, scatter=scatter, price=price,
                    instance_name=instance, snapshot_at=snapshot, base_dir=base, workers=workers,
                    keep_cells=False)
    written = []
    if plot is not None:
        from ..report.cloud import write_plots

        written += write_plots(res, plot, force=force)
    if html_out is not None:
        from ..report.cloud import render_cloud_report

        written.append(write_text(html_out, render_cloud_report(res), force=force, what="--html"))
    if json_:
        emit_json({"policy": policy, "load": load, "jobs": len(jobs), "searches": res["searches"],
                   "wall_s": res["wall_s"], "systems": [r.summary for r in res["runs"]],
                   "written": [str(p) for p in written]})
        return
    _print(res)
    for p in written:
        console.print(f"wrote {p}", markup=False)


def _print(res: dict) -> None:
    from ..report.cloud import rows

    rs = rows(res)
    t = Table(title=f"{len(res['jobs']):,} jobs, policy {res['policy']}", title_justify="left", show_edge=False)
    cols = [("system", "system"), ("util", "utilization"), ("frag", "fragmentation"),
            ("held", "held"), ("wait p50", "wait p50"), ("wait p99", "wait p99"), ("jobs/day", "jobs/day")]
    for name, _ in cols:
        t.add_column(name, justify="left" if name in ("system", "size") else "right")
    for r in rs:
        t.add_row(*[r[k] for _, k in cols])
    console.print(t)
    console.print("util: busy share of the machine; frag: free but no waiting job fits; held: free, a "
                  "waiting job fits, the policy holds it back (order, reservation). Averages over the "
                  "arrivals, first 10% left out (warm-up).", markup=False)
    m = Table(title="size, power and money per grain-hour", title_justify="left", show_edge=False)
    for name in ("system", "size", "power", "cost", "break-even"):
        m.add_column(name, justify="left" if name in ("system", "size") else "right")
    for r in rs:
        m.add_row(r["system"], r["size"], r["power"], r["cost/grain-h"], r["break-even/grain-h"])
    console.print(m)
    run0 = res["runs"][0].summary
    gc = run0.get("gpu_cloud") or {}
    if gc:
        lo, hi = gc["usd_per_hour_range"]
        span = f" (range ${lo:,.2f}-{hi:,.2f}/h: break-even {rs[0]['break-even range']})" if lo != hi else ""
        console.print(f"break-even: the price per grain-hour at which the stream costs what it costs on "
                      f"{gc['name']} at ${gc['usd_per_hour']:,.2f}/h ≈ (assumed; {gc['source']}){span}. "
                      f"Cost: price paid off over 4 years plus energy at the utilization reached.", markup=False)
    rej = sum(r.summary["rejected"] for r in res["runs"])
    if rej:
        console.print(f"{rej:,} job placements rejected (no partition fits them); see --json", markup=False)


def _sweep(n, system, count, load, others, scatter, fixed_gpus, elastic, seeds, policies, executor, workers,
           out, json_) -> None:
    from ..plan.cloud.sweep import evaluate, sweep_spec
    from ..plan.sweep import load_results, run_sweep

    if not n:
        raise SpecError("synthetic", "many seeds or policies need --synthetic N")
    cloud = {"synthetic": n, "system": system, "count": count, "load": 0.9 if load is None else load,
             "compare": others, "scatter": scatter, "fixed_gpus": fixed_gpus, "elastic": elastic}
    out = out or Path("out") / "sweeps" / "cloud"
    stats = run_sweep(sweep_spec(cloud, seeds, policies), out, executor=executor, workers=workers,
                      evaluator=evaluate)
    if json_:
        emit_json({**stats, "rows": load_results(out).to_dict("records")})
        return
    df = load_results(out)
    console.print(f"{stats['points']:,} points ({stats['errors']:,} with errors) written to {stats['out']}",
                  markup=False)
    keys = [c for c in df.columns if c.endswith((".utilization", ".wait_p99_s"))]
    t = Table(title="seeds x policies", title_justify="left")
    for c in ["param.cloud.seed", "param.cloud.policy", *keys]:
        t.add_column(c.replace("param.cloud.", ""), justify="right")
    for _, r in df.iterrows():
        t.add_row(*[(f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c])) for c in
                    ["param.cloud.seed", "param.cloud.policy", *keys]])
    console.print(t)
