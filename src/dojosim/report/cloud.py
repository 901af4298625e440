"""Pictures and an HTML section of a simulated cloud: utilization and queue over time, the
wait-time CDF, and an occupancy map of the machine at one moment (who holds which grain)."""
from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from .. import units


def _series(times, values, bins: int = 400):
    """Step series resampled onto ``bins`` points (time-weighted means), for plotting."""
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    if len(t) < 2:
        return t, v
    edges = np.linspace(t[0], t[-1], bins + 1)
    nxt = np.append(t[1:], t[-1])
    out = np.zeros(bins)
    for k in range(bins):
        lo = np.clip(t, edges[k], edges[k + 1])
        hi = np.clip(nxt, edges[k], edges[k + 1])
        w = hi - lo
        out[k] = (v * w).sum() / max(w.sum(), 1e-12)
    return (edges[:-1] + edges[1:]) / 2, out


def figure_utilization(runs):
    from .plots import _plt

    plt = _plt()
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 5.2), sharex=True)
    for run in runs:
        sim, pool = run.sim, run.pool
        t, u = _series(sim.times, [x / pool.units for x in sim.busy])
        label = f"{run.summary['system']} ({pool.units:,} {pool.grain_name}s)"
        a.plot(t / 3600, u * 100, label=label, lw=1)
        t, q = _series(sim.times, sim.queue)
        b.plot(t / 3600, q, label=label, lw=1)
    a.set_ylabel("utilization (%)")
    a.set_ylim(0, 105)
    a.legend(fontsize=8, loc="lower right")
    b.set_ylabel("jobs waiting")
    b.set_xlabel("time (hours)")
    fig.tight_layout()
    return fig


