"""Design sweeps: grids and random samples over any field of a run's system, model and strategy.

A sweep file::

    name: tile-hbm
    base:                       # a run, as in RUN.yaml (or `run: path/to/RUN.yaml`)
      workload: {model: gpt, layers: 24, hidden: 2048, heads: 16, seq_len: 2048}
      system: {preset: dojo-tile}
      strategy: {dp: 25, global_batch: 400, micro_batch: 1}
    evaluate: estimate          # or `search` (best split per point) with `objective:`
    grid:                       # every combination
      system.levels[0].link_bandwidth: ["1 TB/s", "2 TB/s", "4 TB/s"]
      workload.hidden: [1024, 2048, 4096]
    random:                     # plus `samples` random draws, crossed with the grid
      samples: 50
      seed: 0
      params:
        system.chip.sram_bytes: {uniform: ["200 MB", "800 MB"]}
        strategy.micro_batch: {choice: [1, 2, 4]}
        workload.layers: {int: [12, 48]}

Parameter paths start with ``workload.``, ``strategy.`` or ``system.``; ``system.preset`` and
``system.devices`` pick the machine, any other ``system.X`` is a dotted path into the System
(see `overrides.py`). Each point gets a key (a hash of its parameters); results go to a `Store`
as they arrive, and ``resume`` skips the keys already on disk.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import os
import time
from pathlib import Path
from typing import Callable, Iterable


from .. import limits
from ..errors import SpecError
from ..limits import cap_workers, check_int
from ..yamlfile import check_mapping, read_yaml
from .store import Store

SECTIONS = ("workload", "strategy", "system", "cloud")   # cloud.*: dojosim.plan.cloud.sweep
TOP_KEYS = ("name", "base", "run", "evaluate", "objective", "grid", "random", "evaluator", "outputs",
            "description", "constraints")
# A base run is a run file's mapping (the run keys beyond these three are ignored by a sweep).
BASE_KEYS = ("workload", "strategy", "system", "echo_sleep_s", "cloud")
SYSTEM_KEYS = ("preset", "devices")
OBJECTIVES = ("throughput", "cost", "energy")
# Estimate fields stored per point (breakdown components are added as breakdown.<name>).
DEFAULT_OUTPUTS = ("step_time_s", "samples_per_s", "tokens_per_s", "mfu", "hfu", "energy_j_per_step",
                   "power_w", "cost_usd_per_step", "memory.per_device_bytes", "memory.fits")
FLUSH_ROWS = 256        # write a part file at least every this many rows ...
FLUSH_S = 5.0           # ... or every this many seconds, whichever comes first
CHUNK = 32              # points per task sent to a worker


# ---- reading the sweep file -----------------------------------------------------------------
def load_sweep(path: str | os.PathLike) -> dict:
    """Read and check a sweep file; returns the spec with ``base`` resolved to a run dict."""
    p = Path(path)
    spec = read_yaml(p, "sweep") or {}
    return check_sweep(spec, base_dir=p.parent)


def check_sweep(spec: dict, base_dir: Path | None = None) -> dict:
    """The sweep ``spec`` checked field by field (a copy, with ``base`` resolved and defaults set).

    Everything that could make the sweep fail midway or run without end is refused here, before
    any point is costed: unknown keys, bad distributions, and more points than
    `limits.MAX_SWEEP_POINTS`.
    """
    check_mapping(spec, "sweep", TOP_KEYS, "a mapping with base, grid and/or random")
    spec = copy.deepcopy(spec)
    for key in ("name", "description"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise SpecError(f"sweep.{key}", f"must be text, got {type(spec[key]).__name__}")
    if "run" in spec:
        run_path = spec.pop("run")
        if not isinstance(run_path, str) or not run_path:
            raise SpecError("sweep.run", f"must be the path of a run file, got {run_path!r}")
        run_path = Path(run_path)
        if base_dir is not None and not run_path.is_absolute():
            run_path = base_dir / run_path
        spec["base"] = read_yaml(run_path, "sweep.run") or {}
    base = spec.setdefault("base", {})
    if base is None:
        base = spec["base"] = {}
    check_mapping(base, "sweep.base", BASE_KEYS, "a run mapping (workload, system, strategy)")
    for section in SECTIONS:
        if base.get(section) is not None and not isinstance(base[section], dict):
            raise SpecError(f"sweep.base.{section}", f"must be a mapping, got {type(base[section]).__name__}")
    if base.get("system") is not None:
        check_mapping(base["system"], "sweep.base.system", SYSTEM_KEYS, "a mapping {preset, devices}")
    mode = spec.setdefault("evaluate", "estimate")
    if mode not in ("estimate", "search"):
        raise SpecError("sweep.evaluate", f"must be 'estimate' or 'search', got {mode!r}")
    if spec.get("objective") is not None and spec["objective"] not in OBJECTIVES:
        raise SpecError("sweep.objective", f"must be one of {', '.join(OBJECTIVES)}, got {spec['objective']!r}")
    outputs = spec.get("outputs")
    if outputs is not None and (not isinstance(outputs, list) or not outputs
                                or not all(isinstance(o, str) and o for o in outputs)):
        raise SpecError("sweep.outputs", "expected a non-empty list of estimate field names")
    if spec.get("constraints") is not None and not isinstance(spec["constraints"], dict):
        raise SpecError("sweep.constraints", "expected a mapping of strategy field -> value or list")
    grid = spec.get("grid") or {}
    spec["grid"] = grid
    if not isinstance(grid, dict):
        raise SpecError("sweep.grid", "expected a mapping of parameter path -> list of values")
    count = 1
    for k, v in grid.items():
        _check_param(k, f"sweep.grid.{k}")
        if not isinstance(v, list) or not v:
            raise SpecError(f"sweep.grid.{k}", "expected a non-empty list of values")
        count *= len(v)
        _check_count(count, f"sweep.grid.{k}")
    rnd = spec.get("random")
    if rnd is not None:
        if not isinstance(rnd, dict) or not isinstance(rnd.get("params"), dict) or not rnd["params"]:
            raise SpecError("sweep.random", "expected {samples: N, seed: S, params: {path: {uniform|loguniform|int|choice: ...}}}")
        check_mapping(rnd, "sweep.random", ("samples", "seed", "params"), "a mapping {samples, seed, params}")
        n = check_int(rnd.get("samples"), "sweep.random.samples", high=limits.MAX_SAMPLES,
                      what="a positive integer")
        _check_count(count * n, "sweep.random.samples")
        check_int(rnd.get("seed", 0), "sweep.random.seed", low=0, high=2**63 - 1, what="a non-negative integer")
        for k, dist in rnd["params"].items():
            _check_param(k, f"sweep.random.params.{k}")
            _check_dist(dist, k, f"sweep.random.params.{k}")
    if not grid and rnd is None:
        raise SpecError("sweep", "give a grid, random samples, or both")
    if spec.get("evaluator") is not None:
        resolve_evaluator(spec["evaluator"])
    return spec


def _check_count(count: int, path: str) -> None:
    if count > limits.MAX_SWEEP_POINTS:
        raise SpecError(path, f"the sweep has {count:,} points, above the limit of "
                              f"{limits.MAX_SWEEP_POINTS:,} (dojosim.limits.MAX_SWEEP_POINTS); split it")


def _check_param(key, path: str) -> None:
    if not isinstance(key, str) or key.split(".", 1)[0] not in SECTIONS or "." not in key:
        raise SpecError(path, f"a parameter path starts with {', '.join(s + '.' for s in SECTIONS)}")


_DISTS = ("uniform", "loguniform", "int", "choice")


def _check_dist(dist, key: str, path: str) -> None:
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in _DISTS:
        raise SpecError(path, f"expected one of {{{' | '.join(_DISTS)}: ...}}")
    kind, arg = next(iter(dist.items()))
    if not isinstance(arg, list) or (kind != "choice" and len(arg) != 2) or not arg:
        raise SpecError(f"{path}.{kind}", "expected [low, high]" if kind != "choice" else "expected a list of values")
    if kind != "choice":
        _bounds(kind, arg, key, f"{path}.{kind}")


def _bounds(kind: str, arg: list, key: str, path: str) -> tuple[float, float]:
    """The [low, high] of a distribution in SI numbers, checked: finite, ordered, > 0 for log."""
    import math

    from .. import units
    from .overrides import dimension, tokens

    lo, hi = arg
    out = []
    for v in (lo, hi):
        if isinstance(v, str):
            dim = dimension(tokens(key.split(".", 1)[1])) or "count"
            v = units.parse(v, dim, path=path)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise SpecError(path, f"bounds must be finite numbers or quantities, got {v!r}")
        out.append(v)
    lo, hi = out
    if lo > hi:
        raise SpecError(path, f"low {lo:g} is above high {hi:g}")
    if kind == "loguniform" and lo <= 0:
        raise SpecError(path, f"loguniform needs a low bound above 0, got {lo:g}")
    if kind == "int" and (lo != int(lo) or hi != int(hi) or max(abs(lo), abs(hi)) > 2**62):
        raise SpecError(path, f"int bounds must be integers below 2^62, got [{lo:g}, {hi:g}]")
    return lo, hi


# ---- points ---------------------------------------------------------------------------------
def _draw(kind: str, arg: list, rng, key: str):
    if kind == "choice":
        return arg[int(rng.integers(len(arg)))]
    lo, hi = _bounds(kind, arg, key, key)
    if kind == "int":
        return int(rng.integers(int(lo), int(hi) + 1))
    if kind == "loguniform":
        import math

        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def point_key(params: dict) -> str:
    """A stable hash of a point's parameters (sorted JSON): same parameters, same key."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def points(spec: dict) -> list[tuple[int, str, dict]]:
    """Every point of the sweep as (index, key, params), in a reproducible order.

    Identical points (a random draw that repeats a grid value) appear once.
    """
    import numpy as np

    grid = spec.get("grid") or {}
    names = list(grid)
    grid_points = [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))] or [{}]
    rnd = spec.get("random")
    rand_points: list[dict] = [{}]
    if rnd:
        rng = np.random.default_rng(int(rnd.get("seed", 0)))
        rand_points = [{k: _draw(*next(iter(d.items())), rng, k) for k, d in rnd["params"].items()}
                       for _ in range(rnd["samples"])]
    out, seen = [], set()
    for g in grid_points:
        for r in rand_points:
            params = {**g, **r}
            key = point_key(params)
            if key not in seen:
                seen.add(key)
                out.append((len(out), key, params))
    return out


