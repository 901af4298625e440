"""Plots of a build-out plan: capacity by vendor, power against caps, spend, storage, frontier.

Each ``figure_*`` returns a matplotlib Figure; `plot_buildout` saves them (PNG + SVG) and returns
the paths. A series that rests on an assumed figure says so in its legend or title:
"≈ … (assumed)", as tables do.
"""
from __future__ import annotations

from pathlib import Path

from .plots import _plt, _save_all

VENDOR_COLORS = {"NVIDIA": "#76B900", "Tesla": "#CC0000", "Google": "#4285F4", "other": "#999999"}


def _mark(label: str, assumed: bool) -> str:
    return f"≈ {label} (assumed)" if assumed else label


def _any(result: dict, key: str) -> bool:
    return any(key in r["assumed"] for r in result["quarters"])


def _x(result: dict) -> list[float]:
    return [r["year"] for r in result["quarters"]]


def _steps(result: dict, ys: list[float]) -> tuple[list[float], list[float]]:
    """Step series that also cover the last quarter (one more point at its end)."""
    x = _x(result)
    return x + [x[-1] + 0.25], list(ys) + [ys[-1]]


def figure_capacity(result: dict):
    """Stacked peak EFLOP/s by vendor, and mix-weighted H100-equivalents by vendor."""
    plt = _plt()
    rows = result["quarters"]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    vendors = result["vendors"]
    colors = [VENDOR_COLORS.get(v, "#999999") for v in vendors]
    xs = _steps(result, [0.0] * len(rows))[0]
    a1.stackplot(xs, *[_steps(result, [r["peak_flops"][v] / 1e18 for r in rows])[1] for v in vendors],
                 labels=vendors, colors=colors, step="post")
    a1.set_ylabel(f"peak EFLOP/s ({result['precision']})")
    a1.set_title(_mark("installed peak by vendor", _any(result, "peak_flops")))
    a1.legend(loc="upper left")
    eq = [_steps(result, [r["share_by_h100_eq"][v] * r["h100_eq_mix"] for r in rows])[1] for v in vendors]
    a2.stackplot(xs, *eq, labels=vendors, colors=colors, step="post")
    a2.set_ylabel("H100-equivalents (workload mix)")
    a2.set_title(_mark("throughput by vendor, in H100-equivalents of the plan's workload mix",
                       _any(result, "h100_eq")))
    a2.set_xlabel("year")
    fig.tight_layout()
    return fig


def figure_power(result: dict):
    """Facility power per site against its cap."""
    plt = _plt()
    rows = result["quarters"]
    fig, ax = plt.subplots(figsize=(9, 4))
    for i, site in enumerate(rows[0]["sites"]):
        color = f"C{i}"
        ax.step(*_steps(result, [r["sites"][site]["facility_w"] / 1e6 for r in rows]), where="post", color=color,
                label=_mark(f"{site}: drawn (IT x PUE)", _any(result, "power")))
        ax.step(*_steps(result, [r["sites"][site]["cap_w"] / 1e6 for r in rows]), where="post", color=color,
                linestyle="--", label=_mark(f"{site}: cap", rows[0]["sites"][site]["cap_assumed"]))
    ax.set_ylabel("MW")
    ax.set_xlabel("year")
    ax.set_title("power against the sites' caps")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def figure_spend(result: dict):
    """Capex and opex per quarter (bars) and cumulative spend (line)."""
    plt = _plt()
    x, rows = _x(result), result["quarters"]
    fig, ax = plt.subplots(figsize=(9, 4))
    capex = [r["capex_usd"] / 1e9 for r in rows]
    opex = [r["opex_usd"] / 1e9 for r in rows]
    ax.bar(x, capex, width=0.2, align="edge", label=_mark("capex", _any(result, "capex")))
    ax.bar(x, opex, width=0.2, bottom=capex, align="edge", label=_mark("opex (energy)", _any(result, "opex")))
    budgets = [(xi, r["budget_usd"] / 1e9) for xi, r in zip(x, rows) if r["budget_usd"] is not None]
    if budgets:
        ax.scatter(*zip(*budgets), marker="_", s=200, color="k", label="budget", zorder=3)
    ax.set_ylabel("USD billions per quarter")
    ax2 = ax.twinx()
    ax2.plot([xi + 0.25 for xi in x], [r["cumulative_usd"] / 1e9 for r in rows], color="C3",
             label=_mark("cumulative", _any(result, "capex") or _any(result, "opex")))
    ax2.set_ylabel("USD billions, cumulative")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    ax.set_xlabel("year")
    ax.set_title("spend")
    fig.tight_layout()
    return fig


def figure_storage(result: dict):
    """The data path: storage (p10-p90 band) and compute demand against the fleet's share."""
    plt = _plt()
    x, rows = _x(result), result["quarters"]
    d = [r["data"] for r in rows]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    a1.fill_between(x, [v["storage_bytes_p10"] / 1e15 for v in d], [v["storage_bytes_p90"] / 1e15 for v in d],
                    alpha=0.3, label="≈ p10-p90 over the assumed ranges (assumed)")
    a1.plot(x, [v["storage_bytes"] / 1e15 for v in d], label="≈ central case (assumed)")
    a1.set_ylabel("PB stored")
    a1.set_title("≈ fleet video stored: raw clips in the retention window + the curated set (assumed)")
    a1.legend(loc="upper left", fontsize=8)
    wl = d[0]["workload"]
    a2.fill_between(x, [v["demand_h100_eq_p10"] for v in d], [v["demand_h100_eq_p90"] for v in d], alpha=0.3,
                    label="≈ demand p10-p90 (assumed)")
    a2.plot(x, [v["demand_h100_eq"] for v in d], label="≈ demand, central (assumed)")
    a2.step(*_steps(result, [v["capacity_h100_eq"] for v in d]), where="post", label=f"fleet's {wl} share")
    a2.set_yscale("log")
    a2.set_ylabel(f"H100-equivalents on {wl}")
    a2.set_xlabel("year")
    a2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def figure_frontier(best: dict):
    """Best mix: the objective (and the H100-equivalents added) against the budget, labelled with
    the constraint that binds at each point."""
    plt = _plt()
    fr = best["frontier"]
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [f["budget_usd"] / 1e9 for f in fr]
    ys = [f["score"] for f in fr]
    unit = "H100-eq-quarters to the plan's end" if best["objective"] == "cumulative" else "H100-eq at the plan's end"
    ax.plot(xs, ys, marker="o", label=_mark(unit, True))
    for xi, yi, f in zip(xs, ys, fr):
        ax.annotate(f"{f['binds']}", (xi, yi), textcoords="offset points", xytext=(4, -12), fontsize=8)
    ax.set_xlabel("budget over the buying quarters, USD billions")
    ax.set_ylabel(unit)
    ax.set_title("≈ best mix: capacity against dollars, and what binds (prices assumed)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_buildout(result: dict, directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write every plot of ``result`` (and its best mix) as PNG + SVG; return the paths."""
    out = _save_all(figure_capacity(result), directory, "buildout-capacity", force)
    out += _save_all(figure_power(result), directory, "buildout-power", force)
    out += _save_all(figure_spend(result), directory, "buildout-spend", force)
    if result.get("data"):
        out += _save_all(figure_storage(result), directory, "buildout-storage", force)
    if result.get("best_mix"):
        out += _save_all(figure_frontier(result["best_mix"]), directory, "buildout-frontier", force)
    return out