def figure_wait_cdf(runs, jobs):
    from .plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in runs:
        sim = run.sim
        w = np.sort([max(sim.start[j.index] - j.arrival, 1.0) for j in jobs if sim.start[j.index] is not None])
        if len(w):
            ax.step(w / 60, np.arange(1, len(w) + 1) / len(w) * 100, where="post", label=run.summary["system"])
    ax.set_xscale("log")
    ax.set_xlabel("wait (minutes; waits under 1 s drawn at 1 s)")
    ax.set_ylabel("jobs (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=.3)
    fig.tight_layout()
    return fig


def occupancy_grid(run):
    """(grid of job ids, -1 free, NaN padding; block rows; block cols) laid out block by block."""
    pool, snap = run.pool, run.sim.snapshot or [-1] * run.pool.units
    if pool.kind == "dojo":
        br, bc, nblocks = pool.rows, pool.cols, pool.blocks
    else:
        per = pool.group_units
        bc = 8 if per % 8 == 0 else per
        br = math.ceil(per / bc)
        nblocks = pool.groups
    across = max(1, min(nblocks, int(math.ceil(math.sqrt(nblocks * br / bc * 1.6)))))
    down = math.ceil(nblocks / across)
    grid = np.full((down * (br + 1), across * (bc + 1)), np.nan)
    size = br * bc if pool.kind == "dojo" else pool.group_units
    for b in range(nblocks):
        r0, c0 = (b // across) * (br + 1), (b % across) * (bc + 1)
        for i in range(size):
            cell = b * size + i
            if cell >= pool.units:
                break
            grid[r0 + i // bc, c0 + i % bc] = snap[cell]
    return grid


def figure_occupancy(run):
    from .plots import _plt

    plt = _plt()
    grid = occupancy_grid(run)
    shown = np.where(np.isnan(grid), np.nan, np.where(grid < 0, -1, (grid * 7919) % 997))
    fig, ax = plt.subplots(figsize=(8, max(2.5, 8 * grid.shape[0] / max(grid.shape[1], 1))))
    from matplotlib.colors import ListedColormap

    base = plt.get_cmap("tab20")
    # tab20's two greys (14, 15) would read as the gaps between blocks; leave them out
    cmap = ListedColormap([base(i) for i in range(20) if i not in (14, 15)]).with_extremes(
        under="white", bad="#444444")
    ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=0, vmax=997, interpolation="nearest")
    pool = run.pool
    busy = sum(1 for x in (run.sim.snapshot or []) if x >= 0)
    what = (f"{pool.rows}x{pool.cols}-tile meshes" if pool.kind == "dojo"
            else f"{'leaf groups' if pool.kind == 'gpu' else 'pods'} of {pool.group_units} {pool.grain_name}s")
    ax.set_title(f"{run.summary['system']} at {units.format_time(run.sim.snapshot_time or 0)}: "
                 f"{busy:,} of {pool.units:,} {pool.grain_name}s busy; one colour per job, white free\n"
                 f"({what}, dark between)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def write_plots(result: dict, folder: str | Path, *, force: bool = False) -> list[Path]:
    """utilization.png, wait-cdf.png and occupancy-<kind>.png (+ SVG) into ``folder``."""
    from .plots import _save_all

    runs, jobs = result["runs"], result["jobs"]
    out = []
    out += _save_all(figure_utilization(runs), folder, "cloud-utilization", force)
    out += _save_all(figure_wait_cdf(runs, jobs), folder, "cloud-wait-cdf", force)
    for run in runs:
        out += _save_all(figure_occupancy(run), folder, f"cloud-occupancy-{run.pool.kind}", force)
    return out


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def rows(result: dict) -> list[dict]:
    """One row per system: the side-by-side figures, in display units."""
    out = []
    for run in result["runs"]:
        s = run.summary
        gc = s.get("gpu_cloud") or {}
        out.append({
            "system": s["system"], "size": f"{s['grains']:,} {s['grain']}s", "power": units.format(s["power_w"], "power"),
            "utilization": f"{s['utilization']:.1%}", "fragmentation": f"{s['fragmentation']:.1%}",
            "held": f"{s['held_by_policy']:.1%}",
            "wait p50": _t(s["wait_p50_s"]), "wait p99": _t(s["wait_p99_s"]),
            "jobs/day": f"{s['jobs_per_day']:,.0f}",
            "cost/grain-h": _usd(s.get("cost_usd_per_grain_hour")),
            "break-even/grain-h": _usd(gc.get("break_even_usd_per_grain_hour")) + " ≈ (assumed)" if gc else "n/a",
            "break-even range": ("–".join(_usd(x) for x in gc["break_even_range"])) if gc else "n/a",
        })
    return out


def _t(s) -> str:
    return units.format_time(s) if s is not None else "n/a"


def _usd(x) -> str:
    return f"${x:,.2f}" if x is not None and math.isfinite(x) else "n/a"


def cloud_section(result: dict) -> str:
    """The HTML report's section on a simulated cloud (a table and the figures)."""
    from .html import _figure, _table

    rs = rows(result)
    head = list(rs[0]) if rs else []
    body = [[_e(r[k]) for k in head] for r in rs]
    gc = (result["runs"][0].summary.get("gpu_cloud") or {}) if result["runs"] else {}
    parts = ["<h2>Many tenants on one machine</h2>",
             f'<p class="sub">{len(result["jobs"]):,} jobs, policy {_e(result["policy"])}; each job runs for the '
             f"time the estimate gives on the partition it received. Break-even: the price per grain-hour at "
             f"which the stream costs what it costs on {_e(gc.get('name', 'a GPU cloud'))} "
             f"(${gc.get('usd_per_hour', 0):,.2f}/h ≈ (assumed): {_e(gc.get('source', ''))}).</p>",
             _table(head, body),
             _figure(figure_utilization(result["runs"]), "Utilization and queue length over time"),
             _figure(figure_wait_cdf(result["runs"], result["jobs"]), "Wait-time CDF")]
    for run in result["runs"]:
        parts.append(_figure(figure_occupancy(run), f"Occupancy of {run.summary['system']}"))
    return "\n".join(parts)


def render_cloud_report(result: dict, title: str = "dojosim cloud") -> str:
    from .html import _CSS, _SCRIPT

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n<h1>{_e(title)}</h1>\n"
            + cloud_section(result) + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")