def spec_hash(spec: dict) -> str:
    return point_key({k: v for k, v in spec.items() if k not in ("name", "description")})


# ---- evaluating one point -------------------------------------------------------------------
def resolve_evaluator(name) -> Callable:
    """The built-in evaluator ``name`` (see `EVALUATORS`); None -> the dojosim engine.

    A sweep file only *names* an evaluator from this registry: no file can import a module or
    call a function of its choosing. Other Python functions are passed as objects through
    ``run_sweep(..., evaluator=fn)``.
    """
    if name is None:
        return evaluate_point
    if not isinstance(name, str) or name not in EVALUATORS:
        from ..errors import UnknownNameError

        raise UnknownNameError("sweep.evaluator", str(name), EVALUATORS, what="evaluator")
    return EVALUATORS[name]


def split_params(params: dict) -> tuple[dict, dict, dict, dict]:
    """(workload, strategy, system selection, system field overrides) from a point's params."""
    wl, st, sel, ov = {}, {}, {}, {}
    for k, v in params.items():
        section, _, rest = k.partition(".")
        if section == "workload":
            wl[rest] = v
        elif section == "strategy":
            st[rest] = v
        elif section == "cloud":
            continue            # read by the cloud evaluator, not by the engine
        elif rest in ("preset", "devices"):
            sel[rest] = v
        else:
            ov[rest] = v
    return wl, st, sel, ov


