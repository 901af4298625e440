"""Figures in scenario files: each number says where it came from, or that it is assumed.

A plan or data-path file writes every input as one of::

    cars: {value: 5.0e6, source: "Tesla Q2 2024 deliveries report"}        # published
    clips_per_car_per_day: {value: 1, low: 0.1, high: 10, reason: "..."}   # assumed, with a range
    clips_per_car_per_day: 1                                               # assumed, no range given

A bare number is the user's own figure with no source: it is marked assumed (its range is the
single value) so every result built on it carries the ``≈ … (assumed)`` mark. Values may carry
units ("1.5 GB", "130 MW", "$2B", "365 days") when the field has a dimension.

Plans sample the assumed ranges with `dojosim.ranges.latin_hypercube` (seeded) for p10/p50/p90;
`Figure.at` maps a quantile to a value with `assumptions.at_quantile` (the stated value is the
median of its range), on a log scale for ranges spanning 10x or more.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import units
from ..errors import SpecError
from ..yamlfile import check_mapping

FIGURE_KEYS = ("value", "low", "high", "source", "reason")
NO_SOURCE = "given in the plan without a source or a range"


@dataclass(frozen=True)
class Figure:
    """One input number (SI) with its provenance; ``low``/``high`` bound an assumed one."""

    value: float
    low: float
    high: float
    assumed: bool
    source: str = ""   # where a published figure came from, or why an assumed one is what it is
    path: str = ""     # the field it was read from, for reports

    @property
    def has_range(self) -> bool:
        return self.assumed and self.high > self.low

    def at(self, u: np.ndarray | float) -> np.ndarray | float:
        """The value at quantile ``u`` in [0, 1]: the stated value is the median, each half of
        the range holds half the draws, uniform within it — on a log scale when the range spans
        10x or more (clips per car from 0.05 to 5 is "about 0.5, give or take 10x")."""
        from ..assumptions import at_quantile

        lo, mid, hi = self.low, self.value, self.high
        log = lo > 0 and hi / lo >= 10
        if log:
            lo, mid, hi = np.log(lo), np.log(mid), np.log(hi)
        x = np.vectorize(lambda q: at_quantile(q, lo, mid, hi), otypes=[float])(np.asarray(u, dtype=float))
        return np.exp(x) if log else x

    def describe(self) -> dict:
        out = {"field": self.path, "value": self.value, "assumed": self.assumed}
        if self.assumed:
            out.update(low=self.low, high=self.high, reason=self.source)
        else:
            out["source"] = self.source
        return out


def published(value: float, source: str, path: str = "") -> Figure:
    return Figure(value, value, value, False, source, path)


def assumed(value: float, low: float, high: float, reason: str, path: str = "") -> Figure:
    return Figure(value, low, high, True, reason, path)


def _number(raw, dim: str, path: str) -> float:
    if isinstance(raw, bool) or raw is None:
        raise SpecError(path, f"expected a number, got {raw!r}")
    if dim == "count" and isinstance(raw, str):
        try:
            v = float(raw.replace("_", "").replace(",", ""))
        except ValueError:
            raise SpecError(path, f"expected a number, got {raw!r}") from None
    elif dim == "money" and isinstance(raw, str) and raw.strip().startswith("-$"):
        v = -units.parse(raw.strip()[1:], dim, path=path)   # "-$5M": the sign before the dollar
    else:
        v = units.parse(raw, dim, path=path)
    if not math.isfinite(v):
        raise SpecError(path, f"must be finite, got {raw!r}")
    return v


def parse_figure(raw, path: str, dim: str = "count", *, lo: float | None = 0.0, hi: float | None = None,
                 positive: bool = False) -> Figure:
    """A `Figure` from a scalar or a ``{value, source | low+high+reason}`` mapping, checked
    against the bounds ``lo``..``hi`` (and > 0 when ``positive``)."""
    if isinstance(raw, dict):
        check_mapping(raw, path, FIGURE_KEYS, "{value, source} or {value, low, high, reason}")
        if "value" not in raw:
            raise SpecError(f"{path}.value", "missing")
        value = _number(raw["value"], dim, f"{path}.value")
        has_src, has_range = "source" in raw, "low" in raw or "high" in raw
        if has_src and has_range:
            raise SpecError(path, "give either source (a published figure) or low/high/reason (an assumed one)")
        if has_src:
            if not isinstance(raw["source"], str) or not raw["source"].strip():
                raise SpecError(f"{path}.source", "must be a non-empty text")
            fig = published(value, raw["source"].strip(), path)
        else:
            for k in ("low", "high", "reason"):
                if k not in raw:
                    raise SpecError(f"{path}.{k}", "missing: an assumed figure needs low, high and reason "
                                                   "(or give source: for a published one)")
            if not isinstance(raw["reason"], str) or not raw["reason"].strip():
                raise SpecError(f"{path}.reason", "must be a non-empty text")
            low = _number(raw["low"], dim, f"{path}.low")
            high = _number(raw["high"], dim, f"{path}.high")
            if not low <= value <= high:
                raise SpecError(path, f"value must lie within low..high, got {value:g} outside {low:g}..{high:g}")
            fig = assumed(value, low, high, raw["reason"].strip(), path)
    else:
        value = _number(raw, dim, path)
        fig = assumed(value, value, value, NO_SOURCE, path)
    checks = (((fig.low, f"{path}.low"), (fig.value, f"{path}.value"), (fig.high, f"{path}.high"))
              if isinstance(raw, dict) else ((fig.value, path),))
    for v, at in checks:
        if positive and v <= 0:
            raise SpecError(at, f"must be positive, got {v:g}")
        if lo is not None and v < lo:
            raise SpecError(at, f"must be at least {lo:g}, got {v:g}")
        if hi is not None and v > hi:
            raise SpecError(at, f"must be at most {hi:g}, got {v:g}")
    return fig


def percentiles(samples: np.ndarray) -> dict:
    """p10 / p50 / p90 along the first axis (lists for arrays, floats for scalars)."""
    p = np.percentile(samples, [10, 50, 90], axis=0)
    conv = (lambda a: a.tolist()) if p.ndim > 1 else float
    return {"p10": conv(p[0]), "p50": conv(p[1]), "p90": conv(p[2])}
