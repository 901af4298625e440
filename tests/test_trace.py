"""The predicted step as a Chrome/Perfetto trace, checked by an independent reader of the format.

The checker below is written from the Trace Event Format document (Google, "Trace Event Format",
the spec Chrome's about:tracing and Perfetto's JSON importer follow), not from dojosim's writer.
"""
from __future__ import annotations

import json
from collections import defaultdict

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as hs

from dojosim.report.timeline import timeline
from dojosim.report.trace import write_trace
from test_report_fixtures import make_estimate

EPS_US = 1e-6  # float slack on microsecond sums


def check_trace_format(doc) -> dict:
    """Raise AssertionError where ``doc`` breaks the trace-event rules; return per-track slices."""
    assert isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list), "object with traceEvents list"
    assert doc.get("displayTimeUnit", "ms") in ("ms", "ns")
    names: dict[tuple, str] = {}
    procs: dict[int, str] = {}
    slices: dict[tuple, list] = defaultdict(list)
    for ev in doc["traceEvents"]:
        assert isinstance(ev, dict)
        ph = ev.get("ph")
        assert ph in {"X", "M", "B", "E", "i", "I", "C"}, f"unknown phase {ph!r}"
        assert isinstance(ev.get("pid"), int) and isinstance(ev.get("tid"), int), "integer pid/tid"
        assert isinstance(ev.get("name"), str) and ev["name"], "every event has a name"
        if ph == "M":
            assert ev["name"] in {"process_name", "thread_name", "process_sort_index", "thread_sort_index",
                                  "process_labels"}
            assert isinstance(ev.get("args"), dict)
            if ev["name"] == "process_name":
                procs[ev["pid"]] = ev["args"]["name"]
            if ev["name"] == "thread_name":
                names[(ev["pid"], ev["tid"])] = ev["args"]["name"]
            continue
        if ph == "C":  # counter: a timestamp and numeric series values in args
            assert isinstance(ev.get("ts"), (int, float)) and ev["ts"] >= 0
            assert isinstance(ev.get("args"), dict) and ev["args"]
            assert all(isinstance(v, (int, float)) for v in ev["args"].values()), "counter values are numbers"
            assert ev["pid"] in procs, "counter on a named process"
            continue
        assert ph == "X", "this writer emits complete, counter and metadata events only"
        ts, dur = ev.get("ts"), ev.get("dur")
        assert isinstance(ts, (int, float)) and isinstance(dur, (int, float)), "numeric ts/dur (microseconds)"
        assert ts >= 0 and dur >= 0, f"negative time in {ev}"
        slices[(ev["pid"], ev["tid"])].append((ts, ts + dur, ev["name"]))
    for track, evs in slices.items():
        assert track in names, f"thread {track} has no thread_name metadata"
        assert track[0] in procs, f"process {track[0]} has no process_name metadata"
        # Complete events on one thread must nest: sorted by start (longest first on ties), each
        # event lies entirely inside the open one or starts after it ends.
        stack: list[tuple] = []
        for s, e, n in sorted(evs, key=lambda x: (x[0], -(x[1] - x[0]))):
            while stack and s >= stack[-1][1] - EPS_US:
                stack.pop()
            if stack:
                assert e <= stack[-1][1] + EPS_US, f"{n} [{s},{e}] overlaps {stack[-1]} on {names[track]}"
            stack.append((s, e, n))
    return {names[k]: v for k, v in slices.items()} | {"_procs": procs}


def _load(tmp_path, est, **kw):
    path = write_trace(est, tmp_path / "step.json", **kw)
    return json.loads(path.read_text())


def test_trace_is_valid_and_names_stages_and_comm(tmp_path):
    doc = _load(tmp_path, make_estimate(p=4, m=8))
    tracks = check_trace_format(doc)
    procs = tracks.pop("_procs")
    assert {"stage 0", "stage 1", "stage 2", "stage 3", "step"} <= set(procs.values())
    assert {"compute", "comm tp", "comm pp", "comm dp"} <= set(tracks)
    names = {n for evs in tracks.values() for _, _, n in evs}
    assert {"backbone.stem", "bev.attention", "heads.objects"} <= names, "ops named after modules"
    assert "bubble" in names