@functools.lru_cache(maxsize=256)
def _model(workload_json: str):
    from ..workload import from_run

    return from_run(json.loads(workload_json))


@functools.lru_cache(maxsize=256)
def _system(preset: str, devices: int | None, overrides_json: str):
    from ..hardware import load_system
    from .overrides import apply_system_overrides

    system = load_system(preset, devices=devices)
    return apply_system_overrides(system, json.loads(overrides_json))


def build_point(base: dict, params: dict):
    """(model, system, strategy dict) of one point."""
    wl, st, sel, ov = split_params(params)
    workload = {**(base.get("workload") or {}), **wl}
    system_sel = {**(base.get("system") or {}), **sel}
    strategy = {**(base.get("strategy") or {}), **st}
    if "preset" not in system_sel:
        raise SpecError("sweep.base.system.preset", "the base run needs a system preset")
    model = _model(json.dumps(workload, sort_keys=True, default=str))
    devices = system_sel.get("devices")
    system = _system(system_sel["preset"], int(devices) if devices else None,
                     json.dumps(ov, sort_keys=True, default=str))
    return model, system, strategy


def _flatten(est, outputs: Iterable[str]) -> dict:
    d = est.to_dict()
    row = {}
    for name in outputs:
        node = d
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        row[name] = node
    for k, v in (d.get("breakdown") or {}).items():
        row[f"breakdown.{k}"] = v
    return row


