"""Validation: predict every published case and report the step-time errors.

Cases are compared on the step time. Where a case gives only a rate (tokens/s, samples/s) or a
FLOP figure, the step time is derived from it — with the source's own FLOP count when the case
states `step_time_s`, otherwise with dojosim's (and the case is marked so). A case that cannot be
predicted (unknown preset, impossible split, no measured step time) is listed under `skipped`
with the reason; none is dropped silently.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import SpecError
from .run import Case, load_cases

# The published runs shipped with the package (package data; docs/validation.md lists their sources).
PUBLISHED_CASES = Path(__file__).resolve().parent / "validation" / "cases.yaml"


def measured_step_time(case: Case, est=None, run=None) -> tuple[float | None, str]:
    """(measured step time in s, how it was obtained); None when it cannot be derived."""
    if case.step_time_s:
        return case.step_time_s, "given"
    v = case.value
    if not v:
        return None, "no measured value"
    s = run.strategy if run is not None else None
    metric = case.metric
    if metric == "step_time_s":
        return v, "given"
    if s is None:
        return None, "no run"
    if metric == "tokens_per_s" and run.model.seq_len:
        return s.global_batch * run.model.seq_len / v, "global_batch*seq_len/tokens_per_s"
    if metric == "samples_per_s":
        return s.global_batch / v, "global_batch/samples_per_s"
    if est is None:
        return None, f"cannot derive a step time from {metric}"
    devices = est.devices
    if metric == "model_tflops_per_device":
        return est.model_flops_per_step / (v * 1e12 * devices), "dojosim model FLOPs / measured rate"
    if metric == "hardware_tflops_per_device":
        return est.hardware_flops_per_step / (v * 1e12 * devices), "dojosim hardware FLOPs / measured rate"
    if metric in ("mfu", "hfu"):
        peak = est.model_flops_per_step / (est.mfu * est.step_time_s) if est.mfu else 0.0
        flops = est.model_flops_per_step if metric == "mfu" else est.hardware_flops_per_step
        return (flops / (v * peak), f"dojosim FLOPs / ({metric} x peak)") if peak else (None, "no peak")
    return None, f"cannot derive a step time from {metric}"


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def validate(cases: Iterable[Case] | str | None = None, *,
             on_case: Callable[[Case], None] | None = None) -> dict:
    """Predict each case (default: the published cases shipped with dojosim); return the per-case
    rows, the aggregate errors and the skipped cases."""
    from .engine import estimate

    if cases is None:
        cases = PUBLISHED_CASES
    if isinstance(cases, str) or hasattr(cases, "__fspath__"):
        cases = load_cases(cases)
    rows: list[dict] = []
    skipped: list[dict] = []
    for case in cases:
        if on_case:
            on_case(case)
        try:
            run = case.run()
            est = estimate(run.model, run.system, run.strategy, run.assumptions)
        except SpecError as err:
            skipped.append({"id": case.id, "reason": str(err)})
            continue
        except Exception as err:  # noqa: BLE001 - one broken case must not hide the others
            # A bug, not a user error: listed loudly so it gets fixed, and the rest still run.
            skipped.append({"id": case.id, "reason": f"internal error (a dojosim bug): "
                                                     f"{type(err).__name__}: {err}"})
            continue
        measured, how = measured_step_time(case, est, run)
        if not measured:
            skipped.append({"id": case.id, "reason": f"no measured step time: {how}"})
            continue
        pred = est.step_time_s
        error = pred / measured - 1.0
        notes = []
        if not est.memory.fits:
            notes.append("predicted not to fit in memory (estimated anyway)")
        if how != "given":
            notes.append(f"measured step time derived: {how}")
        rows.append({
            "id": case.id,
            "predicted_step_time_s": pred,
            "measured_step_time_s": measured,
            "error": error,
            "abs_error": abs(error),
            "metric": case.metric,
            "quality": case.quality,
            "system": est.system,
            "devices": est.devices,
            "fits": est.memory.fits,
            "mfu": est.mfu,
            "hfu": est.hfu,
            "breakdown": {k: v / pred for k, v in est.breakdown.items() if v > 0},
            "notes": notes,
        })
    errs = [r["abs_error"] for r in rows]
    signed = [r["error"] for r in rows]
    return {
        "cases": rows,
        "count": len(rows),
        "median_abs_error": percentile(errs, 50) if errs else None,
        "mean_abs_error": sum(errs) / len(errs) if errs else None,
        "p90_abs_error": percentile(errs, 90) if errs else None,
        "max_abs_error": max(errs) if errs else None,
        "mean_error": sum(signed) / len(signed) if signed else None,
        "within_10pct": sum(e <= 0.10 for e in errs),
        "within_25pct": sum(e <= 0.25 for e in errs),
        "skipped": skipped,
    }
