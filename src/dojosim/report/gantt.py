"""The predicted timeline of one step drawn as a Gantt chart (the same events as the trace)."""
from __future__ import annotations

from pathlib import Path

from ..engine.result import Estimate
from .timeline import Timeline, timeline

# One colour per kind of work, shared with the other plots so a legend means the same everywhere.
COLORS = {
    "forward": "#4C72B0", "backward": "#DD8452", "op": "#8FAADC", "bubble": "#E5E5E5",
    "comm_tp": "#55A868", "comm_cp": "#64B5CD", "comm_ep": "#8172B3", "comm_pp": "#C44E52",
    "comm_dp": "#937860", "comm_zero": "#DA8BC3", "input": "#8C8C8C", "optimizer": "#CCB974",
    "memory_stream": "#17BECF", "overhead": "#BBBBBB", "phase": "#F0F0F0",
}
LABELS = {
    "forward": "forward", "backward": "backward (+recompute)", "bubble": "bubble (idle)",
    "comm_tp": "tensor-parallel comm", "comm_cp": "context-parallel comm", "comm_ep": "expert all-to-all",
    "comm_pp": "pipeline send", "comm_dp": "data-parallel gradient sync", "input": "input stall",
    "optimizer": "optimizer", "memory_stream": "weight streaming", "overhead": "overhead",
}
# More rows than this and each is too thin to read: show the first and last stages only.
MAX_ROWS = 40


def figure_gantt(tl: Timeline, *, title: str = ""):
    """A matplotlib Figure with one row per track and one bar per top-level event."""
    import matplotlib.pyplot as plt

    tracks = list(tl.tracks)
    if len(tracks) > MAX_ROWS:
        keep_stages = {0, 1, tl.pipeline_stages - 2, tl.pipeline_stages - 1}
        tracks = [t for t in tracks if t == "step" or int(t.split()[1]) in keep_stages]
    row = {t: i for i, t in enumerate(tracks)}
    scale, unit = _time_unit(tl.step_time_s)
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(tracks) + 1.8))
    by_cat: dict[str, list[tuple[float, float, int]]] = {}
    for e in tl.events:
        if e.depth or e.track not in row or e.cat == "phase":
            continue
        by_cat.setdefault(e.cat, []).append((e.start_s * scale, e.dur_s * scale, row[e.track]))
    for cat, bars in by_cat.items():
        rows: dict[int, list[tuple[float, float]]] = {}
        for x, w, r in bars:
            rows.setdefault(r, []).append((x, w))
        for i, (r, spans) in enumerate(sorted(rows.items())):
            ax.broken_barh(spans, (r - 0.4, 0.8), facecolors=COLORS.get(cat, "#999999"),
                           edgecolor="white" if cat in ("forward", "backward") else "none", linewidth=0.3,
                           label=LABELS.get(cat, cat) if i == 0 else None)
    ax.set_yticks(range(len(tracks)))
    ax.set_yticklabels(tracks, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, tl.step_time_s * scale * 1.01)
    ax.set_xlabel(f"time in step ({unit})")
    ax.set_ylabel("track")
    sched = f"{tl.schedule}" + (f", interleave {tl.interleave}" if tl.interleave > 1 else "")
    stages = f"{tl.pipeline_stages} stage" + ("s" if tl.pipeline_stages != 1 else "")
    ax.set_title(title or f"Predicted step: {stages} x {tl.micro_batches} micro-batches ({sched})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    legend_h = 0.38 / fig.get_figheight()  # up to two rows of legend, in figure fractions
    fig.legend(loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, legend_h, 1, 1))
    return fig


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds >= 2.0:
        return 1.0, "s"
    if seconds >= 2e-3:
        return 1e3, "ms"
    return 1e6, "us"


GANTT_SUFFIXES = (".png", ".svg")


def plot_gantt(est: Estimate, path: str | Path, *, title: str = "", force: bool = False) -> Path:
    """Draw the predicted timeline of one step of ``est``; the suffix of ``path`` (.png or .svg)
    picks the format, any other suffix is a `SpecError` (never a file under another name)."""
    import matplotlib.pyplot as plt

    from ..outfile import check_output
    from .plots import save_figure

    path = check_output(path, force=force, what="--gantt", suffixes=GANTT_SUFFIXES)
    fig = figure_gantt(timeline(est), title=title or f"{est.model} on {est.system}: predicted step timeline")
    try:
        save_figure(fig, path, force=force, what="--gantt")
    finally:
        plt.close(fig)
    return path
