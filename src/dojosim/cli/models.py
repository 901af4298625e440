"""CLI commands on workloads: `dojosim models`, `models show NAME`, `models trace FILE.py:FUNC`.

A thin layer over `dojosim.workload`: the zoo's analytic builders and the torch tracer.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from .. import units
from ..errors import SpecError, UnknownNameError
from ._app import JSON_OPTION, app, console, emit_json, print_table
from ..report.table import Col

# Activation bytes are shown for 2-byte (fp16/bf16) activations: the graph counts elements.
ACTIVATION_BYTES_PER_ELEMENT = 2

models_app = typer.Typer(help="The model zoo and the PyTorch tracer.\n\nExample: dojosim models show gpt3-175b",
                         no_args_is_help=False,
                         invoke_without_command=True)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context, json_out: bool = JSON_OPTION) -> None:
    """List the zoo: families and named presets.

    Example: dojosim models
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..workload import list_models

    rows = list_models()
    if json_out:
        emit_json(rows)
        return
    table = Table(title="dojosim model zoo (use: dojosim models show NAME [--set key=value ...])")
    for col in ("name", "family", "description", "source"):
        table.add_column(col, no_wrap=col == "name", overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["family"], r["description"], r["source"])
    console.print(table)


def _parse_sets(sets: list[str]) -> dict:
    out = {}
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError("--set", f"expected key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def summary(model, batch: int = 1, ops: bool = False) -> dict:
    """The numbers `models show` prints, per sample and per batch of ``batch`` (+ every op)."""
    act = model.activation_elements_per_sample * ACTIVATION_BYTES_PER_ELEMENT
    out = {
        "name": model.name, "family": model.family, "sample_unit": model.sample_unit,
        "params": model.params,
        "flops_fwd_per_sample": model.flops_fwd_per_sample,
        "flops_train_per_sample": model.flops_train_per_sample,
        "activation_bytes_per_sample": act,
        "activation_bytes_per_element": ACTIVATION_BYTES_PER_ELEMENT,
        "input_bytes_per_sample": model.input_bytes_per_sample,
        "layers": model.layers, "seq_len": model.seq_len, "hidden": model.hidden, "heads": model.heads,
        "kv_heads": model.kv_heads, "experts": model.experts, "top_k": model.top_k,
        "batch": batch,
        "flops_fwd_per_batch": batch * model.flops_fwd_per_sample,
        "flops_train_per_batch": batch * model.flops_train_per_sample,
        "activation_bytes_per_batch": batch * act,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in model.config.items()},
        "warnings": list(model.warnings),
        "blocks": [
            {"name": b.name, "count": b.count, "layer": b.layer, "ops": len(b.ops), "params": b.params,
             "flops_fwd_per_sample": b.flops,
             "activation_bytes_per_sample": b.saved * ACTIVATION_BYTES_PER_ELEMENT}
            for b in model.blocks
        ],
    }
    if ops:
        out["ops"] = [
            {"block": b.name, "count": b.count, "name": op.name, "kind": op.kind, "flops_fwd_per_sample": op.flops,
             "params": op.params, "activation_bytes_per_sample": op.saved * ACTIVATION_BYTES_PER_ELEMENT,
             "gemm": op.gemm, "tp": op.tp, "seq": op.seq, "expert": op.expert, "attn": op.attn,
             "shapes": [list(x) for x in op.shapes]}
            for b, op in model.iter_ops()
        ]
    return out


def _print(s: dict) -> None:
    fmt = units.format
    head = Table(title=f"{s['name']} ({s['family']}, one sample = one {s['sample_unit']})", show_header=False)
    head.add_column("what")
    head.add_column("value", justify="right")
    head.add_row("parameters", f"{s['params']:,}")
    head.add_row("forward FLOPs per sample", fmt(s["flops_fwd_per_sample"], "flop"))
    head.add_row("training FLOPs per sample (fwd + bwd)", fmt(s["flops_train_per_sample"], "flop"))
    head.add_row(f"activations per sample ({s['activation_bytes_per_element']} B/element)",
                 fmt(s["activation_bytes_per_sample"], "bytes"))
    head.add_row("input per sample (data loader)", fmt(s["input_bytes_per_sample"], "bytes"))
    if s["batch"] != 1:
        head.add_row(f"training FLOPs per batch of {s['batch']}", fmt(s["flops_train_per_batch"], "flop"))
        head.add_row(f"activations per batch of {s['batch']}", fmt(s["activation_bytes_per_batch"], "bytes"))
    for key in ("layers", "seq_len", "hidden", "heads", "kv_heads", "experts", "top_k"):
        if s[key] is not None:
            head.add_row(key, f"{s[key]:,}")
    console.print(head)
    total = s["flops_fwd_per_sample"] or 1.0
    rows = [[b["name"], str(b["count"]), "yes" if b["layer"] else "", str(b["ops"]), fmt(b["params"], "count", 3),
             fmt(b["flops_fwd_per_sample"], "flop", 3), f"{100 * b['flops_fwd_per_sample'] / total:.1f}%",
             fmt(b["activation_bytes_per_sample"], "bytes", 3)] for b in s["blocks"]]
    print_table("blocks, per sample (count N: stored once, repeated N times)",
                [Col("block", "left", wrap=True), Col("x"), Col("layer"), Col("ops"), Col("params"),
                 Col("fwd FLOP"), Col("share"), Col("saved")], rows)
    if "ops" in s:
        table = Table(title="ops, per sample (of one repetition of their block)")
        table.add_column("block / op", no_wrap=True)
        for col in ("kind", "fwd FLOP", "params", "tp", "shapes"):
            table.add_column(col, justify="left" if col in ("kind", "tp", "shapes") else "right",
                             no_wrap=col != "shapes")
        for o in s["ops"]:
            dims = ["x".join(map(str, x)) or "scalar" for x in o["shapes"]]
            shapes = f"{', '.join(dims[:-1])} -> {dims[-1]}" if dims else ""
            table.add_row(f"{o['block']} / {o['name']}", o["kind"], fmt(o["flops_fwd_per_sample"], "flop", 3),
                          fmt(o["params"], "count", 3), o["tp"] or "", shapes)
        console.print(table)
    for w in s["warnings"]:
        console.print(f"warning: {w}", markup=False)


