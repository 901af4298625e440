"""The tornado chart of `dojosim sensitivity`: one bar per driver from its low-end to its high-end
result, around the point figure, biggest swing on top."""
from __future__ import annotations

from pathlib import Path

from .plots import COLORS, _plt, _save_all

# Drivers shown in the chart; the table and --json carry all of them.
MAX_BARS = 15


def figure_tornado(result, top: int = MAX_BARS):
    """A matplotlib figure of the ``top`` drivers of a `plan.sensitivity.Sensitivity` (the ratio
    for a pair, else the first run's step time)."""
    plt = _plt()
    pair = result.ratio is not None
    drivers = [d for d in result.drivers if d.swing > 0][:top]
    point = result.ratio if pair else result.step_time_s
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * max(len(drivers), 1) + 1.4))
    for i, d in enumerate(reversed(drivers)):
        lo, hi = (d.ratio_low, d.ratio_high) if pair else (d.step_time_low_s, d.step_time_high_s)
        ax.barh(i, lo - point, left=point, color=COLORS["forward"], height=0.6,
                label="input at its low end" if i == 0 else None)
        ax.barh(i, hi - point, left=point, color=COLORS["backward"], height=0.6,
                label="input at its high end" if i == 0 else None)
    ax.set_yticks(range(len(drivers)))
    ax.set_yticklabels([d.name for d in reversed(drivers)], fontsize=8)
    ax.axvline(point, color="black", linewidth=0.8)
    what = (f"throughput of {result.runs[1]} / {result.runs[0]}" if pair
            else f"step time of {result.runs[0]} (s)")
    ax.set_xlabel(what)
    ax.set_title(f"sensitivity: each assumed figure alone at its low and high end (point {point:.4g})",
                 fontsize=9)
    if drivers:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_tornado(result, directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write the tornado chart as ``sensitivity.png`` and ``.svg`` into ``directory``."""
    return _save_all(figure_tornado(result), directory, "sensitivity", force)
