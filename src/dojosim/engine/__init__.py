"""The engine: `estimate(model, system, strategy) -> Estimate`.

`estimate` is imported lazily so that the submodules (comm, placement, compute, ...) can be
imported on their own without pulling in the whole engine.
"""
from __future__ import annotations

__all__ = ["estimate", "Estimate"]


def __getattr__(name: str):
    if name == "estimate":
        from .estimate import estimate

        return estimate
    if name == "Estimate":
        from .result import Estimate

        return Estimate
    raise AttributeError(name)
