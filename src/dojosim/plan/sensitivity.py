"""Which assumed figures an answer depends on: each swung alone to its low and its high.

For every input `dojosim.ranges` would sample (the assumed `Assumptions` fields and the ranged
assumed preset figures), the run is re-estimated twice with that one input at its low and at its
high end and everything else at its point value. The drivers come back sorted by the size of the
swing. With two runs (a `compare`-style pair) the swing of their throughput ratio is reported
too, and sorts the drivers: an input both machines share moves both sides and may cancel.
The splits are the runs' own; nothing is re-searched.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..assumptions import FIELDS


@dataclass(frozen=True)
class Driver:
    """One input swung to its ends, and what the step time (and ratio) did."""

    name: str
    low: float                  # the input's value at its low end (on the first run's chip)
    high: float
    step_time_low_s: float      # first run's step time with the input at ``low``
    step_time_high_s: float
    source: str                 # where the value comes from, and why its range
    ratio_low: float | None = None    # pair: second run's throughput / first run's, input at low
    ratio_high: float | None = None

    @property
    def swing(self) -> float:
        """What sorts the drivers: the ratio's swing for a pair, else the step time's."""
        if self.ratio_low is not None and self.ratio_high is not None:
            return abs(self.ratio_high - self.ratio_low)
        return abs(self.step_time_high_s - self.step_time_low_s)

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.ratio_low is None:
            out.pop("ratio_low"), out.pop("ratio_high")
        return out


@dataclass
class Sensitivity:
    runs: list[str]                 # labels of the runs (system names)
    step_time_s: float              # first run, point figures
    ratio: float | None             # pair: second run's throughput / first's, point figures
    drivers: list[Driver]
    unranged: list[str]             # assumed preset figures without a range (not swung)

    def to_dict(self) -> dict:
        out = {"runs": self.runs, "step_time_s": self.step_time_s,
               "drivers": [d.to_dict() for d in self.drivers],
               "assumed_without_range": self.unranged}
        if self.ratio is not None:
            out["ratio"] = self.ratio
        return out


def _source(dim) -> str:
    info = FIELDS.get(dim.path) if dim.system is None else None
    if info is not None:
        return f"{info.source}; range: {info.reason}" if info.reason else info.source
    return dim.source


def sensitivity(runs: Sequence) -> Sensitivity:
    """Swing every assumed input of ``runs`` (one `run.Run`, or two for a ratio) to its ends.
    The first run's `assumptions` apply to both (what it sets explicitly is not swung)."""
    from ..engine import estimate
    from ..ranges import dimensions, draw, groups

    runs = list(runs)
    base = runs[0].assumptions
    systems = [r.system for r in runs]

    def evaluate(a, drawn) -> tuple[float, float | None]:
        ests = [estimate(r.model, s, r.strategy, a) for r, s in zip(runs, drawn)]
        ratio = ests[1].samples_per_s / ests[0].samples_per_s if len(ests) > 1 else None
        return ests[0].step_time_s, ratio

    step0, ratio0 = evaluate(base, systems)
    dims, unranged = dimensions(systems, base)
    drivers = []
    for members in groups(dims):   # a figure both runs share is one unknown: swung on both at once
        dim = dims[members[0]]
        ends = []
        for u in (0.0, 1.0):
            row = [None] * len(dims)
            for j in members:
                row[j] = u
            a, drawn = draw(systems, dims, row, base)
            value = (getattr(a.for_chip(systems[0].chip), dim.path) if dim.system is None
                     else _value(drawn[dim.system], dim.path))
            ends.append((value, *evaluate(a, drawn)))
        (lo, t_lo, r_lo), (hi, t_hi, r_hi) = ends
        drivers.append(Driver(_name(dims, members), float(lo), float(hi), t_lo, t_hi, _source(dim), r_lo, r_hi))
    # A swing below a part in 10^9 of the answer is rounding, not a dependence.
    scale = abs(ratio0) if ratio0 is not None else abs(step0)
    drivers = [d if d.swing > 1e-9 * scale else _still(d) for d in drivers]
    drivers.sort(key=lambda d: -d.swing)
    return Sensitivity([r.system.preset or r.system.name for r in runs], step0, ratio0, drivers, unranged)


def _name(dims, members: list[int]) -> str:
    """A driver's name; a figure shared by both runs names both ("a & b: path" or the run once)."""
    first = dims[members[0]]
    labels = list(dict.fromkeys(dims[j].name.split(": ", 1)[0] for j in members))
    if len(members) == 1 or first.system is None:
        return first.name
    return f"{' & '.join(labels)}: {first.path}" + ("" if len(labels) > 1 else " (both runs)")


def _still(d: Driver) -> Driver:
    """``d`` with its rounding-level swing removed (both ends at their mean)."""
    from dataclasses import replace

    t = (d.step_time_low_s + d.step_time_high_s) / 2
    r = (d.ratio_low + d.ratio_high) / 2 if d.ratio_low is not None else None
    return replace(d, step_time_low_s=t, step_time_high_s=t, ratio_low=r, ratio_high=r)


def _value(system, path: str) -> float:
    from ..ranges import _get, _tokens

    return float(_get(system, _tokens(path)))
