"""Plots other commands call: each ``plot_*`` writes PNG and SVG files and returns their paths.

Each plot has a ``figure_*`` builder returning the matplotlib Figure (tests inspect its axes) and
a ``plot_*`` wrapper that saves it. matplotlib is imported inside the functions, with the Agg
backend, so importing this module costs nothing and no display is ever needed.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..engine.result import BREAKDOWN_KEYS, Estimate
from .gantt import COLORS, figure_gantt, plot_gantt  # noqa: F401  (re-exported)
from .roofline import chip_roof, figure_roofline, pool_roofs, roofline_points  # noqa: F401  (re-exported)
from .timeline import timeline

FORMATS = ("png", "svg")
_BREAKDOWN_COLORS = {"compute": COLORS["forward"], "memory_stream": COLORS["memory_stream"],
                     "bubble": "#AAAAAA", "comm_zero": COLORS["comm_zero"]}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    # Keep SVG text as text: searchable, smaller, and readable by tests and screen readers.
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "dojosim"  # deterministic ids across runs
    return plt


def save_figure(fig, path: Path, *, force: bool = False, what: str = "--plot") -> Path:
    """Save ``fig`` to ``path`` (PNG or SVG by its suffix) through the safe writer."""
    from ..outfile import atomic_path

    _plt()
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    with atomic_path(path, force=force, what=what, suffixes=(".png", ".svg")) as tmp:
        fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
    return path


def _save_all(fig, directory: str | Path, stem: str, force: bool = False) -> list[Path]:
    from ..outfile import make_output_dir

    plt = _plt()
    try:
        d = make_output_dir(directory, force=force, what="--plot")
        return [save_figure(fig, d / f"{stem}.{fmt}", force=force) for fmt in FORMATS]
    finally:
        plt.close(fig)


def _color(key: str) -> str:
    return _BREAKDOWN_COLORS.get(key) or COLORS.get(key, "#999999")


# ---------------------------------------------------------------- one estimate
def figure_breakdown(ests: Sequence[Estimate], labels: Sequence[str] | None = None):
    """Stacked horizontal bars: where the step time goes, one bar per estimate."""
    plt = _plt()
    labels = list(labels or [f"{e.model} on {e.system}" for e in ests])
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.55 * len(ests)))
    left = [0.0] * len(ests)
    for key in BREAKDOWN_KEYS:
        vals = [e.breakdown.get(key, 0.0) for e in ests]
        if not any(v > 0 for v in vals):
            continue
        ax.barh(labels, vals, left=left, color=_color(key), label=key)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlabel("seconds per step")
    ax.set_title("Step-time breakdown")
    ax.invert_yaxis()
    # Legend outside the axes on the right, so it never covers bars or the axis label.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def figure_memory(est: Estimate):
    """Per-device memory: bytes by component (left) and use of each tier against capacity (right)."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    comp = {k: v for k, v in est.memory.components.items() if v > 0}
    ax1.bar(list(comp), [v / 1e9 for v in comp.values()], color="#4C72B0")
    ax1.set_ylabel("GB per device")
    ax1.set_title("Memory by component")
    ax1.tick_params(axis="x", rotation=30)
    tiers = est.memory.tiers
    names = list(tiers)
    used = [tiers[t].get("used", 0.0) / 1e9 for t in names]
    cap = [tiers[t].get("capacity", 0.0) / 1e9 for t in names]
    ax2.bar(names, cap, color="#DDDDDD", label="capacity")
    ax2.bar(names, used, color=["#55A868" if u <= c else "#C44E52" for u, c in zip(used, cap)], width=0.5,
            label="used")
    ax2.set_ylabel("GB per device")
    ax2.set_title("Memory by tier" + ("" if est.memory.fits else " (does not fit)"))
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def figure_op_times(est: Estimate, top: int = 20):
    """Forward and backward seconds per module of one micro-batch on one stage (longest first)."""
    plt = _plt()
    ops = sorted(est.stage.ops if est.stage else (), key=lambda o: -(o[1] + o[2]))[:top]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.3 * max(1, len(ops))))
    names = [o[0] for o in ops]
    ax.barh(names, [o[1] for o in ops], color=COLORS["forward"], label="forward")
    ax.barh(names, [o[2] for o in ops], left=[o[1] for o in ops], color=COLORS["backward"], label="backward")
    ax.invert_yaxis()
    ax.set_xlabel("seconds per micro-batch")
    ax.set_title("Time per module (one stage, one micro-batch)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_estimate(est: Estimate, directory: str | Path, *, model=None, system=None,
                  force: bool = False) -> list[Path]:
    """Breakdown bars, memory breakdown, per-module times, the Gantt timeline and (given the model
    and system) the per-op roofline of ``est``, each as PNG and SVG in ``directory``."""
    d = Path(directory)
    paths = _save_all(figure_breakdown([est]), d, "breakdown", force)
    paths += _save_all(figure_memory(est), d, "memory", force)
    if est.stage and est.stage.ops:
        paths += _save_all(figure_op_times(est), d, "op_times", force)
    if model is not None and system is not None:
        precision = str((est.strategy or {}).get("precision") or "bf16")
        peak, bw = chip_roof(system, precision)
        paths += _save_all(figure_roofline(roofline_points(model, system, precision, est), peak, bw,
                                           f"Roofline per op: {est.model} on one {getattr(system, 'name', '')} chip",
                                           pool_roofs(system)),
                           d, "roofline", force)
    paths += _save_all(figure_gantt(timeline(est), title=f"{est.model} on {est.system}: predicted step"),
                       d, "gantt", force)
    return paths


