"""Write a predicted step as a Chrome / Perfetto trace-event JSON file.

The format (the "Trace Event Format" document Chrome's about:tracing and ui.perfetto.dev read):
a JSON object with a ``traceEvents`` list; "X" complete events carry ``ts`` and ``dur`` in
microseconds on a (pid, tid) track, "M" metadata events name processes and threads. One process
per pipeline stage (plus one for the whole-step phases), one thread per kind of work on it —
compute, then each kind of communication — so a viewer shows one row per stage and kind.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..engine.result import Estimate
from .timeline import Event, Timeline, model_op_counts, timeline


def timeline_hints(model) -> dict:
    """The keyword arguments of `timeline` that come from the model (none without one)."""
    if model is None:
        return {}
    return {"layers": getattr(model, "layers", None), "op_counts": model_op_counts(model)}

US = 1e6  # trace timestamps are microseconds

# Thread ids per kind of track on a stage; overflow lanes (overlapping transfers) count up from
# the kind's id in steps of 1 inside its block of 100.
_TID_BASE = {"compute": 1, "comm tp": 100, "comm cp": 200, "comm ep": 300, "comm pp": 400, "comm dp": 500}


def _pid_tid(track: str) -> tuple[int, str, int, str]:
    """(pid, process name, tid, thread name) of a timeline track."""
    if track == "step":
        return 0, "step", 1, "phases"
    stage, kind = track.split(" / ", 1)
    s = int(stage.split()[1])
    base = _TID_BASE.get(kind)
    if base is None:  # a comm kind the engine added later: give it a stable id of its own
        base = 600 + 100 * (sum(map(ord, kind)) % 30)
    return s + 1, stage, base, kind


def _lanes(events: list[Event]) -> dict[int, int]:
    """Lane per top-level event so that no two top-level slices on one thread partly overlap.

    Pipeline sends can outlast the slot that issued them; a viewer needs each thread's slices
    to nest, so overlapping ones move to an extra lane (an extra thread) of the same kind.
    """
    lane_of: dict[int, int] = {}
    ends: dict[str, list[float]] = {}
    for i in sorted((i for i, e in enumerate(events) if e.depth == 0), key=lambda i: events[i].start_s):
        e = events[i]
        lanes = ends.setdefault(e.track, [])
        for k, end in enumerate(lanes):
            if e.start_s >= end - 1e-15:
                lanes[k] = e.end_s
                lane_of[i] = k
                break
        else:
            lanes.append(e.end_s)
            lane_of[i] = len(lanes) - 1
    return lane_of


def trace_events(tl: Timeline, *, title: str = "") -> dict:
    """The trace-event JSON object (``{"traceEvents": [...], ...}``) of a timeline."""
    out: list[dict] = []
    named: set[tuple[int, int]] = set()
    procs: set[int] = set()
    lane_of = _lanes(list(tl.events))
    parent_lane: dict[str, int] = {}
    open_spans: dict[tuple[str, int], tuple[int, int]] = {}  # (track, depth) -> rounded ns of the latest
    order = {t: i for i, t in enumerate(tl.tracks)}
    for i, e in enumerate(tl.events):
        pid, pname, tid, tname = _pid_tid(e.track)
        if e.depth == 0:
            lane = lane_of[i]
            parent_lane[e.track] = lane
        else:  # children follow their parent (events are emitted parent first)
            lane = parent_lane.get(e.track, 0)
        tid += lane
        if pid not in procs:
            procs.add(pid)
            out.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": pname}})
            out.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
        if (pid, tid) not in named:
            named.add((pid, tid))
            label = tname if lane == 0 else f"{tname} ({lane + 1})"
            out.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": label}})
            out.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid,
                        "args": {"sort_index": order.get(e.track, 0) * 100 + lane}})
        # Round both ends to whole nanoseconds so that back-to-back slices stay back to back and
        # children stay inside their parents after rounding.
        t0 = round(e.start_s * US * 1000)
        t1 = max(t0, round(e.end_s * US * 1000))
        # Sums of child durations drift from their parent's end by float error; after rounding
        # that can be a nanosecond outside the parent. Clamp children into their parent.
        enclosing = open_spans.get((e.track, e.depth - 1)) if e.depth else None
        if enclosing is not None:
            t0 = min(max(t0, enclosing[0]), enclosing[1])
            t1 = min(max(t1, t0), enclosing[1])
        open_spans[(e.track, e.depth)] = (t0, t1)
        ev = {"ph": "X", "name": e.name, "cat": e.cat, "pid": pid, "tid": tid,
              "ts": t0 / 1000, "dur": (t1 - t0) / 1000}
        if e.args:
            ev["args"] = e.args
        out.append(ev)
    # Counter tracks ("C" events): activation bytes held on each stage, so the memory side of
    # the schedule (1F1B holds at most p - s micro-batches on stage s) is visible too.
    for stage, t, value in tl.activations:
        out.append({"ph": "C", "name": "activations held (bytes)", "pid": stage + 1, "tid": 0,
                    "ts": round(t * US * 1000) / 1000, "args": {"bytes": value}})
    meta = {"step_time_s": tl.step_time_s, "estimate_step_time_s": tl.estimate_step_time_s,
            "micro_batches": tl.micro_batches, "pipeline_stages": tl.pipeline_stages,
            "interleave": tl.interleave, "schedule": tl.schedule, "bubble_s": tl.bubble_s,
            "truncated": tl.truncated, "notes": list(tl.notes)}
    if title:
        meta["title"] = title
    return {"traceEvents": out, "displayTimeUnit": "ms", "otherData": meta}


def write_trace(est: Estimate, path: str | Path, *, schedule: str | None = None, model=None,
                force: bool = False) -> Path:
    """Write the predicted timeline of one step of ``est`` to ``path`` as trace-event JSON,
    through the safe writer (`dojosim.outfile`); returns the path written.

    ``model`` (the `Model` estimated) lets the ops inside each slot repeat as its blocks do."""
    from ..outfile import check_output, write_text

    check_output(path, force=force, what="--output")
    tl = timeline(est, schedule=schedule, **timeline_hints(model))
    doc = trace_events(tl, title=f"{est.model} on {est.system}")
    return write_text(path, json.dumps(doc, separators=(",", ":"), allow_nan=False), force=force, what="--output")
