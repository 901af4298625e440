"""The engine: `estimate(model, system, strategy, assumptions=DEFAULT) -> Estimate`.

Submodules: compute (roofline per op), memory (tiers, ZeRO, activations), schedule (pipeline
bubbles, overlap), comm_api (collective times of a strategy's groups), estimate (the assembly),
and dojosim.assumptions holds every figure the engine assumes.
"""
from __future__ import annotations

from .estimate import estimate  # noqa: E402  (binds the function over the submodule name)
from .result import BREAKDOWN_KEYS, Estimate, MemoryReport, StageTiming

__all__ = ["estimate", "Estimate", "MemoryReport", "StageTiming", "BREAKDOWN_KEYS"]
