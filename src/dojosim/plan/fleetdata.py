"""The data path of a fleet: from cars on the road to stored video and training clips per day.

A scenario (the ``data:`` block of a build-out plan) gives::

    data:
      workload: fsd                 # fsd | occupancy | auto-labeling: what the clips are used for
      cars: {2024Q1: 5.0e6, 2026Q4: {value: 9e6, low: 7e6, high: 11e6, reason: "..."}}
      clips_per_car_per_day: {value: 0.5, low: 0.05, high: 5, reason: "..."}
      bytes_per_clip: {value: 40 MB, low: 10 MB, high: 400 MB, reason: "..."}
      retention: {value: 365 days, low: 90 days, high: 1095 days, reason: "..."}
      curated_share: {value: 0.1, low: 0.01, high: 0.5, reason: "..."}
      epochs: {value: 2, low: 1, high: 10, reason: "..."}

None of these is published (docs/sources.md, "Fleet build-out", lists them as unknowns), so each omitted one takes
the assumed default below, with its range and reason. Per quarter the model is:

- uploads per day = cars x clips per car per day (cars linear between the given quarters,
  flat outside them);
- ingest bandwidth = uploads per day x bytes per clip / 86,400 s;
- storage = raw clips of the last ``retention`` (before the plan starts, uploads are taken at the
  first quarter's rate, so the store starts full) + the curated training set, kept for the plan
  (``curated_share`` of every clip uploaded since the plan started);
- clips that need compute per day = uploads x curated share x epochs (training: every curated
  clip is seen ``epochs`` times) or x 1 (auto-labeling: every curated clip is labelled once).

`evaluate` returns the central case and p10/p50/p90 over a seeded Latin hypercube of the ranges.
"""
from __future__ import annotations

import numpy as np

from ..errors import SpecError
from ..yamlfile import check_mapping
from ..ranges import latin_hypercube
from .figures import Figure, assumed, parse_figure, percentiles
from .quarters import QUARTER_S, parse_quarter

DAY_S = 86400.0
DATA_KEYS = ("workload", "cars", "clips_per_car_per_day", "bytes_per_clip", "retention", "curated_share",
             "epochs", "samples", "seed")
DEFAULT_SAMPLES = 256
# name -> (dimension, lower bound, upper bound, default figure)
INPUTS = {
    "clips_per_car_per_day": ("count", 0.0, None, assumed(
        0.5, 0.05, 5.0, "not published; cars upload clips on triggers (rare events, campaigns), not "
        "continuously: assumed 0.05-5 per car per day")),
    "bytes_per_clip": ("bytes", 0.0, None, assumed(
        40e6, 10e6, 400e6, "not published; 8 cameras x ~10 s of compressed video at 0.5-5 MB/s per "
        "camera; decoded, one training sample is ~1.7 GB (Hot Chips 2024)")),
    "retention": ("time", 0.0, None, assumed(
        365 * DAY_S, 90 * DAY_S, 1095 * DAY_S, "not published; raw uploads kept 3 months to 3 years")),
    "curated_share": ("count", 0.0, 1.0, assumed(
        0.1, 0.01, 0.5, "not published; the share of uploaded clips that curation keeps for training")),
    "epochs": ("count", 0.0, None, assumed(
        2.0, 1.0, 10.0, "not published; passes over each curated clip while it is in the training set")),
}
TRAINING = ("fsd", "occupancy")


