"""What every command that shows ranges shares: the --samples/--seed options and the text of a
p10-p90 span."""
from __future__ import annotations

from typing import Callable

import typer

from ..ranges import DEFAULT_SAMPLES, DEFAULT_SEED, Spread

SAMPLES_OPTION = typer.Option(DEFAULT_SAMPLES, "--samples", min=0, max=100_000,
                              help="Latin hypercube draws of the assumed figures for the p10-p90 "
                                   "ranges (0: point figures only).")
SEED_OPTION = typer.Option(DEFAULT_SEED, "--seed", help="Seed of the draws (same seed, same ranges).")
RANGE_NOTE = ("p10-p90: 10th-90th percentile over {n} draws of the assumed figures "
              "(`dojosim sensitivity RUN` names the drivers).")


def span(s: Spread | None, fmt: Callable[[float], str]) -> str:
    """'3.85–24.4 s' for a spread; '-' when there is none. The unit is said once when both ends
    share it; a spread whose ends print alike is shown as that one value."""
    if s is None:
        return "-"
    lo, hi = fmt(s.p10), fmt(s.p90)
    if lo == hi:   # nothing with a range moves it
        return lo
    lo_num, _, lo_unit = lo.partition(" ")
    hi_num, _, hi_unit = hi.partition(" ")
    if lo_unit and lo_unit == hi_unit:
        return f"{lo_num}–{hi_num} {hi_unit}"
    return f"{lo}–{hi}"


def spread_json(sampled, figures: dict | None = None) -> dict:
    """``{name: {p10, p50, p90}}`` of the figures sampled (None where no draw gave a number)."""
    outs = sampled.outputs if figures is None else {k: sampled.outputs.get(k) for k in figures}
    return {k: (v.to_dict() if v is not None else None) for k, v in outs.items()}
