"""`dojosim buildout PLAN.yaml`: a quarterly build-out plan, its data path and the best mix."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from ..report.table import Col
from ._app import FORCE_OPTION, JSON_OPTION, app, approx, check_plot_dir, console, emit_json, print_table, wrote

ASSUMED_NOTE = "≈ = rests on an assumed figure (a preset estimate or a plan range); --json lists them all."


_m = approx


class _Rows:
    """Collects a table's rows, then prints it fitted to the terminal (`print_table`)."""

    def __init__(self, title: str, cols: list[str], left: tuple[str, ...] = ()):
        self.title = title
        self.cols = [Col(c, "left" if c in left else "right") for c in cols]
        self.rows: list[list[str]] = []

    def add_row(self, *cells: str) -> None:
        self.rows.append(list(cells))

    def print(self) -> None:
        print_table(self.title, self.cols, self.rows)


_table = _Rows


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
    mix = result["quarters"][-1]["mix"]
    t = _table(f"system types: one unit = one copy of the preset; H100-eq of the workload mix at "
               f"{result['quarters'][-1]['quarter']} (per workload: --json)",
               ["type", "vendor", "devices", "price", "power", "H100-eq"], left=("type", "vendor"))
    for name, ty in result["types"].items():
        eq = sum(mix[w] * ty["h100_eq_per_device"][w] for w in wls) * ty["devices_per_unit"]
        t.add_row(name[:16], ty["vendor"], f"{ty['devices_per_unit']:,}",
                  _m(_short(ty["price_usd_per_unit"], "money"), "price" in ty["assumed"]),
                  _m(_short(ty["power_w_per_unit"], "power"), "power" in ty["assumed"]), f"{eq:,.2f}")
    t.print()
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
        cells = [r["quarter"]] + [_m(f"{r['peak_flops'][v] / 1e18:,.2f}", v in r["peak_assumed_vendors"])
                                  for v in vendors]
        cells.append(_m(f"{r['h100_eq_mix']:,.0f}", eq))
        if "Tesla" in vendors:
            cells.append(_m(f"{r['share_by_peak']['Tesla']:.0%}/{r['share_by_h100_eq']['Tesla']:.0%}", pk or eq))
        t.add_row(*cells)
    t.print()
    if "Tesla" in vendors:
        console.print("Tesla share: of the peak / of the H100-equivalents.")
    m = _table("power and money by quarter", ["quarter", "MW used", "MW cap", "capex", "opex", "spent", "budget",
                                               "flags"], left=("quarter", "flags"))
    for r in rows:
        cap = sum(s["cap_w"] for s in r["sites"].values())
        flags = ",".join(f for f, on in (("over-cap", any(s["over_cap"] for s in r["sites"].values())),
                                         ("over-budget", r["over_budget"])) if on) or "-"
        m.add_row(r["quarter"], _m(f"{r['power_w'] / 1e6:,.1f}", "power" in r["assumed"]),
                  _m(f"{cap / 1e6:,.0f}", any(s["cap_assumed"] for s in r["sites"].values())),
                  _m(_short(r["capex_usd"], "money"), "capex" in r["assumed"]),
                  _m(_short(r["opex_usd"], "money"), "opex" in r["assumed"]),
                  _m(_short(r["cumulative_usd"], "money"), "capex" in r["assumed"] or "opex" in r["assumed"]),
                  _short(r["budget_usd"], "money") if r["budget_usd"] is not None else "-", flags)
    m.print()
    last = rows[-1]["ranges"]
    parts = []
    if "h100_eq_mix" in last:
        parts.append(f"{last['h100_eq_mix'][0]:,.0f}-{last['h100_eq_mix'][1]:,.0f} H100-eq (engine's ranges)")
    if last["power_w"][0] != last["power_w"][1] or last["cumulative_usd"][0] != last["cumulative_usd"][1]:
        parts.append(f"{last['power_w'][0] / 1e6:,.1f}-{last['power_w'][1] / 1e6:,.1f} MW used, spent "
                     f"{_short(last['cumulative_usd'][0], 'money')}-{_short(last['cumulative_usd'][1], 'money')}")
    if parts:
        console.print(f"≈ p10-p90 over the assumed ranges, {rows[-1]['quarter']}: " + "; ".join(parts) + ".",
                      markup=False)


