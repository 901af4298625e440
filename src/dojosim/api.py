"""The Python API's front door: `estimate`, `search` and `compare` taking names or objects.

    >>> import dojosim
    >>> est = dojosim.estimate("gpt3-175b", "a100-80gb-dgx", devices=1024,
    ...                        tp=8, pp=8, micro_batch=1, global_batch=1536, recompute="full")

A model is a zoo name ("gpt3-175b", "fsd") or a `Model`; a system a preset name, a YAML path or a
`System`, resized by ``devices``; a strategy a `Strategy`, a dict, or keyword fields (``dp`` then
defaults to the devices left over by the other degrees). The engine functions underneath
(`dojosim.engine.estimate`, `dojosim.plan.search.search`, `dojosim.report.compare.compare`) keep
their object-only signatures for the planners that call them many times.
"""
from __future__ import annotations

from collections.abc import Sequence

from .errors import FitError, SpecError


def as_model(model, sets: dict | None = None):
    """A `Model` from a zoo name (with ``sets`` overriding its fields) or a Model as is."""
    if isinstance(model, str):
        from .workload import build

        return build(model, **(sets or {}))
    if sets:
        raise SpecError("sets", "field overrides apply to a zoo name, not to a built Model")
    if not hasattr(model, "blocks") and not hasattr(model, "flops_fwd_per_sample"):
        raise SpecError("model", f"expected a zoo name or a dojosim Model, got {type(model).__name__}")
    return model


def as_system(system, devices: int | None = None):
    """A `System` from a preset name or YAML path, or a System as is; resized to ``devices``."""
    from .hardware import load_system, with_devices

    if isinstance(system, str) or hasattr(system, "__fspath__"):
        return load_system(system, devices=devices)
    if not hasattr(system, "chips"):
        raise SpecError("system", f"expected a preset name or a dojosim System, got {type(system).__name__}")
    return system if devices in (None, system.chips) else with_devices(system, devices)


def as_strategy(strategy, system, model, **fields):
    """A `Strategy` from one, from a dict, or from keyword fields. Unset, ``dp`` is what the other
    degrees leave of the system's devices, and ``global_batch`` the model's default or one
    micro-batch per replica."""
    from .strategy import Strategy

    if strategy is not None and fields:
        raise SpecError("strategy", "give a strategy or its fields as keywords, not both")
    if isinstance(strategy, Strategy):
        return strategy
    if strategy is not None and not isinstance(strategy, dict):
        raise SpecError("strategy", f"expected a Strategy or a mapping of its fields, got {type(strategy).__name__}")
    data = dict(strategy or fields)
    if "dp" not in data:
        inner = 1
        for k in ("tp", "pp", "cp", "spatial"):
            inner *= int(data.get(k) or 1)
        if system.chips % inner:
            raise SpecError("strategy.dp", f"tp*pp*cp = {inner} does not divide the {system.chips} devices")
        data["dp"] = system.chips // inner
    if "global_batch" not in data:
        gb = (getattr(model, "config", None) or {}).get("global_batch")
        data["global_batch"] = int(gb) if gb else data["dp"] * int(data.get("micro_batch") or 1)
    return Strategy.from_dict(data)


def estimate(model, system, strategy=None, *, devices: int | None = None, assumptions=None,
             allow_unfit: bool = False, **fields):
    """Predict one training step; see the module doc for what each argument may be.

    A split that does not fit in memory raises `FitError` (naming what it needs and what there
    is) unless ``allow_unfit=True``, which returns the estimate with ``memory.fits = False``."""
    from .engine import estimate as engine_estimate

    mdl = as_model(model)
    sys_ = as_system(system, devices)
    strat = as_strategy(strategy, sys_, mdl, **fields)
    est = engine_estimate(mdl, sys_, strat) if assumptions is None else engine_estimate(mdl, sys_, strat, assumptions)
    if not est.memory.fits and not allow_unfit:
        from .units import format_gib

        raise FitError("memory", f"{strat.label(mdl)} needs {format_gib(est.memory.per_device_bytes)} per device; "
                                 f"{sys_.name} has {format_gib(est.memory.capacity_bytes)}. Try dojosim.search(...) "
                                 "for a split that fits, or pass allow_unfit=True to see this one anyway")
    return est


def search(model, system, global_batch: int | None = None, *, devices: int | None = None,
           objective: str = "throughput", top: int = 10, constraints: dict | None = None, **kwargs):
    """The ``top`` best splits (`Candidate`s: ``.strategy``, ``.estimate``, ``.score``), best first.
    ``global_batch`` defaults to the model's own."""
    from .plan.search import search as plan_search

    mdl = as_model(model)
    sys_ = as_system(system, devices)
    if global_batch is None:
        global_batch = (getattr(mdl, "config", None) or {}).get("global_batch")
        if not global_batch:
            raise SpecError("global_batch", f"{mdl.name} has no default global batch; pass global_batch=")
    return plan_search(mdl, sys_, global_batch, objective, top, constraints, **kwargs)  # checks the batch


def compare(model, systems: Sequence = ("dojo-exapod", "h100-dgx"), **kwargs) -> list[dict]:
    """One workload on several systems at equal chips, power or price (`report.compare.compare`);
    ``model`` and each system may be names."""
    from .report.compare import compare as report_compare

    return report_compare(as_model(model), [as_system(s) for s in systems], **kwargs)
