"""CLI command `dojosim numerics`: train a small network under FP32, BF16 and Dojo's CFP8, compare.

torch is an optional extra, so it is imported only when the command runs.
"""
from __future__ import annotations

from pathlib import Path

import typer

from ..errors import SpecError
from .. import limits
from ._app import FORCE_OPTION, JSON_OPTION, app, check_plot_dir, console, emit_json, is_interactive

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
    steps: int = typer.Option(0, "--steps", help="Training steps per precision (0: the model's default, "
                              "fsd-mini 200, resnet-mini 500)."),
    policies: str = typer.Option(DEFAULT_POLICIES, "--policies", help="Comma-separated precisions to train."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial weights, the data and the rounding."),
    batch: int = typer.Option(0, "--batch", help="Batch size (0: the model's default)."),
    json_out: bool = JSON_OPTION,
    plot: Path = typer.Option(None, "--plot", help="Directory for the loss-curve plot (PNG)."),
    out: Path = typer.Option(None, "--out", help="Directory for the results (JSON and a loss CSV)."),
    force: bool = FORCE_OPTION,
) -> None:
    """Train the same network on the same synthetic data in FP32, BF16 and CFP8 and compare."""
    from ..outfile import check_output_dir

    limits.check_int(steps, "steps", low=0, high=limits.MAX_NUMERICS_STEPS)
    limits.check_int(batch, "batch", low=0, high=limits.MAX_NUMERICS_BATCH)
    check_plot_dir(plot, force)
    if out is not None:
        check_output_dir(out, force=force, what="--out")
    exp = _load_experiment()
    exp.setup(model)
    chosen = [p.strip() for p in policies.split(",") if p.strip()]
    for p in chosen:
        if p not in exp.POLICIES:
            from ..errors import UnknownNameError

            raise UnknownNameError("policies", p, exp.POLICIES, what="precision policy")
    steps = steps or exp.setup(model).default_steps
    result = _run(exp, model, steps, chosen, seed, batch or None, show=is_interactive() and not json_out)
    files = exp.write_results(result, out, force=force) if out else []
    if plot:
        files.append(exp.plot_results(result, Path(plot) / f"numerics_{model}.png", force=force))
    if json_out:
        emit_json({**result, "files": [str(f) for f in files]})
        return
    _table(result)
    for f in files:
        console.print(f"wrote {f}", markup=False)


def _run(exp, model, steps, policies, seed, batch, show: bool) -> dict:
    if not show:
        return exp.run_experiment(model, steps, policies, seed, batch)
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"training {model} x {len(policies)} precisions", total=steps * len(policies))
        return exp.run_experiment(model, steps, policies, seed, batch, on_step=lambda i: bar.advance(task))


def _table(result: dict) -> None:
    from rich.table import Table

    t = Table(title=f"{result['model']} — {result['task']} — {result['steps']} steps, batch {result['batch']}")
    for col in ("precision", "final train loss", f"held-out {result['metric']}", "held-out loss",
                "s/step", "bias w/a/g"):
        t.add_column(col, justify="left" if col == "precision" else "right")
    for r in result["runs"]:
        tail = r["losses"][-max(1, len(r["losses"]) // 10):]
        b = r["biases"]
        biases = " / ".join(str(b[k][1]) if k in b else "-" for k in ("weight", "act", "grad")) if b else "-"
        t.add_row(r["policy"] + (" (diverged)" if r["diverged"] else ""), f"{sum(tail) / len(tail):.4f}",
                  f"{r['metric']:.3f}", f"{r['eval_loss']:.4f}", f"{r['seconds'] / max(1, len(r['losses'])):.3f}",
                  biases)
    console.print(t)
