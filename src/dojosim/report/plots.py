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
    ax1.bar(list(comp), [v / 2**30 for v in comp.values()], color="#4C72B0")
    ax1.set_ylabel("GiB per device")
    ax1.set_title("Memory by component")
    ax1.tick_params(axis="x", rotation=30)
    tiers = est.memory.tiers
    names = list(tiers)
    used = [tiers[t].get("used", 0.0) / 2**30 for t in names]
    cap = [tiers[t].get("capacity", 0.0) / 2**30 for t in names]
    ax2.bar(names, cap, color="#DDDDDD", label="capacity")
    ax2.bar(names, used, color=["#55A868" if u <= c else "#C44E52" for u, c in zip(used, cap)], width=0.5,
            label="used")
    ax2.set_ylabel("GiB per device")
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
    # One bar per row, at its rank: labels are distinct (`Strategy.label`), and the rank in front
    # keeps them so even for equal splits, so no two rows share a bar.
    labels = [f"{i + 1}. {c.strategy.label()}" for i, c in enumerate(cands)]
    est = [c.estimate for c in cands]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * max(1, len(cands))))
    ax.barh(range(len(cands)), [e.samples_per_s for e in est],
            color=["#4C72B0" if e.memory.fits else "#C44E52" for e in est])
    ax.set_yticks(range(len(cands)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("samples per second")
    ax.set_title(f"Search: {len(cands)} best splits (red = does not fit)")
    ax2 = ax.twiny()
    gib = [e.memory.per_device_bytes / 2**30 for e in est]
    ax2.plot(gib, range(len(est)), "o", color="#DD8452", label="memory per device")
    ax2.set_xlabel("GiB per device", color="#DD8452")
    ax2.set_xlim(0, max(gib + [1e-9]) * 1.1)
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


_AXIS_LABELS = {
    "samples_per_s": "samples per second", "tokens_per_s": "tokens per second", "mfu": "MFU",
    "step_time_s": "step time (s)", "energy_j_per_step": "energy per step (J)", "power_w": "power (W)",
    "cost_usd_per_step": "cost per step ($)", "price_usd": "price ($)",
    "memory.per_device_bytes": "memory per device (bytes)", "devices": "devices",
}


def column_label(column: str) -> str:
    """A column of a sweep store as people read it: 'param.system.levels[tile].link_bandwidth' ->
    'tile link bandwidth'; 'energy_j_per_step' -> 'energy per step (J)'."""
    if column in _AXIS_LABELS:
        return _AXIS_LABELS[column]
    words = []
    segs = column.removeprefix("param.").split(".")
    for k, seg in enumerate(segs):
        base, _, index = seg.partition("[")
        index = index.rstrip("]")
        if index and not index.isdigit():
            words.append(index)  # a level's name: 'tile'
        if k == len(segs) - 1:
            words.append(base.removesuffix("_bytes").replace("_", " "))
        elif base not in ("system", "workload", "strategy", "levels", "chip"):  # the path's plumbing
            words.append(base.removesuffix("s").replace("_", " "))
    return " ".join(w for w in words if w)


def _value_text(column: str, value) -> str:
    from .. import units

    if isinstance(value, float) and "bandwidth" in column:
        return units.format(value, "bandwidth", 3)
    if isinstance(value, float) and "bytes" in column:
        return units.format(value, "bytes", 3)
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def sweep_groups(df, x: str, y: str) -> tuple[list[str], list[str]]:
    """(workload columns that split the points into model sizes, other swept columns). A front
    only compares points of one model: a bigger model is slower, not a worse design."""
    swept = [c for c in df.columns if str(c).startswith("param.") and df[c].nunique(dropna=True) > 1
             and c not in (x, y)]
    return [c for c in swept if c.startswith("param.workload.")], [c for c in swept if not c.startswith("param.workload.")]


def figure_sweep(df, x: str | None = None, y: str | None = None):
    """The sweep's points of two columns with a Pareto front per model size; each front point is
    labelled with the swept parameters that are not on an axis."""
    plt = _plt()
    x, y = _pick_columns(df, x, y)
    d = df.dropna(subset=[x, y])
    size_cols, other_cols = sweep_groups(d, x, y)
    fits_all = d["memory.fits"].astype(bool) if "memory.fits" in d.columns else None
    groups = list(d.groupby(size_cols, sort=True)) if size_cols else [((), d)]
    fig, ax = plt.subplots(figsize=(8, 5))
    xs_all, ys_all = d[x].astype(float).tolist(), d[y].astype(float).tolist()
    for i, (key, g) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{column_label(c)} {_value_text(c, v)}" for c, v in zip(size_cols, key)) or "points"
        colour = f"C{i}"
        fits = fits_all.loc[g.index].tolist() if fits_all is not None else [True] * len(g)
        gx, gy = g[x].astype(float).tolist(), g[y].astype(float).tolist()
        ok = [j for j, f in enumerate(fits) if f]
        ax.scatter([gx[j] for j in ok], [gy[j] for j in ok], s=12, color=colour, alpha=0.35)
        bad = [j for j, f in enumerate(fits) if not f]
        if bad:  # drawn, but never on a front
            ax.scatter([gx[j] for j in bad], [gy[j] for j in bad], s=14, marker="x", color=colour, alpha=0.6)
        sub = pareto_front([gx[j] for j in ok], [gy[j] for j in ok], x_low=lower_is_better(x),
                           y_low=lower_is_better(y))
        front = [ok[j] for j in sub]
        ax.plot([gx[j] for j in front], [gy[j] for j in front], "o-", color=colour, ms=4,
                label=f"{name}: front of {len(ok)} that fit" + (f", {len(bad)} do not (x)" if bad else ""))
        rows = g.iloc[front]
        for j, (_, r) in zip(front, rows.iterrows()):
            text = ", ".join(f"{column_label(c)} {_value_text(c, r[c])}" for c in other_cols)
            if text:
                ax.annotate(text, (gx[j], gy[j]), fontsize=6, xytext=(3, 3), textcoords="offset points",
                            color=colour)
    for ax_set, vals in ((ax.set_xscale, xs_all), (ax.set_yscale, ys_all)):
        if vals and min(vals) > 0 and max(vals) / min(vals) > 50:
            ax_set("log")
    ax.set_xlabel(column_label(x))
    ax.set_ylabel(column_label(y))
    better = (f"{'lower' if lower_is_better(x) else 'higher'} {column_label(x)} and "
              f"{'lower' if lower_is_better(y) else 'higher'} {column_label(y)} are better")
    swept = ", ".join(column_label(c) for c in size_cols + other_cols)
    ax.set_title(f"Sweep: Pareto front per model ({better})" + (f"\nswept: {swept}" if swept else ""), fontsize=9)
    ax.legend(fontsize=7)
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
