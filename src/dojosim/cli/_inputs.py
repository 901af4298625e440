"""Options that `estimate` and `search` share: the model (a zoo name or a traced nn.Module), the
system, and the split's fields, so that neither needs a YAML file."""
from __future__ import annotations

from typing import List, Optional

import typer

from ..errors import SpecError

MODEL = typer.Option(None, "--model", help="A zoo model (dojosim models), e.g. gpt3-175b or fsd.")
SETS = typer.Option(None, "--set", help="Override model fields: --set layers=48 hidden=6144.")
MODEL_FILE = typer.Option(None, "--model-file", help="FILE.py:FUNCTION returning a torch nn.Module "
                          "(traced on meta tensors; needs --input), e.g. examples/my_net.py:build.")
INPUTS = typer.Option(None, "--input", help="With --model-file: input shape, batch first, e.g. 8,3,224,224 "
                      "(repeat for several inputs).")
SYSTEM = typer.Option(None, "--system", help="A preset (dojosim systems) or a system YAML file.")
DEVICES = typer.Option(None, "--devices", help="Accelerators in total (default: the preset's).")
GLOBAL_BATCH = typer.Option(None, "--global-batch", "--global-batch-size",
                            help="Samples (sequences, images, clips) per optimizer step.")

# The split's fields as flags: name -> (option, help). Typer needs them spelled out per command.
SPLIT_HELP = {
    "dp": "data-parallel replicas (default: the devices the other degrees leave)",
    "tp": "tensor-parallel degree",
    "pp": "pipeline stages",
    "cp": "context-parallel degree (transformers)",
    "spatial": "spatial split of image rows (CNNs; stored as cp)",
    "ep": "expert-parallel degree",
    "interleave": "virtual pipeline chunks per device",
    "micro_batch": "samples per micro-batch (default: the engine picks)",
    "zero": "ZeRO stage 0-3",
    "recompute": "none | selective | full",
    "precision": "bf16 | fp16 | fp8 | cfp8 | fp32 | tf32",
}


def model_from(model: Optional[str], sets: Optional[List[str]], model_file: Optional[str],
               inputs: Optional[List[str]], default: Optional[str] = None):
    """The Model the flags name: a traced ``--model-file`` or a zoo ``--model`` (with ``--set``)."""
    from .plan import parse_sets

    if model_file is not None:
        if model is not None:
            raise SpecError("--model-file", "give --model or --model-file, not both")
        if sets:
            raise SpecError("--set", "--set changes zoo models; edit the module for --model-file")
        from .models import traced_model

        return traced_model(model_file, inputs or [])
    if inputs:
        raise SpecError("--input", "goes with --model-file")
    if model is None:
        if default is None:
            raise SpecError("--model", "missing: give --model NAME (dojosim models) or "
                                       "--model-file FILE.py:FUNCTION --input SHAPE")
        model = default
    from ..workload import build

    return build(model, **parse_sets(sets))


def split_fields(**given) -> dict:
    """The split flags the user gave (None = not given), with `sequence_parallel` spelled out."""
    out = {k: v for k, v in given.items() if v is not None and v is not False}
    if out.pop("sp", False):
        out["sequence_parallel"] = True
    return out