def _check_batch(batch: int) -> None:
    if batch < 1:
        raise SpecError("--batch", f"expected a positive integer, got {batch}")


@models_app.command("show")
def show(
    name: str = typer.Argument(..., help="zoo family or preset, e.g. gpt3-175b, resnet50, fsd"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a setting: key=value (repeatable)"),
    batch: int = typer.Option(1, "--batch", help="also show totals for a batch of this many samples"),
    ops: bool = typer.Option(False, "--ops", help="also list every op"),
    json_out: bool = JSON_OPTION,
) -> None:
    """Parameters, FLOPs per sample (forward and training step), activation memory, per-block table.

    Example: dojosim models show gpt3-175b
    """
    from ..workload import build

    _check_batch(batch)
    s = summary(build(name, **_parse_sets(set_)), batch, ops)
    emit_json(s) if json_out else _print(s)


def _parse_inputs(specs: list[str]) -> list[tuple[tuple[int, ...], str]]:
    """'8,3,960,1280' (float32) or '8,2048:long' -> (shape, dtype name)."""
    out = []
    for spec in specs:
        shape_text, _, dtype = spec.partition(":")
        dtype = dtype or "float32"
        if dtype not in ("float32", "float16", "bfloat16", "long", "int64", "int32", "bool"):
            raise SpecError("--input", f"unknown dtype {dtype!r} in {spec!r}; use float32, float16, bfloat16, long, "
                            "int32 or bool")
        try:
            shape = tuple(int(x) for x in shape_text.replace("x", ",").split(","))
        except ValueError:
            raise SpecError("--input", f"expected a shape like 8,3,960,1280, got {spec!r}") from None
        if not shape or min(shape) < 1:
            raise SpecError("--input", f"expected a shape of positive sizes like 8,3,960,1280, got {spec!r}")
        out.append((shape, dtype))
    return out


def load_target(target: str):
    """The function named by 'FILE.py:FUNCTION'."""
    path_text, sep, func = target.rpartition(":")
    if not sep or not func:
        raise SpecError("TARGET", f"expected FILE.py:FUNCTION, got {target!r}")
    path = Path(path_text)
    if not path.is_file():
        raise SpecError("TARGET", f"no such file: {path_text}")
    spec = importlib.util.spec_from_file_location(f"_dojosim_trace_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fn = getattr(mod, func, None)
    if not callable(fn):
        known = [n for n in dir(mod) if callable(getattr(mod, n)) and not n.startswith("_")]
        raise UnknownNameError("TARGET", func, known, what=f"function in {path.name}")
    return fn


def _make_module(fn, target: str, torch):
    """Call the user's function on the meta device (no memory); if its code needs real values,
    once more on the CPU. A failure of the user's code is their mistake: one line."""
    try:
        with torch.device("meta"):
            return fn()
    except Exception:  # noqa: BLE001 - any failure on meta: try the ordinary way
        pass
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - the user's code, reported in one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise SpecError("TARGET", f"{target} raised {type(err).__name__}: {first}") from None


def traced_model(target: str, inputs: list[str]):
    """The op graph of the module that ``target`` ('FILE.py:FUNCTION') returns, traced on meta
    tensors of the ``inputs`` shapes ('8,3,960,1280', batch first)."""
    if not inputs:
        raise SpecError("--input", "give the input shape of the module, batch first, e.g. --input 8,3,224,224")
    shapes = _parse_inputs(inputs)
    try:
        import torch
    except ModuleNotFoundError:
        raise SpecError("trace", "needs the torch extra: pip install 'dojosim[torch]'") from None
    from ..workload import from_torch

    fn = load_target(target)
    module = _make_module(fn, target, torch)
    if not isinstance(module, torch.nn.Module):
        raise SpecError("TARGET", f"{target} returned {type(module).__name__}, not a torch.nn.Module")
    dtypes = {"long": torch.long, "int64": torch.long}
    example = tuple(torch.empty(shape, dtype=dtypes.get(dt) or getattr(torch, dt), device="meta")
                    for shape, dt in shapes)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uncosted ops are listed in the summary instead
        try:
            return from_torch(module, example, name=target.rpartition(":")[2])
        except (RuntimeError, TypeError, ValueError, IndexError) as err:
            if isinstance(err, SpecError):
                raise
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise SpecError("--input", f"the module failed on inputs {', '.join(inputs)}: {first}") from None


@models_app.command("trace")
def trace(
    target: str = typer.Argument(..., help="FILE.py:FUNCTION, a function that returns a torch.nn.Module"),
    inputs: List[str] = typer.Option(..., "--input", help="input shape, batch first, e.g. 8,3,960,1280 "
                                     "or 8,2048:long (repeat for several inputs)"),
    batch: int = typer.Option(1, "--batch", help="also show totals for a batch of this many samples"),
    ops: bool = typer.Option(False, "--ops", help="also list every op with its shapes"),
    json_out: bool = JSON_OPTION,
) -> None:
    """Trace a PyTorch module on meta tensors (no real memory) into an op graph and summarise it.

    Example: dojosim models trace examples/my_net.py:build --input 32,3,224,224
    """
    _check_batch(batch)
    model = traced_model(target, inputs)
    s = summary(model, batch, ops)
    emit_json(s) if json_out else _print(s)