# ---------------------------------------------------------------- validation
def figure_validation(result: dict):
    """Predicted vs measured step time, log-log, with y = x and ±10% / ±25% bands."""
    plt = _plt()
    cases = [c for c in result.get("cases", []) if c.get("predicted_step_time_s") and c.get("measured_step_time_s")]
    fig, ax = plt.subplots(figsize=(6, 6))
    meas = [c["measured_step_time_s"] for c in cases]
    pred = [c["predicted_step_time_s"] for c in cases]
    vals = meas + pred or [1.0]
    lo, hi = min(vals) / 1.5, max(vals) * 1.5
    xs = [lo, hi]
    ax.fill_between(xs, [x * 0.75 for x in xs], [x * 1.25 for x in xs], color="#F3E0C0", label="±25%")
    ax.fill_between(xs, [x * 0.9 for x in xs], [x * 1.1 for x in xs], color="#CFE3C7", label="±10%")
    ax.plot(xs, xs, color="black", lw=1, label="y = x")
    ax.scatter(meas, pred, s=22, color="#4C72B0", zorder=3, label=f"cases ({len(cases)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured step time (s)")
    ax.set_ylabel("predicted step time (s)")
    med = result.get("median_abs_error")
    ax.set_title("Predicted vs measured" + (f" (median |error| {med:.1%})" if med is not None else ""))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_validation(result: dict, directory: str | Path, *, force: bool = False) -> list[Path]:
    return _save_all(figure_validation(result), directory, "validation", force)


# ---------------------------------------------------------------- search
def figure_search(candidates: Sequence) -> object:
    """The splits a search ranked: samples/s of each (bars), memory per device (dots)."""
    plt = _plt()
    cands = list(candidates)
    labels = [c.strategy.label() for c in cands]
    est = [c.estimate for c in cands]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * max(1, len(cands))))
    ax.barh(labels, [e.samples_per_s for e in est],
            color=["#4C72B0" if e.memory.fits else "#C44E52" for e in est])
    ax.invert_yaxis()
    ax.set_xlabel("samples per second")
    ax.set_title(f"Search: {len(cands)} best splits (red = does not fit)")
    ax2 = ax.twiny()
    ax2.plot([e.memory.per_device_bytes / 1e9 for e in est], range(len(est)), "o", color="#DD8452",
             label="memory per device")
    ax2.set_xlabel("GB per device", color="#DD8452")
    ax2.set_xlim(0, max([e.memory.per_device_bytes / 1e9 for e in est] + [1e-9]) * 1.1)
    fig.tight_layout()
    return fig


def plot_search(candidates: Sequence, directory: str | Path, *, force: bool = False) -> list[Path]:
    return _save_all(figure_search(candidates), directory, "search", force)


# ---------------------------------------------------------------- sweep
_LOWER_IS_BETTER = ("time", "cost", "energy", "power", "price", "usd", "bytes", "devices", "chips", "error")