def print_data(result: dict) -> None:
    rows = result["quarters"]
    wl = rows[0]["data"]["workload"]
    t = _table("≈ fleet video (assumed figures; range = p10-p90 over the assumed ranges)",
               ["quarter", "cars", "ingest", "PB stored", "≈ range"], left=("quarter",))
    c = _table(f"≈ compute the video needs on {wl}, in H100-eq, vs the fleet's {wl} share",
               ["quarter", "needed", "≈ range", "have", "met"], left=("quarter",))
    for r in rows:
        d = r["data"]
        t.add_row(r["quarter"], f"≈ {_sig(d['cars'] / 1e6)}M", f"≈ {_short(d['ingest_bandwidth'], 'bandwidth')}",
                  f"≈ {_sig(d['storage_bytes'] / 1e15)}",
                  f"{_sig(d['storage_bytes_p10'] / 1e15)}-{_sig(d['storage_bytes_p90'] / 1e15)}")
        c.add_row(r["quarter"], f"≈ {_sig(d['demand_h100_eq'])}",
                  f"{_sig(d['demand_h100_eq_p10'])}-{_sig(d['demand_h100_eq_p90'])}",
                  f"{d['capacity_h100_eq']:,.0f}", "yes" if d["met_p90"] else ("p50" if d["met"] else "no"))
    t.print()
    c.print()
    console.print("met: yes = even the p90 demand is met; p50 = the central case only; no = not met.")


def print_best_mix(best: dict) -> None:
    t = _table(f"best mix ({best['objective']} H100-eq of the workload mix; "
               f"{'within ' + format(best['gap'], '.2%') + ' of the bound' if best['gap'] > 0 else 'optimal'})",
               ["quarter", "system", "site", "units", "capex"], left=("quarter", "system", "site"))
    for b in best["buys"]:
        t.add_row(b["quarter"], b["system"][:16], b["site"][:12], f"{b['units']:,}", _short(b["capex_usd"], "money"))
    t.print()
    console.print(f"spends {_short(best['spent_usd'], 'money')} of {_short(sum(best['budget_usd']), 'money')}; adds "
                  f"≈ {best['h100_eq_added']:,.0f} H100-eq; binds: {best['binding']['main']} "
                  f"({best['status']}).", markup=False)
    unit = "H100-eq-quarters" if best["objective"] == "cumulative" else "H100-eq at the end"
    f = _table(f"frontier: capacity against dollars (objective: {unit})",
               ["budget x", "budget", "spent", "objective", "H100-eq at end", "binds"], left=("binds",))
    for r in best["frontier"]:
        f.add_row(f"{r['multiplier']:g}", _short(r["budget_usd"], "money"), _short(r["spent_usd"], "money"),
                  f"≈ {r['score']:,.0f}", f"≈ {r['h100_eq_added']:,.0f}", r["binds"])
    f.print()


@app.command("buildout")
def buildout_cmd(
    plan: Path = typer.Argument(..., help="Build-out plan (YAML): systems, sites, budgets and a quarterly timeline."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes for the engine searches (default: all cores)."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write plots (PNG + SVG) into this directory."),
    cache: Path = typer.Option(Path("out") / "cache", "--cache",
                               help="Keep the engine's per-device rates here between runs (rates.json)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Search every rate afresh and store nothing."),
    force: bool = FORCE_OPTION,
) -> None:
    """A build-out plan quarter by quarter: capacity, power, money, vendor shares, data demand, best mix.

    Example: dojosim buildout examples/buildout/cortex-130-500mw.yaml --plot out/buildout
    """
    from ..outfile import check_output, check_output_dir
    from ..plan.buildout import load_plan
    from ..plan.quarterly import run_buildout
    from ..plan.rates import CACHE_FILE

    check_plot_dir(plot, force)   # before the long work: a bad path fails now, not after it
    cache_dir = None if no_cache else check_output_dir(cache, force=force, what="--cache")
    if cache_dir is not None:
        check_output(cache_dir / CACHE_FILE, force=force, what="--cache")
    plan_ = load_plan(plan)
    before = (cache_dir / CACHE_FILE).stat().st_mtime_ns if cache_dir and (cache_dir / CACHE_FILE).exists() else None
    result = run_buildout(plan_, workers=workers, cache_dir=cache_dir, force=force)
    written = []
    if cache_dir and (cache_dir / CACHE_FILE).exists() and (cache_dir / CACHE_FILE).stat().st_mtime_ns != before:
        written.append(cache_dir / CACHE_FILE)
    if plot is not None:
        from ..report.buildout_plots import plot_buildout

        written = plot_buildout(result, plot, force=force) + written
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
    wrote(written)
