"""Capacity by workload: how many devices of each system train a run's workload in time.

``capacity_by_workload("run.yaml", "300e9 tokens in 30 days", ["h100-dgx", "dojo-exapod"])``
turns the goal into a rate (samples/s), then for each system searches device counts that tile
its preset — doubling until the best split (found by `search`) reaches the rate, then bisecting
between the last count that fell short and the first that made it — and reports the devices,
the split, the time to train, installed power and price.

The run's global batch is kept: with a fixed batch, throughput stops growing once every
replica holds a single sample, so some goals are out of reach; the row then says so and gives
the best the system reached.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .. import units
from ..errors import SpecError

SAMPLE_WORDS = ("samples", "sample", "sequences", "sequence", "seqs", "clips", "clip", "images", "image",
                "frames", "frame", "videos", "video")
TOKEN_WORDS = ("tokens", "token", "tok")
_SCALE = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_TRAIN = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*([kKMBGT]?)\s+([A-Za-z]+)"
                    r"(?:\s+in\s+(.+?))?\s*$")
_WEEK = re.compile(r"^\s*([0-9.eE+-]+)\s*(weeks?|w)\s*$")
_SHORT_DAY = re.compile(r"^\s*([0-9.eE+-]+)\s*d\s*$")

# Probes stop when doubling the devices gains less than this: the fixed global batch has run out
# of data parallelism, so more devices will not reach the goal.
SATURATION_GAIN = 1.02
MAX_DOUBLINGS = 24
# Device counts probed stop here (about a million accelerators) ...
MAX_DEVICES = 2**20
# ... or after this many whole-preset counts in a row where no split fits.
NO_FIT_STREAK = 3


@dataclass(frozen=True)
class TrainGoal:
    amount: float           # in `unit`
    unit: str               # "samples" | "tokens"
    duration_s: float | None
    word: str               # what the user called a sample ("clips")

    def samples(self, seq_len: int | None, path: str = "train") -> float:
        if self.unit == "samples":
            return self.amount
        if not seq_len:
            raise SpecError(f"{path}.unit", "tokens need a token model (one with seq_len); give samples instead")
        return self.amount / seq_len


def parse_duration(text: str, path: str = "train.duration") -> float:
    m = _WEEK.match(text)
    if m:
        return float(m.group(1)) * 7 * 86400
    m = _SHORT_DAY.match(text)
    if m:
        return float(m.group(1)) * 86400
    value = units.parse(text, "time", path=path)
    if value <= 0:
        raise SpecError(path, f"must be positive, got {text!r}")
    return value


def parse_train(text: str, *, need_duration: bool = True, path: str = "train") -> TrainGoal:
    """Read "1e6 clips in 1 day", "300e9 tokens in 30 days", "300B tokens in 4 weeks"."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(path, 'expected e.g. "1e6 clips in 1 day" or "300e9 tokens in 30 days"')
    m = _TRAIN.match(text)
    if not m:
        raise SpecError(path, f'cannot read {text!r}; write "AMOUNT UNIT in DURATION", e.g. "300e9 tokens in 30 days"')
    number, scale, word, duration = m.groups()
    amount = float(number.replace("_", "").replace(",", "")) * _SCALE[scale]
    if not math.isfinite(amount) or amount <= 0:
        raise SpecError(f"{path}.amount", f"must be a positive number, got {number!r}")
    lw = word.lower()
    if lw in TOKEN_WORDS:
        unit = "tokens"
    elif lw in SAMPLE_WORDS:
        unit = "samples"
    else:
        raise SpecError(f"{path}.unit", f"unknown unit {word!r}; use tokens or samples (clips, images, sequences)")
    if duration is None:
        if need_duration:
            raise SpecError(f"{path}.duration", f'missing: add "in 30 days" (got {text!r})')
        return TrainGoal(amount, unit, None, lw)
    return TrainGoal(amount, unit, parse_duration(duration, f"{path}.duration"), lw)


