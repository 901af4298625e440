"""The predicted timeline of ONE training step, laid out event by event.

`Estimate` says how long one pipeline stage spends on one micro-batch (`StageTiming`), how many
micro-batches and stages there are, and how long the non-pipelined parts of the step take (input
stall, data-parallel tail, optimizer, overhead). `timeline` replays the pipeline schedule from
those facts — GPipe, 1F1B or interleaved 1F1B, micro-batch by micro-batch, each stage waiting for
its neighbour's activations or gradients — so the bubbles come out of the schedule itself rather
than being drawn from a formula. Each slot holds what the engine charges one micro-batch chunk
(its math, its exposed collectives, its stage-to-stage send), so the replay lasts exactly the
engine's busy time plus its bubble, and the whole timeline exactly the estimate's step time
(tests/test_trace.py checks it). The Perfetto trace and the Gantt plot are both drawn from it.

Times are seconds from the start of the step; the trace writer converts to microseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.result import Estimate, StageTiming

# Above this many events the per-op children are drawn only for the first few micro-batches: a
# 96-stage, 1,000-micro-batch pipeline would otherwise write millions of events that no trace
# viewer opens, while the first micro-batches already show every op.
MAX_DETAILED_EVENTS = 150_000
DETAILED_MICRO_BATCHES = 4
# A trace longer than this many pipeline slots is cut to its first micro-batches: one step of a
# pipeline with thousands of accumulation steps repeats the same pattern, and viewers choke.
MAX_SLOTS = 40_000

# Fraction of a micro-batch's exposed tensor/context/expert-parallel traffic that belongs to the
# forward pass: backward moves the same activations' gradients plus the weight-gradient GEMMs do
# none, so both passes carry about equal traffic (Megatron: 2 all-reduces forward, 2 backward).
FORWARD_COMM_SHARE = 0.5


@dataclass(frozen=True)
class Event:
    """One interval on one track."""

    track: str          # "stage 3 / compute", "stage 3 / comm tp", "step", ...
    name: str           # what runs: "F mb2 c0", "layers.attn.qkv", "bubble", "optimizer"
    start_s: float
    dur_s: float
    cat: str            # forward | backward | op | bubble | comm_tp | comm_pp | comm_dp | phase | ...
    stage: int | None = None
    depth: int = 0      # 0 = top-level slice on its track, 1 = nested inside one
    args: dict = field(default_factory=dict)

    @property
    def end_s(self) -> float:
        return self.start_s + self.dur_s


@dataclass(frozen=True)
class Timeline:
    """All events of one step, plus the schedule facts they were laid out from."""

    events: tuple[Event, ...]
    tracks: tuple[str, ...]          # display order
    step_time_s: float               # the end of the last event
    estimate_step_time_s: float      # what the estimate predicted (the same, unless truncated)
    pipeline_s: float                # length of the pipelined part
    bubble_s: float                  # idle time of stage 0's compute inside the pipelined part
    micro_batches: int
    pipeline_stages: int
    interleave: int
    schedule: str
    truncated: bool = False
    notes: tuple[str, ...] = ()
    # (stage, time s, bytes): activations held for backward on each stage, stepping up at the
    # end of every forward slot and down at the end of every backward slot.
    activations: tuple[tuple[int, float, float], ...] = ()


def _activation_steps(est: Estimate, slots: dict, p: int, v: int) -> tuple[tuple[int, float, float], ...]:
    """Bytes of saved activations per stage over the step, from the replayed schedule.

    The estimate gives the peak per device; the most micro-batch chunks in flight on stage 0
    (which holds the most under 1F1B) sets what one chunk's activations weigh."""
    peak = float((est.memory.components or {}).get("activations", 0.0)) if est.memory else 0.0
    if peak <= 0 or not slots:
        return ()
    in_flight_max = 0
    for s, runs in slots.items():
        held = 0
        for kind, *_ in runs:
            held += 1 if kind == "F" else -1
            in_flight_max = max(in_flight_max, held)
    per_chunk = peak / max(1, in_flight_max)
    out: list[tuple[int, float, float]] = []
    for s in range(p):
        held = 0
        out.append((s, slots[s][0][3] if slots[s] else 0.0, 0.0))
        for kind, _mb, _chunk, _t0, t1 in slots[s]:
            held += 1 if kind == "F" else -1
            out.append((s, t1, held * per_chunk))
    return tuple(out)


