"""Which assumed figures an answer depends on: each swung alone to its low and its high.

For every input `dojosim.ranges` would sample (the assumed `Assumptions` fields and the ranged
assumed preset figures), the run is re-estimated twice with that one input at its low and at its
high end and everything else at its point value. The drivers come back sorted by the size of the
swing. With two runs (a `compare`-style pair) the swing of their throughput ratio is reported
too, and sorts the drivers: an input both machines share moves both sides and may cancel.
The splits are the runs' own; nothing is re-searched.

An input-bound run (hosts slower than the chips, as Dojo's 2022 host count) moves only with the
figures of its hosts: every other figure changes the time the chips are busy, which the step does
not wait on. So when the first run is input-bound each driver is also swung on the other side of
the bound — the same run with its hosts keeping up (its input path unlimited), and for a pair the
ratio against it — and the host count that removes the bound is reported: which figures start to
matter, and by how much, once the hosts are fixed.
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
    # input-bound first run: its step time with the hosts keeping up, the input at low / high
    fed_step_time_low_s: float | None = None
    fed_step_time_high_s: float | None = None
    fed_ratio_low: float | None = None    # pair: the ratio against that fed first run
    fed_ratio_high: float | None = None

    @property
    def swing(self) -> float:
        """What sorts the drivers: the ratio's swing for a pair, else the step time's."""
        if self.ratio_low is not None and self.ratio_high is not None:
            return abs(self.ratio_high - self.ratio_low)
        return abs(self.step_time_high_s - self.step_time_low_s)

    @property
    def fed_swing(self) -> float:
        """As `swing`, once the first run's hosts keep up (0 when it is not input-bound)."""
        if self.fed_ratio_low is not None and self.fed_ratio_high is not None:
            return abs(self.fed_ratio_high - self.fed_ratio_low)
        if self.fed_step_time_low_s is None or self.fed_step_time_high_s is None:
            return 0.0
        return abs(self.fed_step_time_high_s - self.fed_step_time_low_s)

    def to_dict(self) -> dict:
        out = asdict(self)
        # a single run has no ratio; a run that is not input-bound has no fed side
        return {k: v for k, v in out.items() if v is not None or k not in _OPTIONAL}


_OPTIONAL = ("ratio_low", "ratio_high", "fed_step_time_low_s", "fed_step_time_high_s", "fed_ratio_low",
             "fed_ratio_high")


@dataclass(frozen=True)
class InputBound:
    """The first run is input-bound: the hosts it has, the hosts that remove the bound (PCIe plus
    Ethernet Z-plane, from the estimate's input report) and its step once they keep up."""

    level: str                  # the level whose hosts feed the system (Dojo: tray)
    hosts: int                  # in the whole system, now
    hosts_needed: int           # PCIe-attached hosts that remove the bound
    zplane_hosts_needed: int    # plus these over the Ethernet Z-plane
    fed_step_time_s: float      # the step with the hosts keeping up (the chips' side)
    fed_ratio: float | None = None   # pair: second run's throughput over that fed first run's


