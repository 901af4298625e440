"""Type checks at the doors of the public API, so that a wrong object is a `SpecError` naming
the argument rather than an `AttributeError` deep in the engine."""
from __future__ import annotations

from .errors import SpecError


def _kind(obj) -> str:
    return type(obj).__name__


def check_model(model, path: str = "model"):
    from .workload.graph import Model

    if not isinstance(model, Model):
        raise SpecError(path, f"expected a dojosim Model (dojosim.build(...)), got {_kind(model)}")
    return model


def check_system(system, path: str = "system"):
    from .hardware.schema import System

    if not isinstance(system, System):
        raise SpecError(path, f"expected a dojosim System (dojosim.load_system(...)), got {_kind(system)}")
    return system


def check_strategy(strategy, path: str = "strategy"):
    """A `Strategy`, or a mapping of its fields turned into one."""
    from .strategy import Strategy

    if isinstance(strategy, Strategy):
        return strategy
    if isinstance(strategy, dict):
        return Strategy.from_dict(strategy, path)
    raise SpecError(path, f"expected a dojosim Strategy or a mapping of its fields, got {_kind(strategy)}")


def check_model_system(model, system) -> None:
    check_model(model)
    check_system(system)


def check_inputs(model, system, strategy, assumptions):
    """The four inputs of `estimate`, checked; returns the strategy as a `Strategy`."""
    from .assumptions import Assumptions

    check_model_system(model, system)
    if not isinstance(assumptions, Assumptions):
        raise SpecError("assumptions", f"expected dojosim Assumptions, got {_kind(assumptions)}")
    return check_strategy(strategy)