def _stage_timing(est: Estimate) -> StageTiming:
    """The estimate's per-micro-batch stage timing, or one derived from its breakdown totals."""
    if est.stage is not None:
        return est.stage
    # No per-stage facts: spread the critical-path compute and comm evenly over the micro-batches
    # of a single stage, with backward twice forward (one GEMM each for input and weight grads).
    m = max(1, est.micro_batches) * max(1, est.interleave)
    b = est.breakdown
    comm = {k[5:]: b.get(k, 0.0) / m for k in ("comm_tp", "comm_cp", "comm_ep", "comm_pp") if b.get(k, 0.0) > 0}
    compute = b.get("compute", 0.0) / m
    return StageTiming(forward_s=compute / 3.0, backward_s=2.0 * compute / 3.0, comm_s=comm)


def _program(stage: int, p: int, m: int, v: int, schedule: str) -> list[tuple[str, int, int]]:
    """The order stage ``stage`` runs its (pass, micro-batch, chunk) slots in.

    Interleaved 1F1B follows Megatron-LM's order (Narayanan et al. SC'21 §2.2): micro-batches go
    through the chunks in groups of ``p``; warm-up runs (p - s - 1)·2 + (v - 1)·p forwards.
    """
    total = m * v

    def fwd(i: int) -> tuple[str, int, int]:
        group = p if v > 1 else total
        chunk = (i // group) % v if v > 1 else 0
        mb = (i // (group * v)) * group + i % group if v > 1 else i
        return ("F", mb, chunk)

    def bwd(i: int) -> tuple[str, int, int]:
        f = fwd(i)
        return ("B", f[1], v - 1 - f[2])

    if schedule == "gpipe":
        return [fwd(i) for i in range(total)] + [bwd(i) for i in range(total)]
    if v > 1:
        warm = min(total, (p - stage - 1) * 2 + (v - 1) * p)
    else:
        warm = min(total, p - stage - 1)
    order = [fwd(i) for i in range(warm)]
    f_next, b_next = warm, 0
    while f_next < total:
        order.append(fwd(f_next))
        f_next += 1
        order.append(bwd(b_next))
        b_next += 1
    order.extend(bwd(i) for i in range(b_next, total))
    return order


def _schedule(p: int, m: int, v: int, fwd: float, bwd: float, hop: float, schedule: str, start: float):
    """Replay the pipeline: each slot starts when its stage is free and its input has arrived.

    Returns {stage: [(pass, mb, chunk, start, end)]} in run order, and the end of the last slot.
    """
    programs = {s: _program(s, p, m, v, schedule) for s in range(p)}
    pos = {s: 0 for s in range(p)}
    free = {s: start for s in range(p)}
    done: dict[tuple[str, int, int, int], float] = {}  # (pass, mb, virtual stage) -> end time
    out: dict[int, list] = {s: [] for s in range(p)}
    last_virtual = p * v - 1
    remaining = sum(len(prog) for prog in programs.values())
    while remaining:
        progressed = False
        for s in range(p):
            while pos[s] < len(programs[s]):
                kind, mb, chunk = programs[s][pos[s]]
                vs = chunk * p + s
                if kind == "F":
                    dep = done.get(("F", mb, vs - 1)) if vs > 0 else start
                    ready = None if dep is None else dep + (hop if vs > 0 else 0.0)
                    dur = fwd
                else:
                    if vs == last_virtual:
                        dep = done.get(("F", mb, vs))
                        ready = dep
                    else:
                        dep = done.get(("B", mb, vs + 1))
                        ready = None if dep is None else dep + hop
                    dur = bwd
                if ready is None:
                    break
                t0 = max(free[s], ready)
                t1 = t0 + dur
                done[(kind, mb, vs)] = t1
                free[s] = t1
                out[s].append((kind, mb, chunk, t0, t1))
                pos[s] += 1
                remaining -= 1
                progressed = True
        if not progressed:  # a bug in _program, never a user's mistake
            raise RuntimeError("pipeline schedule deadlocked")
    end = max(free.values()) if p else start
    return out, end


def model_op_counts(model) -> dict[str, int]:
    """How many times each op of ``model`` runs per sample (its block's repeat count), by name."""
    counts: dict[str, int] = {}
    for block in getattr(model, "blocks", ()):
        for op in block.ops:
            counts[op.name] = counts.get(op.name, 0) + int(block.count)
    return counts


def timeline(est: Estimate, *, schedule: str | None = None, layers: int | None = None,
             op_counts: dict[str, int] | None = None) -> Timeline:
    """Lay out one step of ``est`` as events on per-stage compute and communication tracks.

    The engine reports each op of a repeated block once. ``layers`` (the model's pipeline-
    splittable layers) and ``op_counts`` (`model_op_counts`) say how often each runs inside one
    slot: a model of identical layers (GPT) is drawn layer by layer; any other repeats each op's
    slice by its block's count. Without them the count is guessed from the slot's length.
    """
    st = _stage_timing(est)
    p = max(1, int(est.pipeline_stages))
    v = max(1, int(est.interleave))
    m = max(1, int(est.micro_batches))
    schedule = schedule or str((est.strategy or {}).get("schedule") or "1f1b")
    notes: list[str] = []
    truncated = False
    if 2 * p * m * v > MAX_SLOTS:
        keep = max(p, (MAX_SLOTS // (2 * p * v)) // p * p) if v > 1 else max(1, MAX_SLOTS // (2 * p))
        notes.append(f"trace cut to the first {keep} of {m} micro-batches (the rest repeat the pattern)")
        m, truncated = keep, True

    kinds = sorted(k for k, s in st.comm_s.items() if k != "pp" and s > 0)
    c_total = sum(st.comm_s[k] for k in kinds)
    c_fwd = {k: st.comm_s[k] * FORWARD_COMM_SHARE for k in kinds}
    c_bwd = {k: st.comm_s[k] - c_fwd[k] for k in kinds}
    # The engine charges every chunk a send of its activation forward and of its gradient back
    # (comm_pp); each slot carries its half, so the replay's length is the engine's.
    hop = st.comm_s.get("pp", 0.0) / 2.0 if p > 1 else 0.0
    fwd_slot = st.forward_s + sum(c_fwd.values()) + hop
    bwd_slot = st.backward_s + (c_total - sum(c_fwd.values())) + hop

    b = est.breakdown
    events: list[Event] = []
    t = 0.0
    input_s = b.get("input", 0.0)
    if input_s > 0:
        events.append(Event("step", "input stall", t, input_s, "input"))
        t += input_s
    pipe_start = t
    slots, pipe_end = _schedule(p, m, v, fwd_slot, bwd_slot, 0.0, schedule, pipe_start)
    pipeline_s = pipe_end - pipe_start
    events.append(Event("step", f"pipeline ({m} micro-batches x {p} stages)", pipe_start, pipeline_s, "phase"))

    ops = [(o[0], o[1], o[2]) for o in st.ops if o[1] > 0 or o[2] > 0]
    reps = layers // (p * v) if layers and layers >= p * v else None
    total_f = sum(o[1] for o in ops)
    uniform = bool(reps and total_f > 0 and 0.5 <= st.forward_s / (reps * total_f) <= 1.5)
    if op_counts and not uniform:
        # Fold each op's repeat count (spread over the pipeline chunks) into its slice.
        share = float(p * v)
        ops = [(n + (f" x{op_counts[n] / share:.3g}" if op_counts.get(n, 1) / share != 1 else ""),
                f * op_counts.get(n, 1) / share, bk * op_counts.get(n, 1) / share) for n, f, bk in ops]
        reps = 1
    elif not uniform and reps:
        reps = None
    detailed = 2 * p * m * v * (1 + op_children_per_slot(ops, st.forward_s, reps)) <= MAX_DETAILED_EVENTS
    bubble_stage0 = 0.0
    for s in range(p):
        compute = f"stage {s} / compute"
        cursor = pipe_start
        for kind, mb, chunk, t0, t1 in slots[s]:
            if t0 > cursor + 1e-15:
                events.append(Event(compute, "bubble", cursor, t0 - cursor, "bubble", s))
                if s == 0:
                    bubble_stage0 += t0 - cursor
            cursor = t1
            label = f"{kind} mb{mb}" + (f" c{chunk}" if v > 1 else "")
            math_s = st.forward_s if kind == "F" else st.backward_s
            cat = "forward" if kind == "F" else "backward"
            events.append(Event(compute, label, t0, math_s, cat, s, 0, {"micro_batch": mb, "chunk": chunk}))
            if ops and (detailed or mb < DETAILED_MICRO_BATCHES):
                events.extend(_op_children(ops, kind, compute, t0, math_s, s, chunk * p + s, reps))
            # Exposed collectives follow the math they belong to, each on its own track.
            c0 = t0 + math_s
            for k in kinds:
                d = c_fwd[k] if kind == "F" else c_bwd[k]
                if d > 0:
                    events.append(Event(f"stage {s} / comm {k}", f"{k} {label}", c0, d, f"comm_{k}", s))
                    c0 += d
            if hop > 0:
                events.append(Event(f"stage {s} / comm pp", f"send/recv {label}", c0, hop, "comm_pp", s))
        if pipe_end > cursor + 1e-15:
            events.append(Event(compute, "bubble", cursor, pipe_end - cursor, "bubble", s))
            if s == 0:
                bubble_stage0 += pipe_end - cursor

    t = pipe_end
    t = _tail(est, events, p, t)
    tracks = _track_order(events, p)
    if not truncated and abs(t - est.step_time_s) > 1e-6 * max(est.step_time_s, 1e-12):
        # only an Estimate built without the engine's stage facts (a hand-made fixture) lands here
        notes.append(f"replayed schedule lasts {t:.6g} s; the estimate says {est.step_time_s:.6g} s")
    return Timeline(tuple(events), tracks, t, est.step_time_s, pipeline_s, bubble_stage0, m, p, v,
                    schedule, truncated, tuple(notes), _activation_steps(est, slots, p, v))


def _op_children(ops, kind: str, track: str, t0: float, math_s: float, stage: int, vstage: int,
                 reps: int | None = None) -> list[Event]:
    """The model's modules inside one forward or backward slot, scaled to fit inside it.

    The engine's ops are those of ONE layer when the stage holds several identical layers: the
    slot then holds that many repetitions, each drawn as a "layer i" slice around its ops.
    """
    col = 1 if kind == "F" else 2
    total = sum(o[col] for o in ops)
    if total <= 0 or math_s <= 0:
        return []
    if not reps:
        reps = max(1, round(math_s / total)) if total < math_s else 1
    scale = min(1.0, math_s / (reps * total))  # never let children spill out of their parent
    order = ops if kind == "F" else list(reversed(ops))
    layer_order = range(reps) if kind == "F" else range(reps - 1, -1, -1)
    out, c = [], t0
    for r in layer_order:
        depth = 1
        if reps > 1:
            idx = vstage * reps + r
            out.append(Event(track, f"layer {idx}", c, total * scale, "layer", stage, 1, {"layer": idx}))
            depth = 2
        for op in order:
            d = op[col] * scale
            if d > 0:
                out.append(Event(track, op[0], c, d, "op", stage, depth))
                c += d
    return out


def op_children_per_slot(ops, forward_s: float, reps: int | None = None) -> int:
    """How many child events one slot gets (for the size cap)."""
    total = sum(o[1] for o in ops)
    if not reps:
        reps = max(1, round(forward_s / total)) if 0 < total < forward_s else 1
    return reps * (len(ops) + (1 if reps > 1 else 0))


def _tail(est: Estimate, events: list[Event], p: int, t: float) -> float:
    """Data-parallel gradient traffic, weight streaming, optimizer and overhead after the pipeline."""
    b = est.breakdown
    exposed_dp = b.get("comm_dp", 0.0) + b.get("comm_zero", 0.0)
    total_dp = max(est.dp_comm_s, exposed_dp)
    if total_dp > 0:
        # The hidden part overlapped the last backward passes; only `exposed_dp` extends the step.
        start = max(0.0, t + exposed_dp - total_dp)
        for s in range(p):
            events.append(Event(f"stage {s} / comm dp", "dp gradient sync", start, total_dp, "comm_dp", s,
                                0, {"exposed_s": exposed_dp, "hidden_s": total_dp - exposed_dp}))
        if exposed_dp > 0:
            events.append(Event("step", "exposed dp/zero comm", t, exposed_dp, "comm_dp"))
        t += exposed_dp
    # Streaming that waited inside the micro-batches' ops is already in their slots; what shows
    # here is only the streaming the pipeline's busy time did not hide.
    inside = est.extra.get("stream_per_micro_batch_s", 0.0) * est.micro_batches
    tail = (("memory_stream", "weight streaming", b.get("memory_stream", 0.0) - inside),
            ("compute", "fp8 weight cast", est.extra.get("fp8_weight_cast_s", 0.0)),
            ("optimizer", "optimizer", b.get("optimizer", 0.0)),
            ("overhead", "framework overhead", b.get("overhead", 0.0)))
    for key, name, d in tail:
        if d > 0:
            events.append(Event("step", name, t, d, key))
            t += d
    return t


def _track_order(events: list[Event], p: int) -> tuple[str, ...]:
    seen = {e.track for e in events}
    order = ["step"] if "step" in seen else []
    for s in range(p):
        prefix = f"stage {s} / "
        mine = sorted(t for t in seen if t.startswith(prefix))
        mine.sort(key=lambda t: (t != prefix + "compute", t))
        order.extend(mine)
    return tuple(order)
