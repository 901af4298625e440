"""dojosim: Tesla Dojo and NVIDIA training clusters on a laptop.

The public API. Four nouns and one verb: a `System` (hardware), a `Model` (op graph), a `Strategy`
(the split) and `estimate(model, system, strategy) -> Estimate`.
"""
from __future__ import annotations

from .errors import FitError, SpecError, StrategyError, UnitError, UnknownNameError

__version__ = "0.1.0"

__all__ = ["SpecError", "UnitError", "UnknownNameError", "StrategyError", "FitError", "__version__"]