@dataclass
class Sensitivity:
    runs: list[str]                 # labels of the runs (system names)
    step_time_s: float              # first run, point figures
    ratio: float | None             # pair: second run's throughput / first's, point figures
    drivers: list[Driver]
    unranged: list[str]             # assumed preset figures without a range (not swung)
    input_bound: InputBound | None = None   # an input-bound first run: the other side of the bound

    def to_dict(self) -> dict:
        out = {"runs": self.runs, "step_time_s": self.step_time_s,
               "drivers": [d.to_dict() for d in self.drivers],
               "assumed_without_range": self.unranged}
        if self.ratio is not None:
            out["ratio"] = self.ratio
        if self.input_bound is not None:
            out["input_bound"] = {k: v for k, v in asdict(self.input_bound).items()
                                  if v is not None or k != "fed_ratio"}
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

    bound = _input_bound(estimate(runs[0].model, systems[0], runs[0].strategy, base))

    def evaluate(a, drawn) -> tuple:
        """(first run's step, ratio) at the point, and the same with its hosts keeping up."""
        ests = [estimate(r.model, s, r.strategy, a) for r, s in zip(runs, drawn)]

        def ratio(first):
            return ests[1].samples_per_s / first.samples_per_s if len(ests) > 1 else None

        if bound is None:
            return ests[0].step_time_s, ratio(ests[0]), None, None
        fed = estimate(runs[0].model, unlimited_input(drawn[0]), runs[0].strategy, a)
        return ests[0].step_time_s, ratio(ests[0]), fed.step_time_s, ratio(fed)

    step0, ratio0, fed0, fed_ratio0 = evaluate(base, systems)
    if bound is not None:
        bound = InputBound(**bound, fed_step_time_s=fed0, fed_ratio=fed_ratio0)
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
        (lo, t_lo, r_lo, f_lo, fr_lo), (hi, t_hi, r_hi, f_hi, fr_hi) = ends
        drivers.append(Driver(_name(dims, members), float(lo), float(hi), t_lo, t_hi, _source(dim), r_lo, r_hi,
                              f_lo, f_hi, fr_lo, fr_hi))
    # A swing below a part in 10^9 of the answer is rounding, not a dependence.
    scale = abs(ratio0) if ratio0 is not None else abs(step0)
    drivers = [_still(d, d.swing <= 1e-9 * scale, d.fed_swing <= 1e-9 * scale) for d in drivers]
    drivers.sort(key=lambda d: (-d.swing, -d.fed_swing))
    return Sensitivity([r.system.preset or r.system.name for r in runs], step0, ratio0, drivers, unranged,
                       bound)


def _input_bound(est) -> dict | None:
    """The input report of an input-bound estimate (None when its hosts keep up)."""
    info = est.extra.get("input") or {}
    if not info.get("bound") or "hosts_needed" not in info:
        return None
    return {"level": info["level"], "hosts": int(info["hosts"]), "hosts_needed": int(info["hosts_needed"]),
            "zplane_hosts_needed": int(info["zplane_hosts_needed"])}


def unlimited_input(system):
    """``system`` with its input path unlimited (the level that names its hosts or host bandwidth
    no longer does): the run's chips as they would run with the hosts keeping up."""
    levels = list(system.levels)
    for i, lv in enumerate(levels):
        if lv.host_input_bandwidth or lv.hosts:
            levels[i] = lv.model_copy(update={"hosts": None, "host_input_bandwidth": None})
            return system.model_copy(update={"levels": levels})
    return system


def _name(dims, members: list[int]) -> str:
    """A driver's name; a figure shared by both runs names both ("a & b: path" or the run once)."""
    first = dims[members[0]]
    labels = list(dict.fromkeys(dims[j].name.split(": ", 1)[0] for j in members))
    if len(members) == 1 or first.system is None:
        return first.name
    return f"{' & '.join(labels)}: {first.path}" + ("" if len(labels) > 1 else " (both runs)")


def _still(d: Driver, point: bool, fed: bool) -> Driver:
    """``d`` with its rounding-level swings removed (both ends at their mean): at the point
    (step time and ratio) and, for an input-bound run, once fed."""
    from dataclasses import replace

    def mean(x, y):
        return (x + y) / 2 if x is not None else None

    if point:
        t, r = mean(d.step_time_low_s, d.step_time_high_s), mean(d.ratio_low, d.ratio_high)
        d = replace(d, step_time_low_s=t, step_time_high_s=t, ratio_low=r, ratio_high=r)
    if fed and d.fed_step_time_low_s is not None:
        f, r = mean(d.fed_step_time_low_s, d.fed_step_time_high_s), mean(d.fed_ratio_low, d.fed_ratio_high)
        d = replace(d, fed_step_time_low_s=f, fed_step_time_high_s=f, fed_ratio_low=r, fed_ratio_high=r)
    return d


def _value(system, path: str) -> float:
    from ..ranges import _get, _tokens

    return float(_get(system, _tokens(path)))