def lower_is_better(column: str) -> bool:
    return any(w in column.lower() for w in _LOWER_IS_BETTER)


def pareto_front(xs: Sequence[float], ys: Sequence[float], *, x_low: bool = True, y_low: bool = False) -> list[int]:
    """Indices of the points no other point beats on both axes, sorted by x."""
    sx = 1 if x_low else -1
    sy = 1 if y_low else -1
    order = sorted(range(len(xs)), key=lambda i: (sx * xs[i], sy * ys[i]))
    front, best = [], math.inf
    for i in order:
        if sy * ys[i] < best:
            front.append(i)
            best = sy * ys[i]
    return front


def _pick_columns(df, x: str | None, y: str | None) -> tuple[str, str]:
    """The columns of a Pareto plot: given ones, else a cost-like column that varies against the
    throughput. Sweep stores hold ``param.*`` inputs and estimate outputs; a column that is the
    same for every point makes no front, so only varying ones are picked."""
    numeric = [c for c in df.columns if str(df[c].dtype).startswith(("int", "float")) and c not in ("index",)]
    varying = [c for c in numeric if df[c].nunique(dropna=True) > 1]
    xs = ("devices", "system.devices", "param.system.devices", "cost_usd_per_step", "power_w", "price_usd",
          "energy_j_per_step", "memory.per_device_bytes")
    ys = ("samples_per_s", "tokens_per_s", "mfu")
    params = [c for c in varying if c.startswith("param.")]
    y = y or next((c for c in ys if c in varying), next((c for c in ys if c in numeric), None))
    x = x or next((c for c in xs if c in varying and c != y), None) or next(
        (c for c in params + varying if c != y), None)
    if x is None or y is None:
        from ..errors import SpecError

        raise SpecError("plot", "a Pareto plot needs two numeric columns")
    return x, y


