"""Workloads as op graphs: the zoo's analytic builders and the torch tracer.

    build(name, **overrides) -> Model          a zoo family or preset (no torch needed)
    list_models()                               the zoo: name, family, description, defaults
    from_run(workload_dict) -> Model            the ``workload:`` block of a run file
    torch_module(name, **overrides)             the real torch.nn.Module of a zoo model
    example_inputs(name, batch=1, **overrides)  inputs for that module
    from_torch(module, example_inputs) -> Model the tracer (meta tensors: no real memory)
"""
from __future__ import annotations

from .graph import BACKWARD_FLOP_FACTOR, Block, Model, Op
from .zoo import build, example_inputs, from_run, list_models, torch_module


def from_torch(module, example_inputs, *, name: str | None = None) -> Model:
    """Trace ``module(*example_inputs)`` on meta tensors into an op graph (needs torch)."""
    from .torch_trace import from_torch as _trace

    return _trace(module, example_inputs, name=name)


__all__ = ["Op", "Block", "Model", "BACKWARD_FLOP_FACTOR", "build", "list_models", "from_run",
           "torch_module", "example_inputs", "from_torch"]