def tiling_counts(preset: str, limit: int = 10**7) -> tuple[int, list[int]]:
    """(chips of one preset, slices smaller than it that build) — the unit of device counts."""
    from ..hardware import load_system

    unit = load_system(preset).chips
    small = []
    for n in range(1, unit):
        if unit % n == 0 and n <= limit:
            try:
                load_system(preset, devices=n)
            except SpecError:
                continue
            small.append(n)
    return unit, small


def _best(model, preset: str, devices: int, batch: int, precision: str, workers, full: bool = False,
          adjust: bool = True, assumptions=None):
    """(system, fastest candidate or None, global batch used) on ``devices`` of ``preset``, costed
    with ``assumptions`` (a run file's ``assumptions:``; None = the defaults)."""
    from ..hardware import load_system
    from .search import best_with_batch

    try:
        system = load_system(preset, devices=devices)
    except SpecError:
        return None, None, batch
    constraints = {"precision": precision}
    if not full:
        # Probes rank device counts; one level order per split is enough for that, the final
        # count is searched over every order.
        constraints["orders"] = "default"
    cand, used = best_with_batch(model, system, batch, constraints, adjust_batch=adjust, workers=workers,
                                 assumptions=assumptions)
    return system, cand, used


def devices_for_rate(model, preset: str, rate: float, batch: int, precision: str, workers=None,
                     assumptions=None) -> dict:
    """Smallest device count of ``preset`` whose best split reaches ``rate`` samples/s under
    ``assumptions`` (None = the defaults)."""
    unit, small = tiling_counts(preset)
    ladder = small + [unit * 2 ** k for k in range(MAX_DOUBLINGS) if unit * 2 ** k <= MAX_DEVICES]
    last_short, best_seen, reached, why = None, None, None, "max"
    prev = 0.0
    streak = 0
    for n in ladder:
        system, cand, _ = _best(model, preset, n, batch, precision, workers, assumptions=assumptions)
        if system is None and n > unit:
            why = "no_scale"      # the preset has no scale-out level: it cannot grow past one copy
            break
        if cand is None:
            last_short = n
            streak += n >= unit
            if streak >= NO_FIT_STREAK:
                why = "no_fit"
                break
            continue
        streak = 0
        thr = cand.estimate.samples_per_s
        if best_seen is None or thr > best_seen[1]:
            best_seen = (n, thr)
        if thr >= rate:
            reached = n
            break
        if prev and thr < prev * SATURATION_GAIN:
            why = "saturated"
            break
        prev = thr
        last_short = n
    if reached is None:
        return {"reachable": False, "devices": best_seen[0] if best_seen else None, "why": why,
                "best_samples_per_s": best_seen[1] if best_seen else 0.0}
    lo = last_short if last_short is not None and last_short < reached else None
    step = unit if reached > unit else None
    if lo is not None and step and lo >= unit:
        # Bisect over multiples of the preset between the last short count and the first good one,
        # keeping the run's own batch (a count that needs another batch counts as short).
        a, b = lo // unit, reached // unit
        while b - a > 1:
            mid = (a + b) // 2
            _, cand, _ = _best(model, preset, mid * unit, batch, precision, workers, adjust=False,
                               assumptions=assumptions)
            if cand is not None and cand.estimate.samples_per_s >= rate:
                b = mid
            else:
                a = mid
        reached = b * unit
    return {"reachable": True, "devices": reached}


