"""Dojo's numbers: configurable floats (CFloat8 / CFloat16) emulated bit-exactly in PyTorch, and
training under that emulation. Needs the ``torch`` extra; ``import dojosim`` does not import this."""
from __future__ import annotations

from .bias import AmaxHistory, BiasPolicy, CurrentAbsmax, FixedBias, fit_bias, make_policy
from .emulate import EmulationPolicy, emulate, emulation_state, preset, unemulate
from .formats import (FORMATS, Format, decode, encode, get_format, max_value, min_normal,
                      quantize, subnormal_exponent, values)

__all__ = [
    "FORMATS", "Format", "decode", "encode", "get_format", "max_value", "min_normal", "quantize",
    "subnormal_exponent", "values",
    "BiasPolicy", "FixedBias", "CurrentAbsmax", "AmaxHistory", "fit_bias", "make_policy",
    "EmulationPolicy", "emulate", "unemulate", "emulation_state", "preset",
]
