"""`dojosim buildout PLAN.yaml`: a quarterly build-out plan, its data path and the best mix."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from ._app import JSON_OPTION, app, console, emit_json

ASSUMED_NOTE = "≈ = rests on an assumed figure (a preset estimate or a plan range); --json lists them all."


def _m(text: str, assumed: bool) -> str:
    return f"≈{text}" if assumed else text


def _table(title: str, cols: list[str], left: tuple[str, ...] = ()) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), title_justify="left")
    for c in cols:
        t.add_column(c, justify="left" if c in left else "right", no_wrap=True)
    return t


def _sig(v: float, n: int = 2) -> str:
    """``v`` to ``n`` significant digits without an exponent: 5300 -> "5,300", 0.123 -> "0.12"."""
    import math

    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    r = float(f"{v:.{n}g}")
    return f"{r:,.{max(0, n - 1 - math.floor(math.log10(abs(r))))}f}"


def _short(v: float, dim: str) -> str:
    """3 significant digits, no space: "$2.01B", "10.7kW" (rounded first, so $999.5M reads $1B)."""
    from ..units import format as fmt

    if v == 0:
        return "$0" if dim == "money" else "0"
    return fmt(float(f"{v:.3g}"), dim, 3).replace(" ", "")


def print_types(result: dict) -> None:
    wls = result["workloads"]
    t = _table("system types (per unit = one copy of the preset)",
               ["type", "vendor", "dev/unit", "price", "power"] + [f"{w[:9]} eq" for w in wls], left=("type", "vendor"))
    for name, ty in result["types"].items():
        t.add_row(name[:14], ty["vendor"], f"{ty['devices_per_unit']:,}",
                  _m(_short(ty["price_usd_per_unit"], "money"), "price" in ty["assumed"]),
                  _m(_short(ty["power_w_per_unit"], "power"), "power" in ty["assumed"]),
                  *(f"{ty['h100_eq_per_device'][w] * ty['devices_per_unit']:,.2f}" for w in wls))
    console.print(t)
    ref = result["reference"]
    for w, r in ref.items():
        console.print(f"1 H100-eq on {w} = {r['samples_per_s_per_device']:.4g} clips/s: one {r['preset']} device's "
                      f"share of a {r['island']:,}-device island ({r['split']}).", markup=False)


def print_quarters(result: dict) -> None:
    rows, vendors = result["quarters"], result["vendors"]
    t = _table(f"capacity by quarter (peak EFLOP/s in {result['precision']}; H100-eq of the workload mix)",
               ["quarter"] + [f"{v[:8]} EF" for v in vendors] + ["H100-eq", "Tesla share"] if "Tesla" in vendors
               else ["quarter"] + [f"{v[:8]} EF" for v in vendors] + ["H100-eq"], left=("quarter",))
    for r in rows:
        pk, eq = "peak_flops" in r["assumed"], "h100_eq" in r["assumed"]
        cells = [r["quarter"]] + [_m(f"{r['peak_flops'][v] / 1e18:,.2f}", pk) for v in vendors]
        cells.append(_m(f"{r['h100_eq_mix']:,.0f}", eq))
        if "Tesla" in vendors:
            cells.append(_m(f"{r['share_by_peak']['Tesla']:.0%}/{r['share_by_h100_eq']['Tesla']:.0%}", pk or eq))
        t.add_row(*cells)
    console.print(t)
    if "Tesla" in vendors:
        console.print("Tesla share: of the peak / of the H100-equivalents.")
    m = _table("power and money by quarter", ["quarter", "MW used", "MW cap", "capex", "opex", "spent", "budget",
                                               "flags"], left=("quarter", "flags"))
    for r in rows:
        cap = sum(s["cap_w"] for s in r["sites"].values())
        flags = ",".join(f for f, on in (("over-cap", any(s["over_cap"] for s in r["sites"].values())),
                                         ("over-budget", r["over_budget"])) if on) or "-"
        m.add_row(r["quarter"], _m(f"{r['power_w'] / 1e6:,.1f}", "power" in r["assumed"]), f"{cap / 1e6:,.0f}",
                  _m(_short(r["capex_usd"], "money"), "capex" in r["assumed"]),
                  _m(_short(r["opex_usd"], "money"), "opex" in r["assumed"]),
                  _m(_short(r["cumulative_usd"], "money"), "capex" in r["assumed"] or "opex" in r["assumed"]),
                  _short(r["budget_usd"], "money") if r["budget_usd"] is not None else "-", flags)
    console.print(m)


def print_data(result: dict) -> None:
    rows = result["quarters"]
    wl = rows[0]["data"]["workload"]
    t = _table(f"≈ data path, all assumed (p10-p90): compute for {wl} vs the fleet's share",
               ["quarter", "cars", "ingest", "PB stored", "need H100-eq", "have", "met"], left=("quarter",))
    for r in rows:
        d = r["data"]
        t.add_row(r["quarter"], f"≈{_sig(d['cars'] / 1e6)}M", f"≈{_short(d['ingest_bandwidth'], 'bandwidth')}",
                  f"≈{_sig(d['storage_bytes'] / 1e15)} ({_sig(d['storage_bytes_p10'] / 1e15)}-"
                  f"{_sig(d['storage_bytes_p90'] / 1e15)})",
                  f"≈{_sig(d['demand_h100_eq'])} ({_sig(d['demand_h100_eq_p10'])}-{_sig(d['demand_h100_eq_p90'])})",
                  f"{d['capacity_h100_eq']:,.0f}", "yes" if d["met_p90"] else ("p50" if d["met"] else "no"))
    console.print(t)
    console.print("met: yes = even the p90 demand is met; p50 = the central case only; no = not met.")


def print_best_mix(best: dict) -> None:
    t = _table(f"best mix ({best['objective']} H100-eq of the workload mix; "
               f"{'within ' + format(best['gap'], '.2%') + ' of the bound' if best['gap'] > 0 else 'optimal'})",
               ["quarter", "system", "site", "units", "capex"], left=("quarter", "system", "site"))
    for b in best["buys"]:
        t.add_row(b["quarter"], b["system"][:16], b["site"][:12], f"{b['units']:,}", _short(b["capex_usd"], "money"))
    console.print(t)
    console.print(f"spends {_short(best['spent_usd'], 'money')} of {_short(sum(best['budget_usd']), 'money')}; adds "
                  f"≈{best['h100_eq_added']:,.0f} H100-eq; binds: {best['binding']['main']} "
                  f"({best['status']}).", markup=False)
    f = _table("frontier: capacity against dollars", ["budget x", "budget", "spent", "H100-eq added", "binds"],
               left=("binds",))
    for r in best["frontier"]:
        f.add_row(f"{r['multiplier']:g}", _short(r["budget_usd"], "money"), _short(r["spent_usd"], "money"),
                  f"≈{r['h100_eq_added']:,.0f}", r["binds"])
    console.print(f)


@app.command("buildout")
def buildout_cmd(
    plan: Path = typer.Argument(..., help="Build-out plan (YAML): systems, sites, budgets and a quarterly timeline."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes for the engine searches (default: all cores)."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write plots (PNG + SVG) into this directory."),
) -> None:
    """A build-out plan quarter by quarter: capacity, power, money, vendor shares, data demand, best mix.

    Example: dojosim buildout PLAN.yaml --plot out/buildout
    """
    from ..plan.buildout import load_plan
    from ..plan.quarterly import run_buildout

    result = run_buildout(load_plan(plan), workers=workers)
    written = []
    if plot is not None:
        from ..report.buildout_plots import plot_buildout

        written = plot_buildout(result, plot)
    if json_:
        emit_json(result)
        return
    print_types(result)
    print_quarters(result)
    if result.get("data"):
        print_data(result)
    if result.get("best_mix"):
        print_best_mix(result["best_mix"])
    for note in result["notes"]:
        console.print(f"note: {note}", markup=False)
    console.print(ASSUMED_NOTE)
    for p in written:
        console.print(f"wrote {p}", markup=False)