def check_data(raw, workloads: tuple[str, ...], path: str = "data") -> dict:
    """The data-path block, every number a `Figure`; cars as {quarter index: Figure}."""
    check_mapping(raw, path, DATA_KEYS, "a mapping with cars and the data-path figures")
    wl = raw.get("workload", "fsd")
    if wl not in workloads:
        raise SpecError(f"{path}.workload", f"unknown workload {wl!r}; the plan's workloads are: {', '.join(workloads)}")
    cars = raw.get("cars")
    if not isinstance(cars, dict) or not cars:
        raise SpecError(f"{path}.cars", "expected {QUARTER: cars, ...}, e.g. {2024Q1: 5.0e6}")
    points = {}
    for k, v in cars.items():
        q = parse_quarter(k, f"{path}.cars.{k}")
        points[q] = parse_figure(v, f"{path}.cars.{k}")
    out = {"workload": wl, "cars": dict(sorted(points.items()))}
    for name, (dim, lo, hi, default) in INPUTS.items():
        out[name] = (parse_figure(raw[name], f"{path}.{name}", dim, lo=lo, hi=hi) if name in raw
                     else Figure(default.value, default.low, default.high, True, default.source, f"{path}.{name}"))
    for k, default in (("samples", DEFAULT_SAMPLES), ("seed", 0)):
        v = raw.get(k, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < (1 if k == "samples" else 0) or v > 100_000:
            raise SpecError(f"{path}.{k}", f"must be an integer in {1 if k == 'samples' else 0}..100000, got {v!r}")
        out[k] = v
    return out


def figures_of(data: dict) -> list[Figure]:
    return list(data["cars"].values()) + [data[k] for k in INPUTS]


def _series(data: dict, quarters: np.ndarray, vals: dict) -> dict:
    """Every per-quarter output for parameter arrays of shape (n,) (cars points: (n,) each)."""
    n = len(vals["epochs"])
    keys = np.array(list(data["cars"]), dtype=float)
    car_pts = np.stack([vals["cars"][int(k)] for k in keys], axis=1)            # (n, points)
    cars = np.stack([np.interp(quarters, keys, car_pts[i]) for i in range(n)])  # (n, T)
    uploads = cars * vals["clips_per_car_per_day"][:, None]                     # clips/day
    ingest = uploads * vals["bytes_per_clip"][:, None] / DAY_S                  # B/s
    # cumulative bytes at quarter ends since the plan start; the window reaches back before it
    ends = (quarters - quarters[0] + 1) * QUARTER_S
    cum = np.cumsum(ingest * QUARTER_S, axis=1)
    raw = np.empty_like(cum)
    for i in range(n):
        t0 = ends - vals["retention"][i]
        edges = np.concatenate([[0.0], ends])
        c_edges = np.concatenate([[0.0], cum[i]])
        before = np.where(t0 < 0, -t0 * ingest[i, 0], 0.0)
        raw[i] = cum[i] - np.interp(np.maximum(t0, 0.0), edges, c_edges) + before
    curated = uploads * vals["curated_share"][:, None]
    passes = vals["epochs"][:, None] if data["workload"] in TRAINING else 1.0
    return {"cars": cars, "uploads_per_day": uploads, "ingest_bandwidth": ingest,
            "storage_bytes": raw + cum * vals["curated_share"][:, None],
            "curated_per_day": curated, "clips_per_day": curated * passes,
            "demand_samples_per_s": curated * passes / DAY_S}


def evaluate(data: dict, quarters: list[int]) -> dict:
    """Central case (every figure at its value) and p10/p50/p90 per quarter over the ranges."""
    q = np.asarray(quarters, dtype=float)
    central = {"cars": {k: np.array([f.value]) for k, f in data["cars"].items()},
               **{k: np.array([data[k].value]) for k in INPUTS}}
    mid = {k: v[0].tolist() for k, v in _series(data, q, central).items()}
    figs = figures_of(data)
    ranged = [i for i, f in enumerate(figs) if f.has_range]
    n = data["samples"]
    u = latin_hypercube(n, len(ranged), data["seed"]) if ranged else np.zeros((n, 0))
    draws = [np.full(n, f.value) for f in figs]
    for col, i in enumerate(ranged):
        draws[i] = figs[i].at(u[:, col])
    ncar = len(data["cars"])
    sampled = {"cars": dict(zip(data["cars"], draws[:ncar])), **dict(zip(INPUTS, draws[ncar:]))}
    spread = {k: percentiles(v) for k, v in _series(data, q, sampled).items()}
    return {"workload": data["workload"], "central": mid, "ranges": spread, "samples": n, "seed": data["seed"],
            "assumed": [f.describe() for f in figs if f.assumed],
            "published": [f.describe() for f in figs if not f.assumed]}