def evaluate_point(params: dict, spec: dict) -> dict:
    """Cost one point with the engine (``evaluate: estimate``) or the search (``search``)."""
    from ..strategy import Strategy

    model, system, strat = build_point(spec.get("base") or {}, params)
    outputs = spec.get("outputs") or DEFAULT_OUTPUTS
    if spec.get("evaluate") == "search":
        from .search import search

        gb = int(strat.get("global_batch") or 1)
        cand = search(model, system, gb, spec.get("objective", "throughput"), 1,
                      spec.get("constraints"), workers=1)[0]
        row = _flatten(cand.estimate, outputs)
        row.update({f"best.{k}": v for k, v in cand.strategy.model_dump(mode="json").items()
                    if k in ("dp", "tp", "pp", "cp", "ep", "micro_batch", "interleave", "recompute", "zero")})
        row["best.split"] = cand.strategy.label(model)  # the label every table and plot uses
        return row
    from ..engine.estimate import estimate

    return _flatten(estimate(model, system, Strategy.from_dict(strat)), outputs)


def echo_evaluator(params: dict, spec: dict) -> dict:
    """A cheap deterministic stand-in for the engine, for testing sweep machinery: a value that
    depends on every parameter. ``spec["echo_sleep_s"]`` (if set in base) slows it down."""
    time.sleep(float((spec.get("base") or {}).get("echo_sleep_s", 0.0)))
    h = int(point_key(params), 16)
    return {"value": (h % 10**9) / 1e9, "n_params": len(params)}


# The evaluators a sweep file may name. "engine" is the default (estimate or search per point);
# "echo" is a cheap deterministic stand-in for testing the sweep machinery.
EVALUATORS: dict[str, Callable] = {"engine": evaluate_point, "echo": echo_evaluator}