def test_trace_timestamps_are_microseconds(tmp_path):
    est = make_estimate(p=2, m=2)
    doc = _load(tmp_path, est)
    end = max(ev["ts"] + ev["dur"] for ev in doc["traceEvents"] if ev["ph"] == "X")
    tl = timeline(est)
    assert end == pytest.approx(tl.step_time_s * 1e6, rel=1e-6)
    assert tl.step_time_s == pytest.approx(est.step_time_s, rel=0.05)


def test_bubble_of_1f1b_matches_closed_form():
    # Stage 0 idles (p-1) slots of forward+backward: the 1F1B bubble (p-1)/(m+p-1) of the pipeline.
    p, m = 4, 8
    est = make_estimate(p=p, m=m, comm={}, ops=False)
    tl = timeline(est)
    assert tl.bubble_s == pytest.approx((p - 1) * 3e-3, rel=1e-9)
    assert tl.bubble_s / tl.pipeline_s == pytest.approx((p - 1) / (m + p - 1), rel=1e-9)


def test_interleaving_shrinks_the_bubble():
    p, m, v = 4, 8, 2
    # Same work per stage: each of v chunks does 1/v of it.
    plain = timeline(make_estimate(p=p, m=m, v=1, comm={}, ops=False))
    inter = timeline(make_estimate(p=p, m=m, v=v, fwd=1e-3 / v, bwd=2e-3 / v, comm={}, ops=False))
    assert inter.bubble_s == pytest.approx(plain.bubble_s / v, rel=1e-9)


@settings(max_examples=25)
@example(p=2, m=2, v=3, hop=1e-09, tp=1e-09, sched="1f1b")  # children once rounded 1 ns past their parent
@given(p=hs.integers(1, 6), m=hs.integers(1, 12), v=hs.sampled_from([1, 2, 3]),
       hop=hs.floats(0, 5e-3), tp=hs.floats(0, 1e-3), sched=hs.sampled_from(["1f1b", "gpipe"]))
def test_any_schedule_writes_a_valid_trace(tmp_path_factory, p, m, v, hop, tp, sched):
    if v > 1 and (p == 1 or m % p):
        v = 1
    est = make_estimate(p=p, m=m, v=v, comm={"tp": tp, "pp": hop}, schedule=sched)
    doc = _load(tmp_path_factory.mktemp("t"), est)
    tracks = check_trace_format(doc)
    fwd = [n for n in (n for _, _, n in tracks["compute"]) if n.startswith("F ")]
    bwd = [n for n in (n for _, _, n in tracks["compute"]) if n.startswith("B ")]
    assert len(fwd) == len(bwd) == m * v, "every micro-batch runs forward and backward once per chunk"


