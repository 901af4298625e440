"""Ranges on answers: how far a figure moves when the assumed inputs move within their ranges.

Two kinds of inputs are assumed, and both are sampled:
- the fields of `Assumptions` marked assumed (each with low/high; on a chip that carries its own
  figure, the chip's range), one dimension each, shared by every system of the question;
- the figures of a system's preset marked ``assumed: true`` that give a ``range`` (hosts per
  tray, a chip's price, ...), one dimension per system and figure path.

The sampler draws a seeded Latin hypercube (every dimension's range is cut into ``samples``
equal-probability strata and each stratum is used exactly once), maps each quantile u to a value
piecewise-linearly so that u = 0.5 is the point figure (`assumptions.at_quantile`), evaluates a
function of (assumptions, systems) at every draw, and reports the 10th, 50th and 90th
percentiles of each output. A ratio is computed inside the function, per draw, so inputs the
systems share move both sides together and cancel.

    spread = sample(lambda a, systems: {"step_time_s": estimate(m, systems[0], s, a).step_time_s},
                    [system])
    spread.outputs["step_time_s"].p90
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .assumptions import DEFAULT, FIELDS, Assumptions, at_quantile
from .errors import SpecError

DEFAULT_SAMPLES = 256
DEFAULT_SEED = 0
MAX_SAMPLES = 100_000
# Preset fields that change the machine's shape rather than a figure of it: never sampled.
_STRUCTURAL = ("children", "topology", "rack", "shape")


@dataclass(frozen=True)
class Dimension:
    """One sampled input: an Assumptions field (``system`` None) or a preset figure of one system."""

    name: str                  # "memory_efficiency", or "dojo-exapod: levels[1].hosts"
    path: str                  # the field name, or the figure's path in the system
    value: float
    low: float
    high: float
    source: str = ""
    system: int | None = None  # index into the systems sampled; None = shared by all
    integer: bool = False
    # Inputs with the same key are one unknown, drawn together: a preset figure that two of the
    # systems carry with the same value, range and source (the same preset, or a shared anchor
    # such as the D1's price in dojo-tile and dojo-exapod), so a ratio of the two cancels it.
    key: str = ""


@dataclass(frozen=True)
class Spread:
    """10th, 50th and 90th percentile of one output over the draws."""

    p10: float
    p50: float
    p90: float

    def to_dict(self) -> dict:
        return {"p10": self.p10, "p50": self.p50, "p90": self.p90}


@dataclass
class Sampled:
    """What `sample` found: the spread of every output, and what was varied."""

    outputs: dict[str, Spread | None]
    samples: int
    seed: int
    dimensions: list[Dimension] = field(default_factory=list)
    unranged: list[str] = field(default_factory=list)   # assumed preset figures without a range

    def to_dict(self) -> dict:
        return {"samples": self.samples, "seed": self.seed,
                "varied": [d.name for d in self.dimensions],
                "assumed_without_range": list(self.unranged)}


def latin_hypercube(samples: int, dims: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """A ``samples`` x ``dims`` array of quantiles in (0, 1): per column one point in each of
    ``samples`` equal strata, in a random order (seeded)."""
    rng = np.random.default_rng(seed)
    u = (np.arange(samples)[:, None] + rng.random((samples, dims))) / samples
    for j in range(dims):
        u[:, j] = u[rng.permutation(samples), j]
    return u


def _tokens(path: str) -> list:
    out: list = []
    for part in path.split("."):
        m = re.fullmatch(r"([A-Za-z_0-9]+)((?:\[\d+\])*)", part)
        if not m:
            return []
        out.append(m.group(1))
        out += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return out


def _get(obj, tokens: list):
    for t in tokens:
        if isinstance(t, int):
            obj = obj[t]
        elif isinstance(obj, dict):
            obj = obj[t]
        else:
            obj = getattr(obj, t)
    return obj


def _with(obj, tokens: list, value):
    """A copy of ``obj`` with the figure at ``tokens`` replaced: only the containers on that path
    are copied (shallow), everything else is shared with the original."""
    if not tokens:
        return value
    head, rest = tokens[0], tokens[1:]
    if isinstance(obj, list):
        out = list(obj)
        out[head] = _with(obj[head], rest, value)
        return out
    if isinstance(obj, dict):
        return {**obj, head: _with(obj[head], rest, value)}
    return obj.model_copy(update={head: _with(getattr(obj, head), rest, value)})


def _system_name(system) -> str:
    return str(getattr(system, "preset", None) or system.name).rsplit("/", 1)[-1].removesuffix(".yaml")


def dimensions(systems: Sequence, assumptions: Assumptions = DEFAULT) -> tuple[list[Dimension], list[str]]:
    """The inputs `sample` varies for these systems, and the assumed preset figures it cannot
    vary because they carry no range."""
    dims = [Dimension(n, n, info.default, info.low, info.high, info.reason, key=n)
            for n, info in FIELDS.items() if info.assumed and n not in assumptions.explicit]
    unranged: list[str] = []
    for k, system in enumerate(systems):
        label = _system_name(system)
        for path, src in sorted(system.sources.items()):
            if not src.assumed or path.startswith("chip.efficiency.") or any(s in path for s in _STRUCTURAL):
                continue
            tokens = _tokens(path)
            try:
                value = _get(system, tokens) if tokens else None
            except (AttributeError, KeyError, IndexError, TypeError):
                value = None
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if src.range is None:
                unranged.append(f"{label}: {path}")
                continue
            low, high = src.range
            text = f"{src.text}; range: {src.reason}" if src.reason else src.text
            key = "|".join(map(str, (path.rsplit(".", 1)[-1], value, low, high, text)))
            dims.append(Dimension(f"{label}: {path}", path, float(value), float(min(low, value)),
                                  float(max(high, value)), text, k, isinstance(value, int), key))
    return dims, unranged


def groups(dims: list[Dimension]) -> list[list[int]]:
    """Indices of ``dims`` grouped by key (one unknown each), in first-seen order."""
    out: dict[str, list[int]] = {}
    for i, d in enumerate(dims):
        out.setdefault(d.key or d.name, []).append(i)
    return list(out.values())


def draw(systems: Sequence, dims: list[Dimension], row: Sequence, assumptions: Assumptions) -> tuple:
    """The (assumptions, systems) of one row of quantiles (None: that input keeps its value)."""
    shared = {d.path: float(u) for d, u in zip(dims, row) if d.system is None and u is not None}
    a = assumptions.at_quantiles(shared) if shared else assumptions
    out = list(systems)
    for d, u in zip(dims, row):
        if d.system is None or u is None:
            continue
        value = at_quantile(float(u), d.low, d.value, d.high)
        out[d.system] = _with(out[d.system], _tokens(d.path), max(1, round(value)) if d.integer else value)
    return a, out


def spread(values: Sequence[float]) -> Spread | None:
    """Percentiles of the finite ``values``; None when there are none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    p10, p50, p90 = np.percentile(np.asarray(finite, dtype=float), [10, 50, 90])
    return Spread(float(p10), float(p50), float(p90))


