"""Heterogeneous fleets: what each part of a fleet does on one workload, and how to share jobs.

A fleet file::

    name: mixed
    workload:                    # a run file, or a zoo model + batch
      run: ../runs/gpt3.yaml     # or: model: gpt3-175b, set: {seq_len: 2048}, global_batch: 1536
    island: 1024                 # devices per training job copy (default 1024; per part too)
    reference: h100-dgx          # what one "H100-equivalent" is measured on
    parts:
      - {name: H100, preset: h100-dgx, devices: 90000}
      - {name: AI4, preset: ai4, devices: 40000}
      - {name: Dojo, preset: dojo-exapod, count: 2}      # count copies of the preset
    jobs:                        # optional: work to share out
      - {name: pretrain, train: "300e9 tokens"}
      - {name: finetune, train: "2e9 tokens"}

Each part runs the workload as independent *islands* of ``island`` devices (one job copy each,
data parallel between islands is not modelled: no cross-island gradient traffic is counted);
the split of an island is the one `search` finds fastest. A part's H100-equivalents are its
throughput over the throughput of one H100 on the same workload (the reference island's
throughput divided by its devices), shown beside the by-peak ratio.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path


from .. import limits
from ..errors import SpecError
from ..limits import check_int
from ..strategy import PRECISIONS
from ..yamlfile import check_mapping, read_yaml

DEFAULT_ISLAND = 1024
DEFAULT_REFERENCE = "h100-dgx"
PART_KEYS = ("name", "preset", "devices", "count", "island")
TOP_KEYS = ("name", "description", "workload", "island", "reference", "parts", "jobs", "split")
WORKLOAD_KEYS = ("run", "model", "set", "global_batch", "precision")
IN_CAR = "AI4 presets are assumed figures for Tesla's in-car inference computers, not training hardware"


def load_fleet(path: str | os.PathLike) -> dict:
    p = Path(path)
    spec = read_yaml(p, "fleet") or {}
    return check_fleet(spec, p.parent)


def _text(value, path: str, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise SpecError(path, f"must be a name (text), got {value!r}")
    return value


def _count(value, path: str, required: bool = False) -> int | None:
    if value is None and not required:
        return None
    return check_int(value, path, high=limits.MAX_DEVICES, what="a positive integer")


def check_fleet(spec: dict, base_dir: Path | None = None) -> dict:
    """The fleet ``spec`` checked field by field, at every level (a copy, with defaults set)."""
    check_mapping(spec, "fleet", TOP_KEYS, "a mapping with workload and parts")
    spec = copy.deepcopy(spec)
    for key in ("name", "description", "reference"):
        _text(spec.get(key), f"fleet.{key}")
    _count(spec.get("island"), "fleet.island")
    parts = spec.get("parts")
    if not isinstance(parts, list) or not parts:
        raise SpecError("fleet.parts", "expected a non-empty list of {name, preset, devices | count}")
    names = set()
    for i, part in enumerate(parts):
        path = f"fleet.parts[{i}]"
        check_mapping(part, path, PART_KEYS, "a mapping {name, preset, devices | count}")
        _text(part.get("preset"), f"{path}.preset", required=True)
        _text(part.get("name"), f"{path}.name")
        if (part.get("devices") is None) == (part.get("count") is None):
            raise SpecError(path, "give exactly one of devices (accelerators) or count (copies of the preset)")
        for k in ("devices", "count", "island"):
            _count(part.get(k), f"{path}.{k}")
        part.setdefault("name", part["preset"])
        if part["name"] in names:
            raise SpecError(f"{path}.name", f"duplicate part name {part['name']!r}")
        names.add(part["name"])
    wl = spec.get("workload")
    if not isinstance(wl, dict):
        raise SpecError("fleet.workload", "expected {run: RUN.yaml} or {model: NAME, global_batch: B}")
    check_mapping(wl, "fleet.workload", WORKLOAD_KEYS, "{run: RUN.yaml} or {model: NAME, global_batch: B}")
    if "run" in wl:
        _text(wl["run"], "fleet.workload.run", required=True)
        if base_dir is not None and not Path(wl["run"]).is_absolute():
            wl["run"] = str(base_dir / wl["run"])
    else:
        _text(wl.get("model"), "fleet.workload.model", required=True)
        check_int(wl.get("global_batch"), "fleet.workload.global_batch", high=limits.MAX_GLOBAL_BATCH,
                  what="a positive integer")
        if wl.get("set") is not None and not isinstance(wl["set"], dict):
            raise SpecError("fleet.workload.set", "expected a mapping of model field -> value")
        if wl.get("precision") is not None and wl["precision"] not in PRECISIONS:
            raise SpecError("fleet.workload.precision", f"must be one of {', '.join(PRECISIONS)}, got {wl['precision']!r}")
    split = spec.setdefault("split", "both")
    if split not in ("proportional", "best_fit", "both"):
        raise SpecError("fleet.split", f"must be proportional, best_fit or both, got {split!r}")
    jobs = spec.get("jobs")
    if jobs is not None and not isinstance(jobs, list):
        raise SpecError("fleet.jobs", "expected a list of {name, train: \"300e9 tokens\"}")
    from .capacity import parse_train

    for i, job in enumerate(jobs or []):
        check_mapping(job, f"fleet.jobs[{i}]", ("name", "train"), "a mapping {name, train: \"300e9 tokens\"}")
        if "train" not in job:
            raise SpecError(f"fleet.jobs[{i}].train", "missing, e.g. \"300e9 tokens\"")
        _text(job.get("name"), f"fleet.jobs[{i}].name")
        parse_train(job["train"], need_duration=False, path=f"fleet.jobs[{i}].train")
    return spec


def workload_of(wl: dict):
    """(model, global batch, precision) of a fleet's workload block."""
    from ..workload import build

    if "run" in wl:
        from ..run import load_run

        run = load_run(wl["run"])
        return run.model, run.strategy.global_batch, run.strategy.precision
    if not wl.get("model"):
        raise SpecError("fleet.workload.model", "missing (a zoo model, or give run: RUN.yaml)")
    gb = wl.get("global_batch")
    if not isinstance(gb, int) or gb < 1:
        raise SpecError("fleet.workload.global_batch", f"must be a positive integer, got {gb!r}")
    sets = dict(wl.get("set") or {})
    try:
        model = build(wl["model"], **sets)
    except SpecError as err:
        raise err.prefixed("fleet.workload") from None
    return model, gb, wl.get("precision", "bf16")


