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
    "estimate": "dojosim.engine",
    "Estimate": "dojosim.engine.result",
    "Strategy": "dojosim.strategy",
    "load_run": "dojosim.run",
    "load_cases": "dojosim.run",
}
__all__ += ["estimate", "Estimate", "Strategy", "load_run", "load_cases"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dojosim' has no attribute {name!r}")
    import importlib

    mod = importlib.import_module(module)
    return getattr(mod, name)