def check_samples(samples: int, path: str = "--samples") -> int:
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise SpecError(path, f"must be a whole number from 1 to {MAX_SAMPLES:,}, got {samples!r}")
    return samples


def sample(fn: Callable[[Assumptions, list], dict[str, float]], systems: Sequence, *,
           assumptions: Assumptions = DEFAULT, samples: int = DEFAULT_SAMPLES,
           seed: int = DEFAULT_SEED) -> Sampled:
    """Evaluate ``fn(assumptions, systems)`` (a mapping of named outputs) at ``samples`` Latin
    hypercube draws of the assumed inputs and return the spread of each output.

    A draw where ``fn`` raises `SpecError` (e.g. the split no longer fits a sampled machine) or
    returns a non-finite value is left out of that output's percentiles."""
    check_samples(samples, "samples")
    dims, unranged = dimensions(systems, assumptions)
    column = [0] * len(dims)
    for j, members in enumerate(groups(dims)):
        for i in members:
            column[i] = j
    grid = latin_hypercube(samples, len(set(column)), seed)[:, column]
    values: dict[str, list[float]] = {}
    for row in grid:
        a, drawn = draw(systems, dims, row, assumptions)
        try:
            result = fn(a, drawn)
        except SpecError:
            continue
        for name, v in result.items():
            values.setdefault(name, []).append(v)
    return Sampled({k: spread(v) for k, v in values.items()}, samples, seed, dims, unranged)


# Figures of one estimate that carry a range, and how each is read off an `Estimate`.
ESTIMATE_FIGURES: dict[str, Callable] = {
    "step_time_s": lambda e: e.step_time_s,
    "samples_per_s": lambda e: e.samples_per_s,
    "tokens_per_s": lambda e: e.tokens_per_s,
    "mfu": lambda e: e.mfu,
    "energy_j_per_step": lambda e: e.energy_j_per_step,
}


def estimate_figures(est) -> dict[str, float]:
    return {k: f(est) for k, f in ESTIMATE_FIGURES.items() if f(est) is not None}


def estimate_spread(model, system, strategy, *, assumptions: Assumptions = DEFAULT,
                    samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED) -> Sampled:
    """The spread of one run's headline figures (`ESTIMATE_FIGURES`) over the assumed inputs."""
    from .engine import estimate

    return sample(lambda a, systems: estimate_figures(estimate(model, systems[0], strategy, a)),
                  [system], assumptions=assumptions, samples=samples, seed=seed)
