"""Build-out plans: a quarter-by-quarter timeline of systems, sites, budgets and workloads.

A plan file (examples/buildout/*.yaml)::

    name: cortex-2026
    start: 2024Q3                      # first quarter reported (default: the first in the timeline)
    end: 2026Q4                        # last quarter (default: the last in the timeline)
    precision: bf16                    # the dtype of the peak FLOP/s reported
    reference: h100-dgx                # what one H100-equivalent is measured on (as in `fleet`)
    workloads: {fsd: 0.6, occupancy: 0.2, auto-labeling: 0.2}   # share of the fleet's time
    electricity: {value: 0.08, source: "..."}        # USD per kWh
    load_factor: {value: 0.8, low: 0.6, high: 0.95, reason: "..."}   # average draw / nameplate
    systems:                           # system types (optional; a preset name is a type too)
      h100: {preset: h100-dgx, limit: 2000}          # limit: units per quarter, for `optimize`
      d2:   {preset: dojo-d2-tile, vendor: Tesla, price: {value: $200k, low: $80k, high: $400k, reason: "..."}}
    sites:
      - {name: cortex, pue: {value: 1.3, low: 1.1, high: 1.5, reason: "..."},
         cap: {2024Q3: 130 MW, 2026Q1: 500 MW}}
    timeline:
      - quarter: 2024Q3
        budget: $3B
        add: [{system: h100, count: 6000, site: cortex}]      # count: copies of the preset
        retire: [{system: a100, devices: 1000, site: cortex}] # or devices: accelerators
        workloads: {fsd: 0.5, auto-labeling: 0.5}             # the mix from this quarter on
    data: {...}                        # the fleet's data path (plan/fleetdata.py)
    optimize: {...}                    # the best mix for the budget (plan/mix.py)

`load_plan` checks everything that needs no engine (one-line `SpecError`s naming the field);
`plan/quarterly.py` evaluates it.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..assumptions import DEFAULT
from ..errors import SpecError
from ..yamlfile import check_mapping, read_yaml
from .figures import Figure, parse_figure, published
from .quarters import parse_quarter, quarter_name, step_series
from .rates import BUILTIN, DEFAULT_ISLAND, Workload, parse_workload

TOP_KEYS = ("name", "description", "start", "end", "precision", "reference", "island", "workloads",
            "electricity", "load_factor", "budget", "systems", "sites", "timeline", "data", "optimize")
SYSTEM_KEYS = ("preset", "vendor", "island", "price", "power", "limit")
SITE_KEYS = ("name", "pue", "cap")
ENTRY_KEYS = ("quarter", "budget", "add", "retire", "workloads", "note")
CHANGE_KEYS = ("system", "count", "devices", "site")
MAX_QUARTERS = 400            # a century of quarters bounds the work a plan can ask for
MAX_UNITS = 10**9
MAX_ISLAND = 2**16            # devices per job copy searched; larger islands make each search slow
# Who designs the chip, by the start of its name in the preset (a type may say vendor: itself).
VENDOR_PREFIXES = (("D1", "Tesla"), ("D2", "Tesla"), ("AI4", "Tesla"), ("A100", "NVIDIA"), ("H100", "NVIDIA"),
                   ("H200", "NVIDIA"), ("H800", "NVIDIA"), ("B200", "NVIDIA"), ("GB200", "NVIDIA"),
                   ("TPU", "Google"))
ELECTRICITY = published(0.08 / 3.6e6, "2023 US industrial average ~$0.08/kWh (EIA Electric Power Monthly, "
                        "Table 5.6.A), as plan/search.py", "electricity")
LOAD_FACTOR = Figure(0.8, 0.6, 0.95, True, "average draw over nameplate power of a busy training cluster; "
                     "not published for these sites", "load_factor")
PUE = Figure(1.3, 1.1, 1.5, True, "power usage effectiveness of a liquid-cooled AI hall; not published "
             "for Tesla's sites", "pue")


@dataclass
class SystemType:
    name: str
    preset: str
    vendor: str
    island: int
    chips_per_unit: int             # accelerators in one copy of the preset
    peak_per_device: float          # FLOP/s in the plan's precision (or the chip's highest)
    price_per_unit: Figure          # USD per copy, network share included (the island's price pro rata)
    power_per_unit: Figure          # W per copy at the wall of the IT room (before PUE)
    limit: int | None               # units per quarter that can be delivered (optimizer bound)
    assumed: list[str] = field(default_factory=list)   # which of peak, price, power rest on assumptions
    preset_assumed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Site:
    name: str
    pue: Figure
    caps: dict[int, float]          # quarter -> facility power cap (W), in force from that quarter
    cap_figures: list[Figure] = field(default_factory=list)

    @property
    def cap_assumed(self) -> bool:
        return any(f.assumed for f in self.cap_figures)


@dataclass
class Plan:
    name: str
    description: str
    quarters: list[int]
    precision: str
    reference: str
    island: int
    workloads: dict[str, Workload]
    mix: dict[int, dict[str, float]]             # quarter -> shares in force from it
    electricity: Figure                          # USD per J
    load_factor: Figure
    types: dict[str, SystemType]
    sites: dict[str, Site]
    changes: list[dict]                          # {quarter, type, site, units (+ add / - retire), path}
    budgets: dict[int, Figure]
    data: dict | None
    optimize: dict | None
    figures: list[Figure] = field(default_factory=list)   # every plan-level input figure

    def mix_at(self, q: int) -> dict[str, float]:
        return self.mix[max(k for k in self.mix if k <= q)]


def vendor_of(chip_name: str) -> str:
    return next((v for p, v in VENDOR_PREFIXES if chip_name.startswith(p)), "other")


def _positive_int(v, path: str, hi: int = MAX_UNITS) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= hi:
        raise SpecError(path, f"must be a whole number in 1..{hi:,}, got {v!r}")
    return v


@functools.lru_cache(maxsize=256)
def _preset_span(preset: str, island: int, total: str, paths: tuple[str, ...]) -> tuple[float, float]:
    """(low, high) of a system total (``price_usd`` or ``power_w``) over the ranges its preset
    gives the assumed figures in ``paths`` (`ranges.dimensions`): every figure at its low, then
    at its high. A total is those figures times positive counts, summed, so the two bound it;
    (value, value) when none carries a range."""
    from ..hardware import load_system
    from ..ranges import dimensions, draw

    system = load_system(preset, devices=island)
    dims, _ = dimensions([system])
    picked = {d.path for d in dims if d.system == 0 and d.path in paths}
    if not picked:
        value = getattr(system, total)
        return value, value
    low, high = (getattr(draw([system], dims, [u if d.system == 0 and d.path in picked else None
                                               for d in dims], DEFAULT)[1][0], total)
                 for u in (0.0, 1.0))
    value = getattr(system, total)
    return min(low, value), max(high, value)


def _system_type(name: str, raw: dict, path: str, precision: str, default_island: int,
                 preset_at: str | None = None) -> SystemType:
    """One system type; ``preset_at`` names the field an unknown preset came from (default
    ``PATH.preset``; a preset named directly in the timeline is its own field)."""
    from ..hardware import load_system
    from .fleet import _island

    check_mapping(raw, path, SYSTEM_KEYS, "{preset, vendor, island, price, power, limit}")
    preset = raw.get("preset")
    if not isinstance(preset, str) or not preset:
        raise SpecError(f"{path}.preset", "missing: name a preset (dojosim list)")
    try:
        base = load_system(preset)
    except SpecError as err:  # the loader names its own field; the plan's is this one
        raise SpecError(preset_at or f"{path}.preset", err.reason) from None
    want = _positive_int(raw["island"], f"{path}.island", MAX_ISLAND) if "island" in raw else default_island
    island = _island(preset, want, 10**9)
    try:
        isl_sys = load_system(preset, devices=island)
    except SpecError as err:
        raise err.prefixed(f"{path}.island") from None
    unit = base.chips
    peaks = base.chip.peak_flops
    notes, assumed = [], []
    dtype = precision if peaks.get(precision) else max(peaks, key=peaks.get)
    if dtype != precision:
        notes.append(f"{name}: the {base.chip.name} lists no {precision} peak; its {dtype} peak is used")
    src = isl_sys.sources
    if any(s.assumed for p, s in src.items() if p == f"chip.peak_flops.{dtype}"):
        assumed.append("peak")
    price_src = [p for p, s in src.items() if s.assumed and (p == "chip.price_usd" or "cost" in p)]
    power_src = [p for p, s in src.items() if s.assumed and (p == "chip.tdp_w" or "power" in p)]
    preset_text = f"preset {preset} ({', '.join(price_src) or 'sourced figures'})"
    def per_unit(total: str, paths: list[str]) -> tuple[float, float, float]:
        # the island's total pro rata, and its range over the preset's own ranges
        low, high = _preset_span(preset, island, total, tuple(paths))
        return tuple(x * unit / island for x in (getattr(isl_sys, total), low, high))

    price = (parse_figure(raw["price"], f"{path}.price", "money", positive=True) if "price" in raw else
             Figure(*per_unit("price_usd", price_src), bool(price_src), preset_text, f"{path}.price"))
    power = (parse_figure(raw["power"], f"{path}.power", "power", positive=True) if "power" in raw else
             Figure(*per_unit("power_w", power_src), bool(power_src),
                    f"preset {preset} ({', '.join(power_src) or 'sourced figures'})", f"{path}.power"))
    if price.assumed:
        assumed.append("price")
    if power.assumed:
        assumed.append("power")
    vendor = raw.get("vendor", vendor_of(base.chip.name))
    if not isinstance(vendor, str) or not vendor.strip():
        raise SpecError(f"{path}.vendor", f"expected a name, got {vendor!r}")
    limit = _positive_int(raw["limit"], f"{path}.limit") if "limit" in raw else None
    return SystemType(name, preset, vendor.strip(), island, unit, peaks[dtype], price, power, limit,
                      assumed, isl_sys.assumed, notes)


def _caps(raw, path: str) -> tuple[dict[int, float], list[Figure]]:
    """{quarter: W} (quarter -1: a cap given without one, in force from the start) and the figures."""
    if not isinstance(raw, dict) or set(raw) <= set(("value", "low", "high", "source", "reason")):
        raw = {None: raw}
    caps, figs = {}, []
    for k, v in raw.items():
        q = -1 if k is None else parse_quarter(k, f"{path}.{k}")
        fig = parse_figure(v, f"{path}" if k is None else f"{path}.{k}", "power")
        caps[q] = fig.value
        figs.append(fig)
    return caps, figs


def _mix(raw, workloads: dict[str, Workload], path: str) -> dict[str, float]:
    if not isinstance(raw, dict) or not raw:
        raise SpecError(path, "expected {WORKLOAD: share, ...}, e.g. {fsd: 0.7, auto-labeling: 0.3}")
    out = {}
    for name, v in raw.items():
        if name not in workloads:
            raise SpecError(f"{path}.{name}", f"unknown workload; the plan's workloads are: {', '.join(workloads)}")
        share = v.get("share") if isinstance(v, dict) else v
        out[name] = parse_figure(share, f"{path}.{name}", hi=1.0).value
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise SpecError(path, f"shares must add up to 1, got {total:g}")
    return {w: out.get(w, 0.0) for w in workloads}


def check_plan(spec, base_dir: Path | None = None) -> Plan:
    """A `Plan` from the parsed YAML, or a `SpecError` naming the first bad field."""
    check_mapping(spec, "plan", TOP_KEYS, "a mapping with systems, sites and a timeline")
    precision = spec.get("precision", "bf16")
    if not isinstance(precision, str):
        raise SpecError("plan.precision", f"expected a dtype name, got {precision!r}")
    reference = spec.get("reference", "h100-dgx")
    island = _positive_int(spec["island"], "plan.island", MAX_ISLAND) if "island" in spec else DEFAULT_ISLAND
    # workloads: definitions (built-ins or {model, ...}) and the initial mix
    wraw = spec.get("workloads", {"fsd": 1.0})
    if not isinstance(wraw, dict) or not wraw:
        raise SpecError("plan.workloads", "expected {WORKLOAD: share}, e.g. {fsd: 0.7, auto-labeling: 0.3}")
    workloads, shares = {}, {}
    for name, v in wraw.items():
        wl, share = parse_workload(str(name), v, f"plan.workloads.{name}")
        workloads[wl.name], shares[wl.name] = wl, share
    electricity = (parse_figure(spec["electricity"], "plan.electricity", positive=True) if "electricity" in spec
                   else ELECTRICITY)
    if "electricity" in spec:  # the file says USD per kWh; SI inside is USD per J
        e = electricity
        electricity = Figure(e.value / 3.6e6, e.low / 3.6e6, e.high / 3.6e6, e.assumed, e.source, e.path)
    load_factor = (parse_figure(spec["load_factor"], "plan.load_factor", hi=1.0, positive=True)
                   if "load_factor" in spec else LOAD_FACTOR)
    # system types: the named ones, and presets named directly in the timeline
    raw_types = spec.get("systems") or {}
    if not isinstance(raw_types, dict):
        raise SpecError("plan.systems", "expected {NAME: {preset, ...}}")
    types = {str(n): _system_type(str(n), v, f"plan.systems.{n}", precision, island) for n, v in raw_types.items()}
    sites = {}
    raw_sites = spec.get("sites")
    if not isinstance(raw_sites, list) or not raw_sites:
        raise SpecError("plan.sites", "expected a list of {name, pue, cap}")
    for i, s in enumerate(raw_sites):
        path = f"plan.sites[{i}]"
        check_mapping(s, path, SITE_KEYS, "{name, pue, cap}")
        name = s.get("name")
        if not isinstance(name, str) or not name or name in sites:
            raise SpecError(f"{path}.name", f"expected a unique site name, got {name!r}")
        if "cap" not in s:
            raise SpecError(f"{path}.cap", "missing: the site's power cap, e.g. 130 MW or {2024Q3: 130 MW}")
        pue = parse_figure(s["pue"], f"{path}.pue", lo=1.0) if "pue" in s else \
            Figure(PUE.value, PUE.low, PUE.high, True, PUE.source, f"{path}.pue")
        sites[name] = Site(name, pue, *_caps(s["cap"], f"{path}.cap"))
    timeline = spec.get("timeline")
    if not isinstance(timeline, list) or not timeline:
        raise SpecError("plan.timeline", "expected a list of {quarter, add, retire, budget}")
    default_budget = (parse_figure(spec["budget"], "plan.budget", "money") if "budget" in spec else None)
    changes, budgets, mix, seen = [], {}, {}, None
    for i, entry in enumerate(timeline):
        path = f"plan.timeline[{i}]"
        check_mapping(entry, path, ENTRY_KEYS, "{quarter, add, retire, budget, workloads}")
        if "quarter" not in entry:
            raise SpecError(f"{path}.quarter", "missing")
        q = parse_quarter(entry["quarter"], f"{path}.quarter")
        if seen is not None and q <= seen:
            raise SpecError(f"{path}.quarter", f"{quarter_name(q)} does not come after {quarter_name(seen)}; "
                                               "list quarters once each, in order")
        seen = q
        if "budget" in entry:
            budgets[q] = parse_figure(entry["budget"], f"{path}.budget", "money")
        if "workloads" in entry:
            mix[q] = _mix(entry["workloads"], workloads, f"{path}.workloads")
        for kind, sign in (("add", 1), ("retire", -1)):
            items = entry.get(kind) or []
            if not isinstance(items, list):
                raise SpecError(f"{path}.{kind}", "expected a list of {system, count | devices, site}")
            for j, ch in enumerate(items):
                cpath = f"{path}.{kind}[{j}]"
                check_mapping(ch, cpath, CHANGE_KEYS, "{system, count | devices, site}")
                tname = ch.get("system")
                if not isinstance(tname, str) or not tname:
                    raise SpecError(f"{cpath}.system", "missing: a system type of plan.systems or a preset")
                if tname not in types:
                    types[tname] = _system_type(tname, {"preset": tname}, f"{cpath}.system", precision, island,
                                                preset_at=f"{cpath}.system")
                t = types[tname]
                if ("count" in ch) == ("devices" in ch):
                    raise SpecError(cpath, "give exactly one of count (copies of the preset) or devices")
                if "devices" in ch:
                    devices = _positive_int(ch["devices"], f"{cpath}.devices", MAX_UNITS * 10)
                    if devices % t.chips_per_unit:
                        raise SpecError(f"{cpath}.devices", f"{devices:,} is not a whole number of {t.preset} "
                                                            f"({t.chips_per_unit} devices each)")
                    units = devices // t.chips_per_unit
                else:
                    units = _positive_int(ch["count"], f"{cpath}.count")
                site = ch.get("site", next(iter(sites)) if len(sites) == 1 else None)
                if site not in sites:
                    raise SpecError(f"{cpath}.site", f"unknown site {site!r}; sites: {', '.join(sites)}"
                                    if site is not None else "missing: the plan has several sites")
                changes.append({"quarter": q, "type": tname, "site": site, "units": sign * units, "path": cpath})
    first_q = parse_quarter(timeline[0]["quarter"], "plan.timeline[0].quarter")
    start = parse_quarter(spec["start"], "plan.start") if "start" in spec else first_q
    end = parse_quarter(spec["end"], "plan.end") if "end" in spec else seen
    if start > first_q:
        raise SpecError("plan.start", f"{quarter_name(start)} is after the first timeline quarter {quarter_name(first_q)}")
    if end < seen:
        raise SpecError("plan.end", f"{quarter_name(end)} is before the last timeline quarter {quarter_name(seen)}")
    if end - start + 1 > MAX_QUARTERS:
        raise SpecError("plan.end", f"{end - start + 1} quarters; at most {MAX_QUARTERS}")
    mix[start] = {w: shares[w].value for w in workloads}
    total = sum(mix[start].values())
    if abs(total - 1.0) > 1e-6:
        raise SpecError("plan.workloads", f"shares must add up to 1, got {total:g}")
    quarters = list(range(start, end + 1))
    if default_budget is not None:
        for q in quarters:
            budgets.setdefault(q, default_budget)
    _check_installed(changes, types, sites, quarters)
    data = None
    if "data" in spec:
        from .fleetdata import check_data

        data = check_data(spec["data"], tuple(workloads))
    plan = Plan(str(spec.get("name", "plan")), str(spec.get("description", "")), quarters, precision, reference,
                island, workloads, mix, electricity, load_factor, types, sites, changes, budgets, data, None,
                [electricity, load_factor] + [f for s in sites.values() for f in [s.pue, *s.cap_figures]]
                + [w.clip_cost for w in workloads.values() if w.clip_cost is not None])
    if "optimize" in spec:
        from .mix import check_optimize

        plan.optimize = check_optimize(spec["optimize"], plan)
    return plan


def _check_installed(changes: list[dict], types: dict, sites: dict, quarters: list[int]) -> None:
    """Nothing retired that is not installed; no site over its cap in the first quarter."""
    have: dict[tuple, int] = {}
    for ch in changes:
        key = (ch["type"], ch["site"])
        have[key] = have.get(key, 0) + ch["units"]
        if have[key] < 0:
            raise SpecError(ch["path"], f"retires {-ch['units']:,} {ch['type']} at {ch['site']} in "
                                        f"{quarter_name(ch['quarter'])}, but only {have[key] - ch['units']:,} are installed")
    q0 = quarters[0]
    for i, site in enumerate(sites.values()):
        it = sum(ch["units"] * types[ch["type"]].power_per_unit.value for ch in changes
                 if ch["site"] == site.name and ch["quarter"] <= q0)
        cap = site_cap(site, q0)
        if it * site.pue.value > cap * (1 + 1e-9):
            raise SpecError(f"plan.sites[{i}].cap", f"site {site.name} draws {it * site.pue.value / 1e6:,.4g} MW "
                                                    f"(PUE {site.pue.value:g}) in {quarter_name(q0)}, over its cap of "
                                                    f"{cap / 1e6:,.4g} MW")


def site_cap(site: Site, q: int) -> float:
    """The facility power cap (W) in force at quarter ``q`` (0 before the site's first one)."""
    before = site.caps.get(-1, 0.0)   # a cap given without a quarter holds from the start
    points = {k: v for k, v in site.caps.items() if k >= 0}
    return step_series(points, [q], before=before)[0] if points else before


def load_plan(path: str | os.PathLike) -> Plan:
    p = Path(path)
    spec = read_yaml(p, "plan")
    if spec is None:
        raise SpecError("plan", "the file is empty")
    return check_plan(spec, p.parent)


__all__ = ["Plan", "SystemType", "Site", "load_plan", "check_plan", "site_cap", "vendor_of", "BUILTIN"]