def _column_value(key: str, value):
    """A parameter as stored: unit strings of system fields in SI (plots need numbers)."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if key.startswith("system.") and isinstance(value, str):
        from .. import units
        from .overrides import dimension, tokens

        try:
            dim = dimension(tokens(key.split(".", 1)[1]))
            if dim:
                return units.parse(value, dim)
        except SpecError:
            pass
    return str(value)


def _eval_chunk(chunk: list[tuple[int, str, dict]], spec: dict, fn: Callable | None = None) -> list[dict]:
    """Rows of one chunk; a user's mistake in one point is stored as that point's error."""
    fn = fn or resolve_evaluator(spec.get("evaluator"))
    rows = []
    for index, key, params in chunk:
        row = {"index": index, "key": key}
        row.update({f"param.{k}": _column_value(k, v) for k, v in params.items()})
        try:
            row.update(_finite_row(fn(params, spec)))
            row["error"] = None
        except SpecError as err:
            row["error"] = str(err)
        rows.append(row)
    return rows


def _finite_row(row: dict) -> dict:
    """An evaluator's row, refused (as that point's error) when it holds a NaN or infinity."""
    import math

    if not isinstance(row, dict):
        raise SpecError("sweep.evaluator", f"must return a mapping of column -> value, got {type(row).__name__}")
    for k, v in row.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError(f"result.{k}", f"is {v} (not a finite number); the point's inputs are out of range")
    return row


# ---- running --------------------------------------------------------------------------------
def _chunks(todo: list, size: int) -> list[list]:
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def _local(chunks: list, spec: dict, workers: int, fn: Callable):
    """Yield row lists as chunks finish; at most 2 chunks per worker in flight."""
    if workers <= 1:
        for c in chunks:
            yield _eval_chunk(c, spec, fn)
        return
    from concurrent.futures import FIRST_COMPLETED, wait

    from .pool import process_pool

    it = iter(chunks)
    with process_pool(workers) as pool:
        running = set()
        for c in itertools.islice(it, 2 * workers):
            running.add(pool.submit(_eval_chunk, c, spec, fn))
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()
                nxt = next(it, None)
                if nxt is not None:
                    running.add(pool.submit(_eval_chunk, nxt, spec, fn))


def _ray(chunks: list, spec: dict, workers: int, address: str | None, fn: Callable):
    """Yield row lists from a Ray cluster (``address``) or an in-process Ray instance."""
    from .ray_start import start_ray

    ray = start_ray(address, workers)
    remote = ray.remote(num_cpus=1)(_eval_chunk)
    spec_ref = ray.put(spec)
    it = iter(chunks)
    running = [remote.remote(c, spec_ref, fn) for c in itertools.islice(it, 2 * max(1, workers))]
    while running:
        done, running = ray.wait(running, num_returns=1)
        for ref in done:
            yield ray.get(ref)
            nxt = next(it, None)
            if nxt is not None:
                running.append(remote.remote(nxt, spec_ref, fn))


def run_sweep(spec: dict | str | os.PathLike, out: str | os.PathLike, *, resume: bool = False,
              executor: str = "local", address: str | None = None, workers: int | None = None,
              progress: bool = False, flush_rows: int = FLUSH_ROWS, flush_s: float = FLUSH_S,
              chunk: int = CHUNK, evaluator: Callable | None = None) -> dict:
    """Run a sweep into the store at ``out``; returns counts (points, skipped, written, errors)
    and ``first_error`` (the error of the first failed point, or None).

    ``evaluator`` is any function ``(params, spec) -> row dict`` (module-level, so that worker
    processes can import it); a sweep file can only name a built-in one (`EVALUATORS`).
    """
    if isinstance(spec, (str, os.PathLike)):
        spec = load_sweep(spec)
    elif isinstance(spec, dict):
        spec = check_sweep(spec)
    else:
        raise SpecError("sweep", f"expected a sweep mapping or a file path, got {type(spec).__name__}")
    if executor not in ("local", "ray"):
        raise SpecError("executor", f"must be 'local' or 'ray', got {executor!r}")
    if evaluator is not None and not callable(evaluator):
        raise SpecError("evaluator", f"expected a function (params, spec) -> row, got {type(evaluator).__name__}")
    fn = evaluator or resolve_evaluator(spec.get("evaluator"))
    # Local workers are processes on this machine: at most one per core. Ray's are tasks in
    # flight on a cluster that may be far larger than this machine.
    workers = (cap_workers(workers) if executor == "local"
               else check_int(workers or os.cpu_count() or 1, "workers", high=limits.MAX_DEVICES))
    check_int(chunk, "chunk", high=limits.MAX_SWEEP_POINTS)
    if not isinstance(out, (str, os.PathLike)):
        raise SpecError("out", f"expected a directory path, got {type(out).__name__}")
    store = Store(out)
    pts = points(spec)
    store.open(spec_hash(spec), spec, resume)
    done = store.done_keys()
    todo = [p for p in pts if p[1] not in done]
    stats = {"points": len(pts), "skipped": len(pts) - len(todo), "written": 0, "errors": 0,
             "first_error": None, "out": str(store.path)}
    chunks = _chunks(todo, chunk)
    source = (_local(chunks, spec, workers, fn) if executor == "local"
              else _ray(chunks, spec, workers, address, fn))
    buffer: list[dict] = []
    last = time.monotonic()
    bar = _progress(progress, len(pts), stats["skipped"])
    try:
        for rows in source:
            buffer.extend(rows)
            failed = [r["error"] for r in rows if r.get("error")]
            stats["errors"] += len(failed)
            if failed and stats["first_error"] is None:
                stats["first_error"] = failed[0]
            if bar:
                bar[0].advance(bar[1], len(rows))
            if len(buffer) >= flush_rows or time.monotonic() - last >= flush_s:
                store.append(buffer)
                stats["written"] += len(buffer)
                buffer, last = [], time.monotonic()
        store.append(buffer)
        stats["written"] += len(buffer)
    finally:
        if bar:
            bar[0].stop()
        store.close()
    return stats


def _progress(enabled: bool, total: int, completed: int):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar.start()
    return bar, bar.add_task("sweep", total=total, completed=completed)


def load_results(path: str | os.PathLike):
    """The results of a sweep as a pandas DataFrame (one row per point, in point order)."""
    if not isinstance(path, (str, os.PathLike)):
        raise SpecError("results", f"expected a directory path, got {type(path).__name__}")
    p = Path(path)
    if not p.is_dir():
        raise SpecError("results", f"no sweep results at {path}")
    return Store(p).load()
