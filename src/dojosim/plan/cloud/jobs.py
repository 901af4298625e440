"""Job streams: read from a file (CSV, Parquet or YAML) or drawn from stated distributions.

A job is a workload (a zoo name or a run file), its work (samples, steps, or a duration on the
GPUs it asked for), a size request in reference GPUs (H100-equivalents by peak; "2 tiles",
"1 cube" and "1 node" are read through their own peak) or a range "A-B", an arrival time and a
tenant. Public GPU-cluster traces load as they are: their column names are mapped below.

Synthetic streams (`synthetic`) draw, from one seed:
  sizes       log-normal in GPUs, median `SIZE_MEDIAN_GPUS`, sigma `SIZE_SIGMA`, rounded to a
              power of two and capped — most jobs ask for one or two GPUs and a few for hundreds,
              the shape the Philly (Jeon et al., ATC'19) and Helios (Hu et al., SC'21) papers
              report; the parameters are assumed (docs/cloud.md gives ranges and reasons).
  durations   log-normal on the requested GPUs, median `DURATION_MEDIAN_S`, sigma
              `DURATION_SIGMA` (heavy tail: p99 about 100x the median), capped at 14 days.
  arrivals    Poisson; the rate is set later from the offered load (`runner.set_load`).
  workloads   drawn from a mix of zoo models; tenants Zipf-like over `TENANTS`.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ...errors import SpecError

# ---- synthetic stream parameters (assumed; docs/cloud.md) ------------------------------------
SIZE_MEDIAN_GPUS = 2.0        # assumed, range 1-4: Philly/Helios: most jobs ask for 1 GPU
SIZE_SIGMA = 1.5              # assumed, range 1.0-2.0 (ln GPUs): a few jobs ask for hundreds
DURATION_MEDIAN_S = 1800.0    # assumed, range 10 min-2 h: traces span minutes to weeks
DURATION_SIGMA = 2.0          # assumed, range 1.5-2.5 (ln s): heavy tail
MAX_DURATION_S = 14 * 86400.0
TENANTS = 20
DEFAULT_MIX = (("resnet50", 0.4), ("vit-l16", 0.3), ("gpt", 0.3))
# The global batch of a job that gives none and whose workload (a zoo name) has none: every size
# runs the same batch (strong scaling), so a bigger partition finishes the same work sooner.
# Assumed, range 64-2048 (typical ResNet/ViT/GPT fine-tuning batches).
DEFAULT_BATCH = 256
MAX_JOBS = 5_000_000
MAX_FILE_BYTES = 1 << 30       # a job file larger than 1 GiB is refused before it is read

# Column names of the public traces -> our fields (the first present wins).
ALIASES = {
    "id": ("id", "job_id", "jobid", "job_name"),
    "arrival": ("arrival_s", "arrival", "submit_time", "submitted_time", "submit"),
    "size": ("size", "gpus", "gpu_num", "num_gpus", "gpu", "plan_gpu"),
    "size_max": ("size_max", "max_gpus"),
    "duration": ("duration_s", "duration", "run_time", "runtime"),
    "samples": ("samples",),
    "steps": ("steps",),
    "workload": ("workload", "model"),
    "tenant": ("tenant", "user", "user_name", "vc"),
    "batch": ("batch", "global_batch"),
}
SIZE_UNITS = {"gpu": ("h100-dgx", 1), "gpus": ("h100-dgx", 1), "tile": ("dojo-tile", None),
              "tiles": ("dojo-tile", None), "cube": ("tpu-v4-pod", 0), "cubes": ("tpu-v4-pod", 0),
              "node": ("h100-dgx", None), "nodes": ("h100-dgx", None)}


@dataclass(frozen=True)
class Job:
    index: int
    id: str
    tenant: str
    workload: str
    arrival: float                 # seconds from the stream's start
    size: float                    # smallest request, reference GPUs
    size_max: float                # largest (== size unless a range was given)
    samples: float | None = None
    steps: float | None = None
    duration: float | None = None  # seconds on `size` reference GPUs
    batch: int | None = None

    @property
    def elastic(self) -> bool:
        return self.size_max > self.size


def unit_gpus(unit: str) -> float:
    """Reference GPUs one ``unit`` (tile, cube, node) is worth by peak FLOP/s."""
    from ...hardware import load_system
    from .timing import reference_peak

    preset, level = SIZE_UNITS[unit]
    sys_ = load_system(preset)
    chips = 1 if level == 1 else (sys_.level_chips(0) if level in (None, 0) else sys_.chips)
    from .partitions import chip_peak

    return chips * chip_peak(sys_.chip) / reference_peak()


_SIZE_RE = re.compile(r"^\s*([0-9.eE+]+)\s*(?:-\s*([0-9.eE+]+))?\s*([a-z]*)\s*$")


def parse_size(value, where: str) -> tuple[float, float]:
    """``8``, ``"4-64"``, ``"2 tiles"``, ``"1-4 cubes"`` -> (min, max) in reference GPUs."""
    if isinstance(value, bool):
        raise SpecError(where, f"expected a number of GPUs, got {value!r}")
    if isinstance(value, (int, float)):
        lo = hi = float(value)
        unit = "gpu"
    else:
        m = _SIZE_RE.match(str(value).lower())
        if not m:
            raise SpecError(where, f"expected a size like 8, '4-64' or '2 tiles', got {value!r}")
        try:
            lo = float(m.group(1))
            hi = float(m.group(2)) if m.group(2) else lo
        except ValueError:
            raise SpecError(where, f"cannot read a number in {value!r}") from None
        unit = m.group(3) or "gpu"
        if unit not in SIZE_UNITS:
            raise SpecError(where, f"unknown size unit {unit!r}; use gpus, tiles, cubes or nodes")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi < lo or hi > 1e7:
        raise SpecError(where, f"must be a positive size (a range low-high, low <= high), got {value!r}")
    k = unit_gpus(unit) if unit not in ("gpu", "gpus") else 1.0
    return lo * k, hi * k


def _positive(value, where: str, allow_none: bool = True) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        if allow_none:
            return None
        raise SpecError(where, "missing")
    if isinstance(value, bool):
        raise SpecError(where, f"expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SpecError(where, f"expected a number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise SpecError(where, f"must be a positive finite number, got {value!r}")
    return v


# ---- reading ------------------------------------------------------------------------------
def read_jobs(path: str | os.PathLike, default_workload: str | None = None) -> list[Job]:
    """Jobs from a CSV, Parquet or YAML file; every bad cell is a one-line `SpecError`."""
    p = Path(path)
    where = p.name
    if not p.is_file():
        raise SpecError("jobs", f"no such file: {str(p)!r}")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise SpecError(where, f"{p.stat().st_size / 2**30:.1f} GiB; a job file may hold at most 1 GiB")
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        from ...yamlfile import read_yaml

        doc = read_yaml(p, where)
        if isinstance(doc, dict) and "jobs" in doc:
            doc = doc["jobs"]
        if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
            raise SpecError(where, "expected a list of jobs (mappings), or {jobs: [...]}")
        rows, columns = doc, sorted({k for r in doc for k in r})
    elif suffix in (".csv", ".parquet", ".pq"):
        rows, columns = _table_rows(p, suffix, where)
    else:
        raise SpecError("jobs", f"{p.name}: expected a .csv, .parquet or .yaml file")
    if len(rows) > MAX_JOBS:
        raise SpecError(where, f"{len(rows):,} jobs; at most {MAX_JOBS:,} per stream")
    cols = {field: next((c for c in names if c in columns), None) for field, names in ALIASES.items()}
    if cols["arrival"] is None:
        raise SpecError(where, f"no arrival column (one of: {', '.join(ALIASES['arrival'])})")
    if cols["size"] is None:
        raise SpecError(where, f"no size column (one of: {', '.join(ALIASES['size'])})")
    have_work = any(cols[k] for k in ("samples", "steps", "duration")) or {"start_time", "end_time"} <= set(columns)
    if not have_work:
        raise SpecError(where, "no work column: give samples, steps, duration, or start_time and end_time")
    arrivals = _arrival_seconds([r.get(cols["arrival"]) for r in rows], where, cols["arrival"])
    jobs = []
    for i, r in enumerate(rows):
        at = f"{where}[row {i + 1}]"
        jobs.append(_job(i, r, cols, arrivals[i], at, default_workload))
    jobs.sort(key=lambda j: (j.arrival, j.index))
    return [replace(j, index=k) for k, j in enumerate(jobs)]


def _table_rows(p: Path, suffix: str, where: str) -> tuple[list[dict], list[str]]:
    import pandas as pd

    try:
        if suffix == ".csv":
            df = pd.read_csv(p, nrows=MAX_JOBS + 1, low_memory=False)
        else:
            df = pd.read_parquet(p)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(where, f"cannot read the table: {first}") from None
    except Exception as exc:   # pyarrow raises its own types for a corrupt file
        if type(exc).__module__.startswith("pyarrow"):
            raise SpecError(where, f"cannot read the table: {str(exc).splitlines()[0]}") from None
        raise
    columns = [str(c) for c in df.columns]
    df.columns = columns
    return df.to_dict("records"), columns


def _arrival_seconds(values: list, where: str, col: str) -> list[float]:
    """Seconds from the first arrival: numbers as seconds, dates/times as timestamps."""
    nums = []
    for i, v in enumerate(values):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            nums.append(float(v))
        else:
            nums = None
            break
    if nums is None:
        import pandas as pd

        try:
            ts = pd.to_datetime(pd.Series(values), errors="raise", format="mixed")
        except (ValueError, TypeError, OverflowError):
            for i, v in enumerate(values):
                try:
                    pd.to_datetime(v)
                except (ValueError, TypeError, OverflowError):
                    raise SpecError(f"{where}[row {i + 1}].{col}", f"not a time or number: {v!r}") from None
            raise SpecError(f"{where}.{col}", "cannot read the times") from None
        if ts.isna().any():
            i = int(ts.isna().to_numpy().argmax())
            raise SpecError(f"{where}[row {i + 1}].{col}", "missing")
        nums = [float(x) for x in (ts - ts.min()).dt.total_seconds()]
    for i, v in enumerate(nums):
        if not math.isfinite(v) or v < 0:
            raise SpecError(f"{where}[row {i + 1}].{col}", f"must be a finite time >= 0, got {values[i]!r}")
    lo = min(nums, default=0.0)
    return [v - lo for v in nums]


def _job(i: int, r: dict, cols: dict, arrival: float, at: str, default_workload: str | None) -> Job:
    def get(field):
        c = cols[field]
        v = r.get(c) if c else None
        return None if isinstance(v, float) and math.isnan(v) else v

    size_col = cols["size"]
    raw = get("size")
    if raw is None:
        raise SpecError(f"{at}.{size_col}", "missing")
    lo, hi = parse_size(raw, f"{at}.{size_col}")
    if size_col == "plan_gpu":      # Alibaba PAI: percent of one GPU per instance
        inst = _positive(r.get("inst_num"), f"{at}.inst_num") or 1.0
        lo = hi = max(lo / 100.0, 0.01) * inst
    if get("size_max") is not None:
        hi = parse_size(get("size_max"), f"{at}.{cols['size_max']}")[1]
        if hi < lo:
            raise SpecError(f"{at}.{cols['size_max']}", "is below the size")
    duration = _positive(get("duration"), f"{at}.{cols['duration']}")
    if duration is None and "start_time" in r and "end_time" in r:
        d = _seconds_between(r.get("start_time"), r.get("end_time"), at)
        duration = d
    samples = _positive(get("samples"), f"{at}.{cols['samples']}")
    steps = _positive(get("steps"), f"{at}.{cols['steps']}")
    if samples is None and steps is None and duration is None:
        raise SpecError(at, "no work: give samples, steps or duration")
    batch = get("batch")
    if batch is not None:
        b = _positive(batch, f"{at}.{cols['batch']}")
        if b != int(b):
            raise SpecError(f"{at}.{cols['batch']}", f"must be a whole number, got {batch!r}")
        batch = int(b)
    workload = get("workload") or default_workload
    if not workload:
        raise SpecError(f"{at}.workload", "missing (or pass --workload)")
    tenant = get("tenant")
    jid = get("id")
    return Job(i, str(jid) if jid is not None else str(i), str(tenant) if tenant is not None else "-",
               str(workload), arrival, lo, hi, samples, steps, duration, batch)


def _seconds_between(a, b, at: str) -> float | None:
    try:
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            d = float(b) - float(a)
        else:
            import pandas as pd

            d = (pd.Timestamp(b) - pd.Timestamp(a)).total_seconds()
    except (ValueError, TypeError, OverflowError):
        raise SpecError(f"{at}.end_time", "cannot read start_time/end_time as times") from None
    if not math.isfinite(d) or d <= 0:
        return None if d == 0 else _raise(f"{at}.end_time", "ends before it starts")
    return d


def _raise(path: str, reason: str):
    raise SpecError(path, reason)


# ---- synthetic ----------------------------------------------------------------------------
def synthetic(n: int, seed: int = 0, *, mix=DEFAULT_MIX, max_gpus: float = 1024.0,
              size_median: float = SIZE_MEDIAN_GPUS, size_sigma: float = SIZE_SIGMA,
              duration_median: float = DURATION_MEDIAN_S, duration_sigma: float = DURATION_SIGMA,
              fixed_gpus: float | None = None, elastic: float = 0.0) -> list[Job]:
    """``n`` jobs with unit-rate Poisson arrivals (the load sets the real rate later).

    ``fixed_gpus`` gives every job that size; ``elastic`` is the share of jobs that accept any
    size from half to twice their draw."""
    import numpy as np

    if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > MAX_JOBS:
        raise SpecError("synthetic", f"must be a whole number of jobs from 1 to {MAX_JOBS:,}, got {n!r}")
    for name, v, lo, hi in (("size-median", size_median, 1, 1e6), ("size-sigma", size_sigma, 0, 5),
                            ("elastic-share", elastic, 0, 1), ("size", fixed_gpus or 1, 1e-3, 1e6)):
        if not (isinstance(v, (int, float)) and lo <= v <= hi):
            raise SpecError(name, f"must be a number from {lo:g} to {hi:g}, got {v!r}")
    rng = np.random.default_rng(seed)
    names = [m for m, _ in mix]
    weights = np.array([w for _, w in mix], dtype=float)
    weights /= weights.sum()
    wl = rng.choice(len(names), size=n, p=weights)
    if fixed_gpus is None:
        raw = np.exp(rng.normal(math.log(size_median), size_sigma, n))
        sizes = np.clip(2.0 ** np.round(np.log2(np.maximum(raw, 1.0))), 1.0, max_gpus)
    else:
        sizes = np.full(n, float(fixed_gpus))
    durations = np.minimum(np.exp(rng.normal(math.log(duration_median), duration_sigma, n)), MAX_DURATION_S)
    arrivals = np.cumsum(rng.exponential(1.0, n))
    arrivals -= arrivals[0]
    zipf = 1.0 / np.arange(1, TENANTS + 1)
    tenants = rng.choice(TENANTS, size=n, p=zipf / zipf.sum())
    flex = rng.random(n) < elastic
    jobs = []
    for i in range(n):
        s = float(sizes[i])
        lo, hi = (max(1.0, s / 2), min(max_gpus, s * 2)) if flex[i] else (s, s)
        jobs.append(Job(i, f"j{i}", f"t{int(tenants[i])}", names[int(wl[i])], float(arrivals[i]), lo, hi,
                        duration=float(durations[i])))
    return jobs