def test_checker_rejects_partial_overlap():
    bad = {"traceEvents": [
        {"ph": "M", "name": "process_name", "pid": 1, "tid": 0, "args": {"name": "p"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "t"}},
        {"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 0, "dur": 10},
        {"ph": "X", "name": "b", "pid": 1, "tid": 1, "ts": 5, "dur": 10}]}
    with pytest.raises(AssertionError):
        check_trace_format(bad)


def test_big_pipelines_are_cut_not_exploded(tmp_path):
    est = make_estimate(p=64, m=4096, ops=True)
    tl = timeline(est)
    assert tl.truncated and len(tl.events) < 600_000


def test_layers_repeat_the_per_layer_ops_inside_each_slot():
    from dataclasses import replace

    p, v, layers = 2, 2, 12
    est = make_estimate(p=p, m=4, v=v)
    # The engine reports ONE layer's ops; a chunk holds 12 / (2*2) = 3 such layers.
    per_layer = tuple((n, f / 3, b / 3) for n, f, b in est.stage.ops)
    est = replace(est, stage=replace(est.stage, ops=per_layer))
    tl = timeline(est, layers=layers)
    f0 = next(e for e in tl.events if e.name == "F mb0 c1" and e.stage == 1)
    inside = [e for e in tl.events if e.track == f0.track and e.depth > 0 and f0.start_s <= e.start_s < f0.end_s]
    layer_names = [e.name for e in inside if e.cat == "layer"]
    # Virtual stage 3 (chunk 1 of stage 1) holds layers 9, 10, 11 of 12.
    assert layer_names == ["layer 9", "layer 10", "layer 11"]
    assert [e.name for e in inside if e.cat == "op"][:4] == ["backbone.stem", "backbone.stage1", "bev.attention",
                                                             "heads.objects"]
    assert max(e.end_s for e in inside) <= f0.end_s + 1e-12


def test_op_counts_fold_repeated_blocks_into_each_slice():
    from dataclasses import replace

    est = make_estimate(p=1, m=2, ops=False)
    ops = (("stem", 1e-4, 2e-4), ("stage.n.conv", 2e-4, 4e-4))  # stage.n runs 3 times per sample
    est = replace(est, stage=replace(est.stage, ops=ops))
    tl = timeline(est, layers=21, op_counts={"stem": 1, "stage.n.conv": 3})
    f0 = next(e for e in tl.events if e.name == "F mb0")
    kids = [e for e in tl.events if e.cat == "op" and f0.start_s <= e.start_s < f0.end_s]
    assert [(e.name, round(e.dur_s, 9)) for e in kids] == [("stem", 1e-4), ("stage.n.conv x3", 6e-4)]


def test_estimate_without_stage_timing_still_has_a_timeline(tmp_path):
    from dataclasses import replace

    est = replace(make_estimate(p=1, m=4), stage=None)
    tl = timeline(est)
    fwd = [e for e in tl.events if e.cat == "forward"]
    bwd = [e for e in tl.events if e.cat == "backward"]
    assert len(fwd) == len(bwd) == 4
    # Built from the breakdown: compute split 1:2 between forward and backward.
    assert sum(e.dur_s for e in fwd + bwd) == pytest.approx(est.breakdown["compute"])
    check_trace_format(json.loads(write_trace(est, tmp_path / "s.json").read_text()))


def test_gantt_keeps_first_and_last_stages_of_deep_pipelines():
    import matplotlib.pyplot as plt

    from dojosim.report.gantt import figure_gantt

    tl = timeline(make_estimate(p=24, m=24, ops=False))
    fig = figure_gantt(tl)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    stages = {int(r.split()[1]) for r in rows if r.startswith("stage")}
    assert stages == {0, 1, 22, 23} and rows[0] == "step"
    plt.close(fig)


def test_activation_counters_follow_1f1b(tmp_path):
    p, m = 4, 8
    est = make_estimate(p=p, m=m, ops=False)
    doc = _load(tmp_path, est)
    check_trace_format(doc)
    peak = est.memory.components["activations"]
    for stage in range(p):
        vals = [ev["args"]["bytes"] for ev in doc["traceEvents"] if ev["ph"] == "C" and ev["pid"] == stage + 1]
        # 1F1B holds at most p - s micro-batches on stage s, and ends the step holding none.
        assert max(vals) == pytest.approx(peak * (p - stage) / p)
        assert vals[-1] == 0


@pytest.mark.parametrize("split", [
    dict(dp=16, micro_batch=1, global_batch=32),
    dict(dp=1, tp=4, pp=4, micro_batch=1, global_batch=16, recompute="full"),
    dict(dp=1, tp=4, pp=4, interleave=2, micro_batch=1, global_batch=16),
    dict(dp=1, tp=4, pp=4, micro_batch=1, global_batch=8, schedule="gpipe"),
    dict(dp=4, tp=4, micro_batch=1, global_batch=16, zero=3),
    dict(dp=2, tp=2, cp=2, pp=2, micro_batch=1, global_batch=8, zero=1),
])
def test_the_timeline_replays_the_engines_schedule_to_its_step_time(split):
    """Each slot holds what the engine charges one micro-batch chunk, so the replayed schedule
    (bubbles from the schedule itself) ends exactly at the estimate's step time."""
    from dojosim import Strategy
    from dojosim.engine import estimate
    from dojosim.hardware import load_system
    from dojosim.report.timeline import timeline
    from dojosim.workload import build

    model = build("gpt", layers=8, hidden=512, heads=8, seq_len=512, vocab=8000)
    est = estimate(model, load_system("a100-80gb-dgx", devices=16), Strategy(**split))
    tl = timeline(est)
    assert not tl.truncated and tl.step_time_s == pytest.approx(est.step_time_s, rel=1e-9)
    assert not tl.notes


def test_an_input_bound_dojo_step_replays_to_its_step_time():
    from pathlib import Path

    from dojosim.engine import estimate
    from dojosim.report.timeline import timeline
    from dojosim.run import load_run

    r = load_run(Path(__file__).resolve().parents[1] / "examples" / "fsd-dojo-tile.yaml")
    est = estimate(r.model, r.system, r.strategy)
    assert timeline(est).step_time_s == pytest.approx(est.step_time_s, rel=1e-9)
