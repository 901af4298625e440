"""The ledger of Tesla's quantified public Dojo claims, each checked against dojosim's prediction.

A claim file (``examples/claims/*.yaml``) names the claim, its source and the claimed number, the
metric that turns runs into a prediction, and the runs (ordinary run files' workload / system /
strategy, inline). For each claim the ledger reports the predicted number and the ratio
predicted / claimed; for a miss, ``needs``: for each assumed figure the prediction depends on,
the value that would meet the claim, SOLVED by bisection on the engine (every other figure
held), and whether that value lies inside the figure's assumed range.

The claims are the test, never the fit: nothing here changes a figure the engine uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecError

METRICS = ("throughput_ratio", "perf_per_watt", "perf_per_dollar", "price_ratio", "system_total",
           "input_bound", "equivalents")
COMPARISONS = ("~", ">=", "<=")
# A prediction within this factor of the claim counts as meeting it ("~" claims).
HIT_FACTOR = 1.25
TOTALS = ("peak_bf16_flops", "sram_bytes", "pool_bytes")
_KEYS = ("id", "statement", "source", "claimed", "range", "compare", "metric", "total", "units",
         "units_reason", "dojo", "baseline", "needs")
# Bisection: factors of the figure's value tried, and the steps (each halves the log interval).
SOLVE_SPAN = 100.0
SOLVE_STEPS = 14


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source: str
    claimed: float
    metric: str
    compare: str = "~"
    range: tuple[float, float] | None = None
    total: str = ""
    units: float = 1.0
    units_reason: str = ""
    dojo: dict = field(default_factory=dict)
    baseline: dict | None = None
    needs: tuple[str, ...] = ()     # figure paths to solve for on a miss
    run: str = ""                   # the file it came from


def _num(value, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(path, f"must be a finite number, got {value!r}")
    return float(value)


def read_claim(path: str | Path) -> Claim:
    """One claim file, checked field by field (`SpecError` names the field)."""
    from ..yamlfile import read_yaml

    raw = read_yaml(path, "claim")
    if not isinstance(raw, dict):
        raise SpecError("", "a claim file must be a mapping")
    for key in raw:
        if key not in _KEYS:
            raise SpecError(str(key), f"unknown key; expected one of: {', '.join(_KEYS)}")
    for key in ("id", "statement", "source", "claimed", "metric", "dojo"):
        if raw.get(key) is None:
            raise SpecError(key, "missing (required)")
    metric = raw["metric"]
    if metric not in METRICS:
        raise SpecError("metric", f"unknown metric {metric!r}; expected one of: {', '.join(METRICS)}")
    compare = raw.get("compare", "~")
    if compare not in COMPARISONS:
        raise SpecError("compare", f"expected one of {', '.join(COMPARISONS)}, got {compare!r}")
    rng = raw.get("range")
    if rng is not None:
        if not (isinstance(rng, list) and len(rng) == 2):
            raise SpecError("range", "must be a list [low, high]")
        rng = (_num(rng[0], "range[0]"), _num(rng[1], "range[1]"))
    if metric == "system_total" and raw.get("total") not in TOTALS:
        raise SpecError("total", f"expected one of: {', '.join(TOTALS)}")
    if metric in ("throughput_ratio", "perf_per_watt", "perf_per_dollar", "price_ratio", "equivalents") \
            and not raw.get("baseline"):
        raise SpecError("baseline", f"missing: metric {metric} compares against a baseline run")
    needs = raw.get("needs") or []
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise SpecError("needs", "must be a list of figure paths (e.g. chip.efficiency.gemm_peak_efficiency)")
    claimed = _num(raw["claimed"], "claimed")
    if claimed <= 0:
        raise SpecError("claimed", "must be positive")
    return Claim(id=str(raw["id"]), statement=str(raw["statement"]), source=str(raw["source"]),
                 claimed=claimed, metric=metric, compare=compare, range=rng, total=str(raw.get("total") or ""),
                 units=_num(raw.get("units", 1), "units"), units_reason=str(raw.get("units_reason") or ""),
                 dojo=raw["dojo"], baseline=raw.get("baseline"), needs=tuple(needs), run=str(path))


# --------------------------------------------------------------------------------------------
# Figures: read and change one number of a System by its source path
# --------------------------------------------------------------------------------------------

def _parse_path(path: str) -> list:
    out = []
    for part in path.split("."):
        if "[" in part:
            name, idx = part[:-1].split("[")
            out += [name, int(idx)]
        else:
            out.append(part)
    return out


def get_figure(system, path: str) -> float:
    obj = system
    for key in _parse_path(path):
        obj = _get(obj, key)
    return float(getattr(obj, "value", obj))   # a chip's efficiency entry holds its value


def set_figure(system, path: str, value: float):
    """A copy of ``system`` with the figure at ``path`` set to ``value``."""
    keys = _parse_path(path)

    def put(obj, ks):
        k = ks[0]
        if len(ks) == 1:
            old = _get(obj, k)
            if hasattr(old, "value"):      # a chip's efficiency entry: keep its range
                return _with(obj, k, old.model_copy(update={"value": value}))
            return _with(obj, k, int(round(value)) if isinstance(old, int) else value)
        return _with(obj, k, put(_get(obj, k), ks[1:]))

    return put(system, keys)


def _get(obj, k):
    return obj[k] if isinstance(k, int) or isinstance(obj, dict) else getattr(obj, k)


def _with(obj, k, v):
    if isinstance(obj, list):
        out = list(obj)
        out[k] = v
        return out
    if isinstance(obj, dict):
        return {**obj, k: v}
    return obj.model_copy(update={k: v})


def _source_range(system, path: str) -> tuple[float, float] | None:
    src = system.sources.get(path)
    return src.range if src is not None else None


# --------------------------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------------------------

@dataclass
class _Runs:
    dojo: object
    baseline: object | None


def _load_runs(claim: Claim) -> _Runs:
    from ..run import load_run

    def one(raw, key):
        try:
            return load_run(raw)
        except SpecError as err:
            raise err.prefixed(key) from None

    return _Runs(one(claim.dojo, "dojo"), one(claim.baseline, "baseline") if claim.baseline else None)


def predict(claim: Claim, dojo_run, base_run=None, base_est=None, dojo_system=None, assumptions=None) -> float:
    """The predicted number of ``claim`` from its runs (``dojo_system`` and ``assumptions``
    replace the Dojo run's; the baseline always runs on the defaults)."""
    from ..assumptions import DEFAULT
    from ..engine import estimate

    system = dojo_system if dojo_system is not None else dojo_run.system
    if claim.metric == "system_total":
        t = system.totals()
        key = {"peak_bf16_flops": ("peak_flops", "bf16"), "sram_bytes": ("sram_bytes",),
               "pool_bytes": ("pool_bytes",)}[claim.total]
        value = t
        for k in key:
            value = value[k]
        return float(value)
    if claim.metric == "price_ratio":
        return system.price_usd / base_run.system.price_usd
    est = estimate(dojo_run.model, system, dojo_run.strategy, assumptions or DEFAULT)
    if claim.metric == "input_bound":
        info = est.extra["input"]
        return info["needed_bandwidth"] / info["bandwidth"] if info.get("bandwidth") else 0.0
    if base_est is None:
        base_est = estimate(base_run.model, base_run.system, base_run.strategy)
    d, b = est.samples_per_s, base_est.samples_per_s
    if claim.metric == "throughput_ratio":
        return claim.units * d / b
    if claim.metric == "perf_per_watt":
        return (d / system.power_w) / (b / base_run.system.power_w)
    if claim.metric == "perf_per_dollar":
        return (d / system.price_usd) / (b / base_run.system.price_usd)
    # equivalents: how many baseline chips the claimed number of Dojo systems matches
    return claim.units * d / (b / base_run.system.chips)


def hit(claim: Claim, predicted: float) -> bool:
    if claim.compare == ">=":
        return predicted >= claim.claimed
    if claim.compare == "<=":
        return predicted <= claim.claimed
    lo, hi = claim.range or (claim.claimed, claim.claimed)
    return lo / HIT_FACTOR <= predicted <= hi * HIT_FACTOR


def _target(claim: Claim) -> float:
    return claim.claimed


def solve(claim: Claim, runs: _Runs, path: str, base_est) -> dict:
    """The value of the figure at ``path`` (every other figure held) that makes the prediction
    equal the claimed number: bisection on log(value) within SOLVE_SPAN of today's value
    (fractions stay at most 1). The prediction is assumed monotone in the figure there."""
    from ..assumptions import DEFAULT, Assumptions

    system = runs.dojo.system
    target = _target(claim)
    name = path.split(".")[-1]
    frac = name in _FRACTIONS
    if path.startswith("assumptions."):
        # an engine figure the chip does not set itself: moved for the Dojo run only
        info = Assumptions.describe(name)
        now = float(getattr(DEFAULT.for_chip(system.chip), name))
        whole = False
        rng = (info.low, info.high) if info.assumed else None

        def f(x):
            try:
                return predict(claim, runs.dojo, runs.baseline, base_est,
                               assumptions=DEFAULT.replace(**{name: x})) - target
            except SpecError:
                return math.nan
    else:
        now = get_figure(system, path)
        whole = _is_int(system, path)
        rng = _source_range(system, path)

        def f(x):
            try:
                return predict(claim, runs.dojo, runs.baseline, base_est, set_figure(system, path, x)) - target
            except SpecError:
                return math.nan

    f_now = f(now)
    lo_x, hi_x = now / SOLVE_SPAN, (1.0 if frac else now * SOLVE_SPAN)
    if whole:
        lo_x = max(lo_x, 1.0)
    out = {"figure": path, "now": now, "assumed_range": rng}
    if now <= 0 or not math.isfinite(f_now):
        return {**out, "value": None, "reachable": False, "why": "figure is zero or the run fails"}
    # pick the side of today's value where the sign changes
    for a, b_ in ((now, hi_x), (lo_x, now)):
        fa, fb = f(a), f(b_)
        if math.isfinite(fa) and math.isfinite(fb) and fa * fb <= 0 and a < b_:
            for _ in range(SOLVE_STEPS):
                mid = math.sqrt(a * b_)
                fm = f(mid)
                if not math.isfinite(fm):
                    break
                if fa * fm <= 0:
                    b_, fb = mid, fm
                else:
                    a, fa = mid, fm
            value = math.sqrt(a * b_)
            if whole:   # a count: the whole number on the claim's side
                value = float(math.ceil(value) if b_ >= now else math.floor(value))
            rng = out["assumed_range"]
            return {**out, "value": value, "factor": value / now, "reachable": True,
                    "within_range": bool(rng and rng[0] <= value <= rng[1])}
    ends = [(x, f(x)) for x in (lo_x, hi_x)]
    ends = [(x, v) for x, v in ends if math.isfinite(v)]
    why = f"no value within {SOLVE_SPAN:g}x of today's" + (" (at most 1)" if frac else "") + " meets it"
    if ends:
        x, v = min(ends, key=lambda e: abs(e[1]))
        why += f"; the closest, at {x:.3g}, predicts {v + target:.3g}"
    return {**out, "value": None, "reachable": False, "why": why}


def _is_int(system, path: str) -> bool:
    obj = system
    for key in _parse_path(path):
        obj = _get(obj, key)
    return isinstance(obj, int) and not isinstance(obj, bool)


_FRACTIONS = ("gemm_peak_efficiency", "vector_efficiency", "memory_efficiency", "sram_operand_fraction")


@dataclass(frozen=True)
class Entry:
    id: str
    statement: str
    source: str
    claimed: float
    compare: str
    predicted: float
    ratio: float
    hit: bool
    run: str
    needs: tuple[dict, ...]
    range: tuple[float, float] | None = None
    unit: str = ""          # a `units` dimension for totals ("flops", "bytes"); "" = a plain ratio

    def to_dict(self) -> dict:
        return {"id": self.id, "statement": self.statement, "source": self.source, "claimed": self.claimed,
                "claimed_range": list(self.range) if self.range else None, "compare": self.compare,
                "predicted": self.predicted, "ratio": self.ratio, "hit": self.hit, "run": self.run,
                "unit": self.unit,
                "needs": [dict(n, assumed_range=list(n["assumed_range"]) if n.get("assumed_range") else None)
                          for n in self.needs]}


def check_claim(claim: Claim) -> Entry:
    from ..engine import estimate

    runs = _load_runs(claim)
    base_est = (estimate(runs.baseline.model, runs.baseline.system, runs.baseline.strategy)
                if runs.baseline is not None and claim.metric != "price_ratio" else None)
    predicted = predict(claim, runs.dojo, runs.baseline, base_est)
    ok = hit(claim, predicted)
    needs: list[dict] = []
    if not ok:
        for path in claim.needs:
            try:
                if path.startswith("assumptions."):
                    from ..assumptions import Assumptions

                    Assumptions.describe(path.split(".", 1)[1])
                else:
                    get_figure(runs.dojo.system, path)
            except (AttributeError, KeyError, IndexError, TypeError, ValueError, SpecError):
                raise SpecError(f"{claim.run}: needs", f"{path!r} is not a figure of the dojo run's system") from None
            needs.append(solve(claim, runs, path, base_est))
    unit = {"peak_bf16_flops": "flops", "sram_bytes": "bytes", "pool_bytes": "bytes"}.get(claim.total, "")
    return Entry(claim.id, claim.statement, claim.source, claim.claimed, claim.compare, predicted,
                 predicted / claim.claimed, ok, claim.run, tuple(needs), claim.range, unit)


def claim_files(directory: str | Path) -> list[Path]:
    d = Path(directory)
    if not d.is_dir():
        raise SpecError("claims", f"{d} is not a directory of claim files")
    files = sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml"))
    if not files:
        raise SpecError("claims", f"no claim files (*.yaml) in {d}")
    return files


def ledger(directory: str | Path, progress=None) -> list[Entry]:
    """Every claim in ``directory``, checked."""
    out = []
    for path in claim_files(directory):
        claim = read_claim(path)
        if progress:
            progress(claim.id)
        try:
            out.append(check_claim(claim))
        except SpecError as err:
            raise err.prefixed(path.name) from None
    return out
