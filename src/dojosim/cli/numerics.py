"""CLI command `dojosim numerics`: train a small network under FP32, BF16 and Dojo's CFP8, compare.

torch is an optional extra, so it is imported only when the command runs.
"""
from __future__ import annotations

from pathlib import Path

import typer

from ..errors import SpecError
from .. import limits
from ._app import (FORCE_OPTION, JSON_OPTION, app, check_plot_dir, console, emit_json, err_console,
                   is_interactive, print_table, wrote)

DEFAULT_POLICIES = "fp32,bf16,cfp8-nearest,cfp8-stochastic"


def _load_experiment():
    try:
        from ..numerics import experiment
    except ImportError as err:  # only a missing torch is the user's to fix
        if (err.name or "").split(".")[0] != "torch":
            raise
        raise SpecError("numerics", "needs PyTorch; install it with: pip install 'dojosim[torch]'") from None
    return experiment


@app.command("numerics")
def numerics(
    model: str = typer.Option("fsd-mini", "--model", help="fsd-mini (multi-camera -> BEV) or resnet-mini."),
    steps: int = typer.Option(0, "--steps", help="Training steps per precision (0: the quick run, fsd-mini 24, "
                              "resnet-mini 60; with --full: fsd-mini 200, resnet-mini 500)."),
    full: bool = typer.Option(False, "--full", help="The full run of docs/numerics.md: more steps, the full batch "
                              "and held-out set (fsd-mini: about 10 min per precision on one busy core)."),
    policies: str = typer.Option(DEFAULT_POLICIES, "--policies", help="Comma-separated precisions to train."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial weights, the data and the rounding."),
    batch: int = typer.Option(0, "--batch", help="Batch size (0: the run's default)."),
    threads: int = typer.Option(1, "--threads", help="torch threads (results for a seed are reproducible at a "
                                "given thread count; more than one rarely helps on a shared machine)."),
    json_out: bool = JSON_OPTION,
    plot: Path = typer.Option(None, "--plot", help="Directory for the loss-curve plot (PNG)."),
    out: Path = typer.Option(None, "--out", help="Directory for the results (JSON and a loss CSV)."),
    force: bool = FORCE_OPTION,
) -> None:
    """Train the same network on the same synthetic data in FP32, BF16 and CFP8 and compare.

    The default is a quick run (under 2 minutes on 2 busy cores) that checks every precision
    trains; --full makes the longer run whose results docs/numerics.md reports.

    Example: dojosim numerics --model fsd-mini --full --seed 0 --out out/numerics --plot out/numerics
    """
    from ..outfile import check_output_dir

    limits.check_int(steps, "steps", low=0, high=limits.MAX_NUMERICS_STEPS)
    limits.check_int(batch, "batch", low=0, high=limits.MAX_NUMERICS_BATCH)
    limits.check_int(threads, "threads", low=1, high=limits.cap_workers(None))
    check_plot_dir(plot, force)
    if out is not None:
        check_output_dir(out, force=force, what="--out")
    exp = _load_experiment()
    s = exp.setup(model)
    chosen = [p.strip() for p in policies.split(",") if p.strip()]
    for p in chosen:
        if p not in exp.POLICIES:
            from ..errors import UnknownNameError

            raise UnknownNameError("policies", p, exp.POLICIES, what="precision policy")
    steps = steps or (s.default_steps if full else s.quick_steps)
    batch = batch or (s.batch if full else s.quick_batch)
    eval_size = s.eval_size if full else s.quick_eval_size
    result = _run(exp, model, steps, chosen, seed, batch, eval_size, threads, json_out)
    files = exp.write_results(result, out, force=force) if out else []
    if plot:
        files.append(exp.plot_results(result, Path(plot) / f"numerics_{model}.png", force=force))
    if json_out:
        emit_json({**result, "files": [str(f) for f in files]})
        return
    _table(result)
    if not full and steps < s.default_steps:
        console.print(f"quick run ({steps} steps): checks that every precision trains, too short to rank "
                      f"them; --full trains {s.default_steps} steps, as docs/numerics.md reports.", markup=False)
    wrote(files)


def _run(exp, model, steps, policies, seed, batch, eval_size, threads, quiet: bool) -> dict:
    kw = dict(eval_size=eval_size, threads=threads)
    if is_interactive() and not quiet:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"training {model} x {len(policies)} precisions", total=steps * len(policies))
            return exp.run_experiment(model, steps, policies, seed, batch, on_step=lambda i: bar.advance(task), **kw)
    # Not a terminal: plain progress lines on stderr (stdout stays the table or the JSON).
    import time

    start = time.perf_counter()
    every = max(1, steps // 4)

    def line(text: str) -> None:
        err_console.print(f"[{time.perf_counter() - start:6.1f} s] {text}", markup=False, highlight=False)

    state = {"policy": ""}

    def on_policy(p: str) -> None:
        state["policy"] = p
        line(f"{model}: training {p} ({steps} steps, batch {batch})")

    def on_step(i: int) -> None:
        if (i + 1) % every == 0 and i + 1 < steps:
            line(f"{model}: {state['policy']} step {i + 1}/{steps}")

    return exp.run_experiment(model, steps, policies, seed, batch, on_step=on_step, on_policy=on_policy, **kw)


def _table(result: dict) -> None:
    from ..report.table import Col

    cols = [Col("precision", "left"), Col("final train loss"), Col(f"held-out {result['metric']}"),
            Col("held-out loss"), Col("s/step"), Col("bias w/a/g", wrap=True)]
    rows = []
    for r in result["runs"]:
        tail = r["losses"][-max(1, len(r["losses"]) // 10):]
        b = r["biases"]
        biases = " / ".join(str(b[k][1]) if k in b else "-" for k in ("weight", "act", "grad")) if b else "-"
        rows.append([r["policy"] + (" (diverged)" if r["diverged"] else ""), f"{sum(tail) / len(tail):.4f}",
                     f"{r['metric']:.3f}", f"{r['eval_loss']:.4f}",
                     f"{r['seconds'] / max(1, len(r['losses'])):.3f}", biases])
    print_table(f"{result['model']} — {result['task']} — {result['steps']} steps, batch {result['batch']}, "
                f"seed {result['seed']}", cols, rows)