def _island(preset: str, want: int, total: int) -> int:
    """The island size: ``want`` rounded up to whole copies of the preset, at most ``total``."""
    from ..hardware import load_system

    base = load_system(preset)
    unit = base.chips
    if want <= unit or base.scale_out is None:  # no scale-out level: one copy is the largest island
        return min(unit, total)
    return max(unit, min(-(-want // unit) * unit, (total // unit) * unit))


def _part_devices(part: dict) -> int:
    from ..hardware import load_system

    if part.get("devices") is not None:
        return part["devices"]
    return check_int(part["count"] * load_system(part["preset"]).chips, f"fleet.parts[{part['name']}].count",
                     high=limits.MAX_DEVICES, what="a positive integer")


def search_island(model, preset: str, island: int, batch: int, precision: str, *, workers=None):
    """(system, fastest candidate or None, batch used, error text or None) for one island of
    ``island`` devices of ``preset``: the unit every part of a fleet (and of a build-out) runs."""
    from ..hardware import load_system
    from .search import best_with_batch

    try:
        system = load_system(preset, devices=island)
    except SpecError as err:
        return None, None, batch, str(err)
    cand, used = best_with_batch(model, system, batch, {"precision": precision}, workers=workers)
    return system, cand, used, None


def plan_fleet(spec: dict, *, workers=None, samples: int = 0, seed: int = 0) -> dict:
    """Throughput, H100-equivalents, power and cost of each part, and how jobs share the fleet.
    With ``samples`` > 0, each part and the total also get the p10/p50/p90 ``ranges`` of their
    throughput and H100-equivalents: the islands' splits re-estimated under Latin hypercube
    draws of the assumed figures (`dojosim.ranges`), every part under the same draw."""
    from ..hardware import load_system

    model, batch, precision = workload_of(spec["workload"])
    cache: dict = {}

    def best(preset: str, island: int):
        key = (preset, island)
        if key not in cache:
            cache[key] = search_island(model, preset, island, batch, precision, workers=workers)
        return cache[key]

    default_island = int(spec.get("island") or DEFAULT_ISLAND)
    ref_preset = spec.get("reference") or DEFAULT_REFERENCE
    ref_island = _island(ref_preset, default_island, 10**9)
    ref_sys, ref_cand, _, _ = best(ref_preset, ref_island)
    ref_per_device = ref_cand.estimate.samples_per_s / ref_island if ref_cand else None
    from ..hardware.totals import assumed_totals
    from ..engine.compute import peak_for  # the engine's own choice of peak for a precision

    ref_peak = peak_for(load_system(ref_preset).chip.peak_flops, precision)
    notes: list[str] = []
    rows = []
    for part in spec["parts"]:
        devices = _part_devices(part)
        island = _island(part["preset"], int(part.get("island") or default_island), devices)
        islands = devices // island
        system, cand, used, err = best(part["preset"], island)
        chip = (system or load_system(part["preset"])).chip
        row = {"name": part["name"], "preset": part["preset"], "devices": devices, "island": island,
               "islands": islands, "idle_devices": devices - islands * island, "batch_used": used,
               "split": cand.strategy.label(model) if cand else None,
               "samples_per_s": islands * cand.estimate.samples_per_s if cand else 0.0,
               "tokens_per_s": islands * cand.estimate.tokens_per_s if cand and cand.estimate.tokens_per_s else None,
               "h100_eq": None, "h100_eq_by_peak": devices * peak_for(chip.peak_flops, precision) / ref_peak
               if ref_peak else None,
               "power_w": islands * system.power_w if system else 0.0,
               "training_power_w": islands * cand.estimate.power_w if cand else 0.0,
               "price_usd": islands * system.price_usd if system else 0.0,
               "assumed": bool(system.assumed) if system else True,
               # which shown totals rest on assumed figures (they carry the ≈ mark)
               "assumed_totals": [k for k in ("power_w", "price_usd")
                                  if system is None or k in assumed_totals(system)],
               "strategy": cand.strategy.model_dump(mode="json") if cand else None,
               "note": None}
        if ref_per_device:
            row["h100_eq"] = row["samples_per_s"] / ref_per_device
        if cand is None:
            row["note"] = err or f"no split of the workload fits on an island of {island} devices"
        elif used != batch:
            row["note"] = f"batch {batch} has no split on {island} devices; islands use {used}"
        if not chip.peak_flops.get(precision):
            used = max(chip.peak_flops, key=chip.peak_flops.get)
            notes.append(f"{part['name']}: the {chip.name} lists no {precision} peak; the engine and the "
                         f"by-peak count use its highest, {used}")
        if part["preset"].startswith("ai4") and IN_CAR not in notes:
            notes.append(IN_CAR)
        rows.append(row)
    total = sum(r["samples_per_s"] for r in rows)
    for r in rows:
        r["share"] = r["samples_per_s"] / total if total else 0.0
    result = {"name": spec.get("name", "fleet"), "model": model.name, "global_batch": batch, "precision": precision,
              "reference": {"preset": ref_preset, "island": ref_island,
                            "samples_per_s_per_device": ref_per_device,
                            "split": ref_cand.strategy.label(model) if ref_cand else None},
              "parts": rows,
              "total": {"devices": sum(r["devices"] for r in rows), "samples_per_s": total,
                        "tokens_per_s": total * model.seq_len if model.seq_len else None,
                        "h100_eq": sum(r["h100_eq"] or 0.0 for r in rows) if ref_per_device else None,
                        "h100_eq_by_peak": sum(r["h100_eq_by_peak"] or 0.0 for r in rows),
                        "power_w": sum(r["power_w"] for r in rows),
                        "price_usd": sum(r["price_usd"] for r in rows)},
              "notes": notes + ["islands run independent copies of the job; traffic between islands is not costed"]}
    if spec.get("jobs"):
        result["jobs"] = share_jobs(spec["jobs"], rows, model.seq_len, spec.get("split", "both"))
    if samples:
        _attach_ranges(model, result, spec, cache, (ref_preset, ref_island), samples, seed)
    return result


def _attach_ranges(model, result: dict, spec: dict, cache: dict, ref_key: tuple, samples: int, seed: int) -> None:
    """p10/p50/p90 of each part's and the total's samples/s and H100-equivalents (see plan_fleet)."""
    from ..engine import estimate
    from ..ranges import sample

    keys = [k for k, (system, cand, _, _) in cache.items() if cand is not None]
    systems = [cache[k][0] for k in keys]
    where = {k: i for i, k in enumerate(keys)}
    parts = [(r, (r["preset"], r["island"])) for r in result["parts"]]

    def figures(a, drawn) -> dict[str, float]:
        rate = {k: estimate(model, drawn[i], cache[k][1].strategy, a).samples_per_s for k, i in where.items()}
        per_ref = rate[ref_key] / ref_key[1] if ref_key in rate else None
        out, total = {}, 0.0
        for j, (r, key) in enumerate(parts):
            if key not in rate:
                continue
            thr = r["islands"] * rate[key]
            total += thr
            out[f"{j}.samples_per_s"] = thr
            if per_ref:
                out[f"{j}.h100_eq"] = thr / per_ref
        out["total.samples_per_s"] = total
        if per_ref:
            out["total.h100_eq"] = total / per_ref
        return out

    sampled = sample(figures, systems, samples=samples, seed=seed)

    def ranges(prefix: str) -> dict:
        return {f: (v.to_dict() if (v := sampled.outputs.get(f"{prefix}.{f}")) else None)
                for f in ("samples_per_s", "h100_eq")}

    for j, (r, _) in enumerate(parts):
        r["ranges"] = ranges(str(j))
        r["range"] = r["ranges"]["samples_per_s"]
    result["total"]["ranges"] = ranges("total")
    result["total"]["range"] = result["total"]["ranges"]["samples_per_s"]
    result["range_samples"] = sampled.to_dict()


def share_jobs(jobs: list[dict], parts: list[dict], seq_len: int | None, how: str = "both") -> dict:
    """Split jobs over the parts: proportional to throughput, and/or whole jobs best-fit.

    proportional: every job runs on the whole fleet, each part taking work in proportion to its
    throughput, so all parts finish together; the jobs run one after another.
    best_fit: each job runs on one part; longest job first, to the part where it would finish
    earliest (LPT scheduling, within 4/3 of the optimal makespan — Graham 1969).
    """
    from .capacity import parse_train

    work = []
    for i, job in enumerate(jobs):
        goal = parse_train(job["train"], need_duration=False, path=f"fleet.jobs[{i}].train")
        work.append((job.get("name", f"job{i}"), goal.samples(seq_len, f"fleet.jobs[{i}].train")))
    rates = {p["name"]: p["samples_per_s"] for p in parts if p["samples_per_s"] > 0}
    out: dict = {}
    total = sum(rates.values())
    if how in ("proportional", "both") and total:
        out["proportional"] = {
            "makespan_s": sum(w for _, w in work) / total,
            "jobs": [{"job": name, "samples": w, "time_s": w / total,
                      "samples_by_part": {p: w * r / total for p, r in rates.items()}} for name, w in work]}
    if how in ("best_fit", "both") and rates:
        load = dict.fromkeys(rates, 0.0)
        placed = []
        for name, w in sorted(work, key=lambda x: -x[1]):
            part = min(rates, key=lambda p: (load[p] + w / rates[p], p))
            start = load[part]
            load[part] += w / rates[part]
            placed.append({"job": name, "samples": w, "part": part, "start_s": start, "end_s": load[part]})
        out["best_fit"] = {"makespan_s": max(load.values()), "jobs": placed}
    return out
