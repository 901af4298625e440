"""Per-device throughput of each system on each workload: the engine's part of a build-out.

A build-out multiplies device counts by per-device rates over dozens of quarters, so each
(preset, island, workload) is searched once — the way `fleet` does it (`fleet.search_island`:
the best split on one island of the preset) — and cached for the session, and, given a cache
directory, on disk (``rates.json``, keyed by a fingerprint of dojosim's own source and presets,
so any change to the engine, a preset or the zoo starts afresh). H100-equivalents are
defined as in `fleet`: a device's samples/s over one reference device's share of a reference
island on the same workload.

Workloads a plan can name (its ``workloads:`` mix), each with its model and batch:
- ``fsd``: the zoo's camera-only FSD network (one sample = one 8-camera clip);
- ``occupancy``: the zoo's occupancy network;
- ``auto-labeling``: offline labeling of curated clips. Tesla published no compute per clip, so
  it is the FSD network's throughput divided by an assumed cost factor (``clip_cost``, see
  `AUTOLABEL_COST`): its H100-equivalents equal FSD's, its clips/s are lower.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecError
from ..limits import cap_workers
from ..yamlfile import check_mapping
from .figures import Figure, assumed, parse_figure
from .pool import process_pool

DEFAULT_BATCH = 1024          # clips per step, as examples/fleets/fsd-mixed.yaml
DEFAULT_ISLAND = 256          # devices per training-job copy; the FSD split is data parallel at this size
AUTOLABEL_COST = assumed(
    3.0, 1.0, 10.0,
    "auto-labeling runs larger offline networks over several trips of the same place (AI Day 2022); "
    "no compute per clip is published: assumed 1-10x one FSD training sample", "workloads.auto-labeling.clip_cost")
WORKLOAD_KEYS = ("share", "model", "set", "global_batch", "precision", "clip_cost")
BUILTIN = {
    "fsd": {"model": "fsd"},
    "occupancy": {"model": "occupancy"},
    "auto-labeling": {"model": "fsd", "clip_cost": AUTOLABEL_COST},
}


@dataclass(frozen=True)
class Workload:
    name: str
    model: str
    sets: tuple = ()                       # sorted (key, value) model overrides
    global_batch: int = DEFAULT_BATCH
    precision: str = "bf16"
    clip_cost: Figure | None = None        # rate divisor (auto-labeling); None = 1

    @property
    def engine_key(self) -> tuple:
        """What the engine search depends on (auto-labeling shares FSD's search)."""
        return (self.model, self.sets, self.global_batch, self.precision)

    @property
    def divisor(self) -> float:
        return self.clip_cost.value if self.clip_cost else 1.0


def parse_workload(name: str, raw, path: str) -> tuple[Workload, Figure]:
    """(workload, its share of the fleet) from ``fsd: 0.6`` or ``fsd: {share: 0.6, model: …}``."""
    spec = dict(BUILTIN.get(name, {}))
    if isinstance(raw, dict):
        check_mapping(raw, path, WORKLOAD_KEYS, "a share, or {share, model, set, global_batch, precision}")
        if "share" not in raw:
            raise SpecError(f"{path}.share", "missing")
        share_raw = raw["share"]
        spec.update({k: v for k, v in raw.items() if k != "share"})
    else:
        share_raw = raw
    if "model" not in spec:
        raise SpecError(f"{path}.model", f"missing: {name!r} is not a built-in workload "
                                         f"({', '.join(BUILTIN)}); give model: ZOO_NAME")
    share = parse_figure(share_raw, f"{path}.share" if isinstance(raw, dict) else path, hi=1.0)
    gb = spec.get("global_batch", DEFAULT_BATCH)
    if not isinstance(gb, int) or isinstance(gb, bool) or gb < 1:
        raise SpecError(f"{path}.global_batch", f"must be a positive integer, got {gb!r}")
    sets = spec.get("set") or {}
    if not isinstance(sets, dict):
        raise SpecError(f"{path}.set", "expected a mapping of model fields")
    cost = spec.get("clip_cost")
    if cost is not None and not isinstance(cost, Figure):
        cost = parse_figure(cost, f"{path}.clip_cost", positive=True)
    prec = spec.get("precision", "bf16")
    if not isinstance(prec, str):
        raise SpecError(f"{path}.precision", f"expected a precision name, got {prec!r}")
    return Workload(name, str(spec["model"]), tuple(sorted(sets.items())), gb, prec, cost), share


@dataclass
class DeviceRates:
    """Per device of one system type: samples/s and H100-equivalents per workload, and the
    power, price and peak of the island the rates were measured on."""

    preset: str
    island: int
    samples_per_s: dict[str, float] = field(default_factory=dict)
    h100_eq: dict[str, float] = field(default_factory=dict)
    h100_eq_draws: dict[str, list[float]] = field(default_factory=dict)   # at each engine draw
    splits: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


_CACHE: dict[tuple, tuple[float, str | None, str | None, list[float]]] = {}


ENGINE_DRAWS = 16       # draws of the engine's assumed figures per rate (seeded, shared by all rates);
# each is a full re-estimate with cold engine caches, so they cost more than the search itself
ENGINE_SEED = 0


@functools.lru_cache(maxsize=1)
def engine_draws() -> tuple:
    """The `Assumptions` of each draw: a Latin hypercube over every assumed field's range, the
    same draws for every system so that ratios (H100-equivalents) move both sides together.
    Made once per process (forked search workers inherit them)."""
    from ..assumptions import DEFAULT, assumed_names
    from ..ranges import latin_hypercube

    names = assumed_names()
    u = latin_hypercube(ENGINE_DRAWS, len(names), ENGINE_SEED)
    return tuple(DEFAULT.at_quantiles(dict(zip(names, row))) for row in u)


@functools.lru_cache(maxsize=16)
def _model(name: str, sets: tuple):
    """The zoo model of a workload, built once per process: every system's search of it (and
    the engine's per-model caches) share one object; forked workers inherit it."""
    from ..workload import build

    try:
        return build(name, **dict(sets))
    except SpecError as err:
        raise err.prefixed("workloads") from None


def _search(key: tuple) -> tuple[float, str | None, str | None, list[float]]:
    """(samples/s of one island, split text, note, samples/s at each engine draw) for
    (engine_key, preset, island). The draws keep the split found at the default assumptions: a
    search per draw could only be faster, so the low end is conservative."""
    (model_name, sets, batch, precision), preset, island = key
    from ..engine.estimate import estimate
    from .fleet import search_island

    model = _model(model_name, sets)
    system, cand, used, err = search_island(model, preset, island, batch, precision, workers=1)
    if cand is None:
        return 0.0, None, err or f"no split of {model_name} fits on an island of {island} devices of {preset}", []
    note = f"batch {batch} has no split on {island} devices of {preset}; used {used}" if used != batch else None
    draws = []
    for a in engine_draws():
        try:
            draws.append(estimate(model, system, cand.strategy, a).samples_per_s)
        except SpecError:   # a draw where the split no longer holds: count it as the point figure
            draws.append(cand.estimate.samples_per_s)
    return cand.estimate.samples_per_s, cand.strategy.label(model), note, draws


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """A hash of every source file and preset of the installed dojosim: rates stored under
    another fingerprint were computed by other code and are not reused."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml") and p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


CACHE_FILE = "rates.json"


def _load_disk(cache_dir: Path) -> dict:
    f = cache_dir / CACHE_FILE
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("fingerprint") != fingerprint() or not isinstance(doc.get("rates"), list):
        return {}
    out = {}
    for item in doc["rates"]:
        try:
            (m, sets, batch, prec), preset, island = item["key"]
            key = ((m, tuple(tuple(kv) for kv in sets), batch, prec), preset, island)
            thr, split, note, draws = item["value"]
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(thr, (int, float)) and thr >= 0 and isinstance(draws, list):
            out[key] = (float(thr), split, note, [float(d) for d in draws])
    return out


def _save_disk(cache_dir: Path, entries: dict, force: bool = False) -> Path:
    """Write every cached rate to ``cache_dir/rates.json`` through the safe writer (atomic)."""
    from ..outfile import make_output_dir, write_text

    d = make_output_dir(cache_dir, force=force, what="--cache")
    doc = {"fingerprint": fingerprint(),
           "rates": [{"key": [list(k[0][:1]) + [[list(kv) for kv in k[0][1]], k[0][2], k[0][3]], k[1], k[2]],
                      "value": list(v)} for k, v in entries.items()]}
    return write_text(d / CACHE_FILE, json.dumps(doc), force=force, what="--cache", suffixes=(".json",))


def _search_cost(key: tuple) -> int:
    """How many split shapes the search of ``key`` walks: its cost, roughly (a 2-device AI4
    board has a handful, a 288-GPU NVL72 island hundreds), to start the largest first."""
    from ..hardware import load_system
    from .space import ModelFacts, Space, shapes

    (model_name, sets, batch, precision), preset, island = key
    try:
        model = _model(model_name, sets)
        load_system(preset, devices=island)
    except SpecError:
        return 0     # _search reports it, at once
    return len(shapes(ModelFacts.of(model), island, batch, Space(precision=precision)))


SAVE_EVERY_S = 1.0      # while searching, store what is found at most this often (a stop keeps it)


def island_rates(keys: list[tuple], workers: int | None = None, cache_dir: Path | None = None,
                 force: bool = False, meanwhile=None) -> dict[tuple, tuple]:
    """Search every (engine_key, preset, island) not yet cached, in parallel processes; with
    ``cache_dir``, reuse and extend the rates stored there (saved as they come: an interrupted
    first run keeps what it found). ``meanwhile``: work of the caller's own that needs no rates
    (importing the optimiser, say), run in a thread while the workers search, so that it
    overlaps with them instead of waiting for them; its errors surface when it is done again."""
    import time

    if cache_dir is not None:
        for k, v in _load_disk(Path(cache_dir)).items():
            _CACHE.setdefault(k, v)
    todo = [k for k in dict.fromkeys(keys) if k not in _CACHE]
    n = min(len(todo), cap_workers(workers))
    saved = time.monotonic()
    mine = force    # once this run has written the cache file, its later saves replace its own file

    def save() -> None:
        nonlocal saved, mine
        _save_disk(Path(cache_dir), _CACHE, mine)
        saved, mine = time.monotonic(), True

    def keep(k: tuple, r: tuple) -> None:
        _CACHE[k] = r
        if cache_dir is not None and time.monotonic() - saved > SAVE_EVERY_S:
            save()

    try:
        if n > 1:
            _search_pool(todo, n, keep, meanwhile)
        else:
            for k in todo:
                keep(k, _search(k))
    finally:   # also on a stop (Ctrl-C): what was found is kept for the next run
        if cache_dir is not None and any(k in _CACHE for k in todo):
            save()
    return {k: _CACHE[k] for k in keys}


def _search_pool(todo: list[tuple], n: int, keep, meanwhile) -> None:
    """Search ``todo`` in ``n`` forked worker processes, largest first, handing each result to
    ``keep`` as it comes; on a stop, the searches not yet started are dropped, not waited for."""
    import multiprocessing as mp
    from concurrent.futures import as_completed

    # the largest searches first, so that the pool's workers finish together
    todo.sort(key=_search_cost, reverse=True)
    _warm(todo)
    # fork: the workers inherit the presets, zoo and engine already loaded
    pool = process_pool(n, mp_context=mp.get_context("fork"))
    try:
        futures = {pool.submit(_search, k): k for k in todo}
        side = _start(meanwhile)   # after the submits: every worker has forked, no fork sees the thread
        for f in as_completed(futures):
            keep(futures[f], f.result())
    except BaseException:
        # one shutdown only: a second (a `with` block's) would undo the cancel before the
        # pool's own thread reads it, and every queued search would still run
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if side is not None:
        side.join()


def _start(work):
    """``work`` in a daemon thread (None: nothing to do); a failure is left for the caller, who
    does the same work again and meets it there."""
    if work is None:
        return None
    import threading

    def run() -> None:
        try:
            work()
        except Exception:   # noqa: BLE001  (the caller repeats the work and reports it)
            pass

    t = threading.Thread(target=run, name="dojosim-while-searching", daemon=True)
    t.start()
    return t


def _warm(keys: list[tuple]) -> None:
    """Load, before the pool forks, what every search reads: the engine's modules and the
    islands' systems (forked workers share them instead of each loading its own)."""
    from ..engine import estimate  # noqa: F401  (the import is the point)
    from ..hardware import load_system

    engine_draws()
    for _, preset, island in keys:
        try:
            load_system(preset, devices=island)
        except SpecError:
            pass


def device_rates(types: dict[str, tuple[str, int]], workloads: list[Workload], reference: str,
                 island: int = DEFAULT_ISLAND, workers: int | None = None,
                 cache_dir: Path | None = None, force: bool = False,
                 meanwhile=None) -> tuple[dict[str, DeviceRates], dict]:
    """Rates per system type (name -> (preset, island)) and the reference per-device rate per
    workload (``meanwhile``: see `island_rates`)."""
    from .fleet import _island

    ref_island = _island(reference, island, 10**9)
    keys = []
    for wl in workloads:
        keys.append((wl.engine_key, reference, ref_island))
        keys += [(wl.engine_key, preset, isl) for preset, isl in types.values()]
    found = island_rates(keys, workers, cache_dir, force, meanwhile)
    ref, ref_draws = {}, {}
    for wl in workloads:
        thr, split, _, draws = found[(wl.engine_key, reference, ref_island)]
        if thr <= 0:
            raise SpecError("reference", f"no split of workload {wl.name} fits on {ref_island} devices of {reference}")
        ref[wl.name] = {"preset": reference, "island": ref_island, "split": split,
                        "samples_per_s_per_device": thr / ref_island / wl.divisor}
        ref_draws[wl.name] = draws
    out = {}
    for name, (preset, isl) in types.items():
        r = DeviceRates(preset, isl)
        for wl in workloads:
            thr, split, note, draws = found[(wl.engine_key, preset, isl)]
            r.samples_per_s[wl.name] = thr / isl / wl.divisor
            r.h100_eq[wl.name] = r.samples_per_s[wl.name] / ref[wl.name]["samples_per_s_per_device"]
            rd = ref_draws[wl.name]
            if len(draws) == len(rd) and draws:   # per draw: the divisor cancels in the ratio
                r.h100_eq_draws[wl.name] = [d / isl / (x / ref_island) for d, x in zip(draws, rd)]
            r.splits[wl.name] = split or "-"
            if note and note not in r.notes:
                r.notes.append(note)
        out[name] = r
    return out, ref


def clear_cache() -> None:
    _CACHE.clear()
