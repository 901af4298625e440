"""dojosim: Tesla Dojo and NVIDIA training clusters on a laptop.

The public API. Four nouns and one verb: a `System` (hardware), a `Model` (op graph), a `Strategy`
(the split) and `estimate(model, system, strategy) -> Estimate`.
"""
from __future__ import annotations

from .errors import FitError, SpecError, StrategyError, UnitError, UnknownNameError

__version__ = "0.1.0"

__all__ = ["SpecError", "UnitError", "UnknownNameError", "StrategyError", "FitError", "__version__"]

# Lazily imported public names (name -> module), so `import dojosim` stays light.
_LAZY = {
    # the verb and its answer (the API takes names as well as objects: dojosim.api)
    "estimate": "dojosim.api",
    "compare": "dojosim.api",
    "Estimate": "dojosim.engine.result",
    # the nouns
    "Strategy": "dojosim.strategy",
    "System": "dojosim.hardware",
    "load_system": "dojosim.hardware",
    "list_presets": "dojosim.hardware",
    "Model": "dojosim.workload",
    "build": "dojosim.workload",
    "from_torch": "dojosim.workload",
    "list_models": "dojosim.workload",
    # runs, validation and planning
    "load_run": "dojosim.run",
    "load_cases": "dojosim.run",
    "search": "dojosim.api",
    "run_sweep": "dojosim.plan.sweep",
    "load_results": "dojosim.plan.sweep",
}
__all__ += list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dojosim' has no attribute {name!r}")
    import importlib

    mod = importlib.import_module(module)
    return getattr(mod, name)