def figure_sweep(df, x: str | None = None, y: str | None = None):
    """All sweep points of two numeric columns, with the Pareto front drawn through the best."""
    plt = _plt()
    x, y = _pick_columns(df, x, y)
    d = df[[x, y]].dropna()
    xs, ys = d[x].astype(float).tolist(), d[y].astype(float).tolist()
    # Points that do not fit in memory are drawn but never make the front.
    fits = (df.loc[d.index, "memory.fits"].astype(bool).tolist() if "memory.fits" in df.columns
            else [True] * len(xs))
    ok = [i for i, f in enumerate(fits) if f]
    sub = pareto_front([xs[i] for i in ok], [ys[i] for i in ok], x_low=lower_is_better(x), y_low=lower_is_better(y))
    front = [ok[i] for i in sub]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([xs[i] for i in ok], [ys[i] for i in ok], s=14, color="#AAAAAA", label=f"points ({len(ok)})")
    if len(ok) < len(xs):
        bad = [i for i, f in enumerate(fits) if not f]
        ax.scatter([xs[i] for i in bad], [ys[i] for i in bad], s=14, marker="x", color="#C44E52",
                   label=f"does not fit ({len(bad)})")
    ax.plot([xs[i] for i in front], [ys[i] for i in front], "o-", color="#C44E52", label="Pareto front")
    for ax_set, col, vals in ((ax.set_xscale, x, xs), (ax.set_yscale, y, ys)):
        if vals and min(vals) > 0 and max(vals) / min(vals) > 50:
            ax_set("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    better = f"{'lower' if lower_is_better(x) else 'higher'} {x}, {'lower' if lower_is_better(y) else 'higher'} {y}"
    ax.set_title(f"Sweep: Pareto front ({better} is better)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


_DEVICE_COLUMNS = ("devices", "system.devices", "param.system.devices")


def sweep_scaling_points(df) -> list[dict]:
    """Best fitting point per device count of a sweep that varies the device count (else [])."""
    col = next((c for c in _DEVICE_COLUMNS if c in df.columns and df[c].nunique(dropna=True) > 1), None)
    if col is None or "samples_per_s" not in df.columns:
        return []
    d = df[df["memory.fits"].astype(bool)] if "memory.fits" in df.columns else df
    d = d.dropna(subset=[col, "samples_per_s"])
    pts = []
    for dev, group in d.groupby(col):
        best = group.loc[group["samples_per_s"].idxmax()]
        pts.append({"devices": int(dev), "samples_per_s": float(best["samples_per_s"]),
                    "mfu": float(best["mfu"]) if "mfu" in group.columns else None})
    return pts if len(pts) > 1 else []


def plot_sweep(df, directory: str | Path, x: str | None = None, y: str | None = None, *,
               force: bool = False) -> list[Path]:
    """The Pareto front of two columns; and, when the sweep varies the device count, the scaling
    curve of its best point per count."""
    paths = _save_all(figure_sweep(df, x, y), directory, "sweep_pareto", force)
    pts = sweep_scaling_points(df)
    if pts:
        paths += plot_scaling(pts, directory, force=force)
    return paths


# ---------------------------------------------------------------- scaling
def _get(p, key: str, default=None):
    return p.get(key, default) if isinstance(p, dict) else getattr(p, key, default)


def figure_scaling(points: Iterable):
    """Devices vs throughput (left axis, with ideal linear scaling) and MFU (right axis)."""
    plt = _plt()
    pts = sorted(points, key=lambda p: _get(p, "devices", 0))
    dev = [_get(p, "devices") for p in pts]
    thr = [_get(p, "samples_per_s") for p in pts]
    mfu = [_get(p, "mfu") for p in pts]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(dev, thr, "o-", color="#4C72B0", label="samples/s")
    if dev and thr and dev[0]:
        ax.plot(dev, [thr[0] * d / dev[0] for d in dev], "--", color="#4C72B0", alpha=0.5, label="linear scaling")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("devices")
    ax.set_ylabel("samples per second")
    ax2 = ax.twinx()
    ax2.plot(dev, mfu, "s-", color="#DD8452", label="MFU")
    ax2.set_ylabel("MFU")
    ax2.set_ylim(0, max([m for m in mfu if m is not None] + [0.01]) * 1.3)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper left")
    ax.set_title("Scaling")
    fig.tight_layout()
    return fig


def plot_scaling(points: Iterable, directory: str | Path, *, force: bool = False) -> list[Path]:
    return _save_all(figure_scaling(points), directory, "scaling", force)


# ---------------------------------------------------------------- compare
COMPARE_PANELS = (("samples_per_s", "samples per second"), ("mfu", "MFU"),
                  ("energy_j_per_sample", "energy per sample (J)"), ("cost_usd_per_sample", "cost per sample (USD)"))


def figure_compare(rows: Sequence[dict]):
    """One panel per figure of merit, one bar per system (rows as `compare.compare` returns them)."""
    plt = _plt()
    # A system whose split does not fit in memory keeps its bars (the times assume it did), hatched
    # and labelled, so nobody reads them as an achievable result.
    names = [(r["label"] if r.get("label") else r["system"]) + ("\n(does not fit)" if r.get("fits") is False else "")
             for r in rows]
    fig, axes = plt.subplots(1, len(COMPARE_PANELS), figsize=(3.2 * len(COMPARE_PANELS), 3.4))
    palette = ["#C44E52", "#4C72B0", "#55A868", "#8172B3", "#DD8452", "#937860"]
    for ax, (key, title) in zip(axes, COMPARE_PANELS):
        vals = [r.get(key) for r in rows]
        bars = ax.bar(range(len(rows)), [v if v is not None else 0.0 for v in vals],
                      color=[palette[i % len(palette)] for i in range(len(rows))])
        for bar, r in zip(bars, rows):
            if r.get("fits") is False:
                bar.set_hatch("//")
                bar.set_alpha(0.5)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
        for i, v in enumerate(vals):
            if v is None:
                ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=8)
    norm = rows[0].get("normalize") if rows else None
    fig.suptitle(f"Comparison at equal {norm}" if norm else "Comparison", fontsize=10)
    fig.tight_layout()
    return fig


def plot_compare(rows: Sequence[dict], directory: str | Path, *, force: bool = False) -> list[Path]:
    paths = _save_all(figure_compare(rows), directory, "compare", force)
    ests = [r["estimate"] for r in rows if isinstance(r.get("estimate"), Estimate)]
    if ests:
        paths += _save_all(figure_breakdown(ests, [r.get("label") or r["system"] for r in rows if
                                                   isinstance(r.get("estimate"), Estimate)]),
                           directory, "compare_breakdown", force)
    return paths