def capacity_by_workload(run_path, train: str, systems: list[str] | None = None, *, workers=None,
                         samples: int = 0, seed: int = 0) -> list[dict]:
    """For each system, the devices that train ``run_path``'s workload as fast as ``train`` asks.
    With ``samples`` > 0, each row also gets the p10/p50/p90 ``ranges`` of its samples/s and
    days to train: the split found re-estimated (on the device count found) under Latin
    hypercube draws of the assumed figures (`dojosim.ranges`)."""
    from ..hardware.totals import assumed_totals
    from ..run import load_run

    goal = parse_train(train)
    run = load_run(run_path)
    model, strat = run.model, run.strategy
    names = list(systems or []) or [run.raw.get("system", {}).get("preset")]
    samples_needed = goal.samples(model.seq_len)
    rate = samples_needed / goal.duration_s
    rows = []
    chosen = []        # (row index, system, strategy) of every row with a split, for the ranges
    for name in names:
        # the run file's own figures (its assumptions: block) cost every count tried
        found = devices_for_rate(model, name, rate, strat.global_batch, strat.precision, workers,
                                 assumptions=run.assumptions)
        row = {"system": name, "devices": found["devices"], "reachable": found["reachable"], "split": "-",
               "samples_per_s": 0.0, "days_to_train": None, "power_w": None, "price_usd": None, "assumed": [],
               "note": ""}
        details = {"target_samples_per_s": rate, "global_batch": strat.global_batch}
        if found["devices"]:
            system, cand, used = _best(model, name, found["devices"], strat.global_batch, strat.precision,
                                       workers, full=True, assumptions=run.assumptions)
            est = cand.estimate if cand else None
            if cand is not None:
                chosen.append((len(rows), system, cand.strategy))
            row.update({
                "split": cand.strategy.label(model) if cand else "-",
                "samples_per_s": est.samples_per_s if est else 0.0,
                "days_to_train": samples_needed / est.samples_per_s / 86400 if est and est.samples_per_s else None,
                "power_w": system.power_w,
                "price_usd": system.price_usd,
                # which of those totals rest on assumed figures (shown with the ≈ mark)
                "assumed": [k for k in ("power_w", "price_usd") if k in assumed_totals(system)],
            })
            details.update({
                "batch_used": used,
                "tokens_per_s": est.tokens_per_s if est else None,
                "mfu": est.mfu if est else None,
                "training_power_w": est.power_w if est else None,
                "assumed": system.assumed,
                "strategy": cand.strategy.model_dump(mode="json") if cand else None,
            })
            if used != strat.global_batch:
                row["note"] = (f"global batch {strat.global_batch} has no split on {found['devices']} devices; "
                               f"used {used}")
            inp = est.extra.get("input", {}) if est else {}
            details["input"] = inp
            if inp.get("bound"):
                # the hosts, not the chips, set the rate: say how many hosts remove that
                row["note"] = "; ".join(filter(None, [row["note"], inp.get("note", "")]))
        if not found["reachable"]:
            reason = {"saturated": f"more devices stop helping at global batch {strat.global_batch}",
                      "no_scale": f"{name} has no scale-out level, so it cannot grow past one copy",
                      "no_fit": f"no split fits on {NO_FIT_STREAK} device counts in a row",
                      "max": f"not reached within {MAX_DEVICES:,} devices"}[found["why"]]
            row["note"] = "; ".join(filter(None, [row["note"], (
                f"goal out of reach: {reason}; best {found.get('best_samples_per_s', 0.0):,.4g} "
                f"samples/s vs {rate:,.4g} needed" if found["devices"]
                else f"no split fits on any device count tried ({reason})")]))
        row["details"] = details
        rows.append(row)
    if samples and chosen:
        _attach_ranges(model, rows, chosen, samples_needed, run.assumptions, samples, seed)
    return rows


def _attach_ranges(model, rows: list[dict], chosen: list, samples_needed: float, assumptions,
                   samples: int, seed: int) -> None:
    from ..engine import estimate
    from ..ranges import sample

    def figures(a, drawn) -> dict[str, float]:
        out = {}
        for j, (k, _, strategy) in enumerate(chosen):
            rate = estimate(model, drawn[j], strategy, a).samples_per_s
            out[f"{k}.samples_per_s"] = rate
            out[f"{k}.days_to_train"] = samples_needed / rate / 86400 if rate else float("inf")
        return out

    sampled = sample(figures, [c[1] for c in chosen], assumptions=assumptions, samples=samples, seed=seed)
    for k, _, _ in chosen:
        rows[k]["ranges"] = {f: (v.to_dict() if (v := sampled.outputs.get(f"{k}.{f}")) else None)
                             for f in ("samples_per_s", "days_to_train")}
        rows[k]["range"] = rows[k]["ranges"]["days_to_train"]
        rows[k]["range_samples"] = sampled.to_dict()
