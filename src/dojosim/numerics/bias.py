"""Choosing a tensor's exponent bias: the whitepaper's "learnt during training".

A CFloat bias is a power-of-two scale: the value of a code at bias b is its value at bias 0 times
2^-b. A larger bias gives finer resolution and a smaller maximum, so the best bias for a tensor is
the largest one whose maximum still covers the tensor's absolute maximum (optionally with a margin
of ``margin`` powers of two of headroom). The whitepaper says exponent ranges show locality in
space and time, so "only a small number of such exponent biases are used in any given execution
step, and the appropriate bias values can be learnt during the training". The policies here are
the obvious readings of that, named after the FP8 recipes they resemble:

* `FixedBias`      one bias for everything (the baseline; what a format without a bias does).
* `CurrentAbsmax`  "just-in-time": the bias fitted to this tensor's absmax, every step.
* `AmaxHistory`    "delayed scaling" (as in NVIDIA Transformer Engine's FP8 recipe): the bias fitted
                   to the largest absmax seen in the last ``length`` uses of the same tensor slot,
                   the current one excluded, so the bias is known before the tensor is -- what
                   hardware that must pick the format before the data arrives would do.

Each policy keeps per-slot state keyed by a string (e.g. ``"encoder.conv1#0:weight"``).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from ..errors import SpecError
from .formats import MAX_BIAS, get_format, max_value


def fit_bias(absmax: float, fmt: str, margin: int = 0) -> int:
    """Largest bias 0..63 whose max value covers ``absmax * 2**margin`` (0 if none does; 63 if
    ``absmax`` is zero or not finite, i.e. the tensor gives no information about its range)."""
    f = get_format(fmt)
    if f.fixed_bias is not None:
        return f.fixed_bias
    if not math.isfinite(absmax) or absmax <= 0:
        return MAX_BIAS
    need = absmax * 2.0 ** margin
    # max_value halves with each step of bias: bias* = floor(emax - log2(need / mantissa_max)).
    guess = f.max_exp_field - math.log2(need / (2.0 - 2.0 ** -f.man_bits))
    b = min(MAX_BIAS, max(0, math.floor(guess)))
    # fix any float error in the log at the boundary exactly, by the definition
    while b > 0 and max_value(f, b) < need:
        b -= 1
    while b < MAX_BIAS and max_value(f, b + 1) >= need:
        b += 1
    return b


@dataclass(kw_only=True)
class BiasPolicy:
    """Base class: ``choose(key, absmax, fmt)`` returns the bias for this use of slot ``key``."""

    margin: int = 0
    chosen: dict[str, int] = field(default_factory=dict, repr=False)

    name = "base"

    def choose(self, key: str, absmax: float, fmt: str) -> int:
        bias = self._choose(key, absmax, fmt)
        self.chosen[key] = bias
        return bias

    def _choose(self, key: str, absmax: float, fmt: str) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> None:
        self.chosen.clear()


@dataclass(kw_only=True)
class FixedBias(BiasPolicy):
    """The same bias for every tensor (UHP keeps its fixed 31)."""

    bias: int = 15
    name = "fixed"

    def __post_init__(self):
        if not 0 <= int(self.bias) <= MAX_BIAS:
            raise SpecError("bias", f"must be 0..{MAX_BIAS}, got {self.bias}")

    def _choose(self, key, absmax, fmt):
        f = get_format(fmt)
        return f.fixed_bias if f.fixed_bias is not None else int(self.bias)


@dataclass(kw_only=True)
class CurrentAbsmax(BiasPolicy):
    """Fit the bias to this tensor's own absmax (needs the absmax before the conversion)."""

    name = "current"

    def _choose(self, key, absmax, fmt):
        return fit_bias(absmax, fmt, self.margin)


@dataclass(kw_only=True)
class AmaxHistory(BiasPolicy):
    """Fit the bias to the max absmax of the previous ``length`` uses of the slot (delayed scaling);
    the first use of a slot has no history and fits its own absmax."""

    length: int = 16
    history: dict[str, deque] = field(default_factory=dict, repr=False)
    name = "history"

    def __post_init__(self):
        if int(self.length) < 1:
            raise SpecError("length", f"must be at least 1, got {self.length}")

    def _choose(self, key, absmax, fmt):
        past = self.history.setdefault(key, deque(maxlen=int(self.length)))
        seen = [a for a in past if math.isfinite(a)]
        bias = fit_bias(max(seen) if seen else absmax, fmt, self.margin)
        past.append(absmax)
        return bias

    def reset(self) -> None:
        super().reset()
        self.history.clear()


POLICIES = {"fixed": FixedBias, "current": CurrentAbsmax, "history": AmaxHistory}


def make_policy(name: str, **kwargs) -> BiasPolicy:
    """A bias policy by name: 'fixed', 'current' or 'history'."""
    from ..errors import UnknownNameError

    if name not in POLICIES:
        raise UnknownNameError("bias_policy", name, POLICIES, what="bias policy")
    return POLICIES[name](**kwargs)
