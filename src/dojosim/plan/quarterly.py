"""A build-out plan, quarter by quarter: capacity, power, money, vendor shares, data demand met.

Per quarter (systems added in a quarter are online for all of it; retired ones for none):
- peak FLOP/s by vendor (devices x the chip's peak in the plan's precision);
- H100-equivalents per workload: the whole fleet's throughput on that workload over one
  reference device's (`plan/rates.py`, as `fleet` defines them), and the mix-weighted total;
- power: IT power (the presets' power, network share included) x the site's PUE, against its cap;
- capex (the presets' prices of what was added), opex (facility energy x load factor x the
  electricity price), cumulative spend, against the quarter's budget;
- the vendors' shares, by peak and by mix-weighted H100-equivalents;
- the data path's compute demand (`plan/fleetdata.py`) against the fleet's share of its workload.

`assumed` on each row lists the figures in it that rest on an assumption (priced from an assumed
preset figure, a PUE with a range, ...); `assumptions` lists every assumed input with its reason.
"""
from __future__ import annotations

from .buildout import Plan, site_cap
from .quarters import QUARTER_S, quarter_name, quarter_year


def installed(plan: Plan) -> dict[int, dict[tuple[str, str], int]]:
    """Units of each (type, site) online in each quarter."""
    out, have = {}, {}
    changes = sorted(plan.changes, key=lambda c: c["quarter"])
    i = 0
    for q in plan.quarters:
        while i < len(changes) and changes[i]["quarter"] <= q:
            ch = changes[i]
            key = (ch["type"], ch["site"])
            have[key] = have.get(key, 0) + ch["units"]
            i += 1
        out[q] = {k: v for k, v in have.items() if v}
    return out


def run_buildout(plan: Plan, *, workers=None, cache_dir=None, force: bool = False) -> dict:
    """`evaluate_plan`, plus the best mix (``best_mix``) when the plan has an optimize block.
    ``cache_dir``: keep the engine's per-device rates there between runs (`rates.island_rates`)."""
    # the optimiser's solver (scipy, ~0.5 s to import) loads while the engine searches
    rates = _rates(plan, workers, cache_dir, force, _load_solver if plan.optimize is not None else None)
    result = evaluate_plan(plan, rates=rates)
    if plan.optimize is not None:
        from .mix import optimize

        result["best_mix"] = optimize(plan, result, rates[0])
    return result


def _load_solver() -> None:
    import scipy.optimize  # noqa: F401  (the import is the work)


def _rates(plan: Plan, workers, cache_dir=None, force: bool = False, meanwhile=None):
    from .rates import device_rates

    return device_rates({n: (t.preset, t.island) for n, t in plan.types.items()}, list(plan.workloads.values()),
                        plan.reference, plan.island, workers, cache_dir, force, meanwhile)


def evaluate_plan(plan: Plan, *, workers=None, rates=None) -> dict:
    """The plan's quarterly table (JSON-ready, SI units). ``rates`` = (per type, reference) from
    `rates.device_rates`, to reuse a search already done."""
    per_type, ref = rates or _rates(plan, workers)
    online = installed(plan)
    data = None
    if plan.data is not None:
        from .fleetdata import evaluate

        data = evaluate(plan.data, plan.quarters)
    vendors = sorted({t.vendor for t in plan.types.values()})
    rows, cumulative = [], 0.0
    for qi, q in enumerate(plan.quarters):
        units = online[q]
        mix = plan.mix_at(q)
        dev = {n: 0 for n in plan.types}
        for (n, _), u in units.items():
            dev[n] += u * plan.types[n].chips_per_unit
        peak = dict.fromkeys(vendors, 0.0)
        eq = dict.fromkeys(plan.workloads, 0.0)
        eq_vendor = dict.fromkeys(vendors, 0.0)
        thr = dict.fromkeys(plan.workloads, 0.0)
        marks, peak_marks = set(), set()
        for n, d in dev.items():
            if not d:
                continue
            t = plan.types[n]
            peak[t.vendor] += d * t.peak_per_device
            for w in plan.workloads:
                eq[w] += d * per_type[n].h100_eq[w]
                thr[w] += d * per_type[n].samples_per_s[w]
                eq_vendor[t.vendor] += mix[w] * d * per_type[n].h100_eq[w]
            if "peak" in t.assumed:
                marks.update(("peak_flops", "h100_eq"))
                peak_marks.add(t.vendor)
        sites = {}
        for s in plan.sites.values():
            it = sum(u * plan.types[n].power_per_unit.value for (n, site), u in units.items() if site == s.name)
            cap = site_cap(s, q)
            sites[s.name] = {"it_w": it, "facility_w": it * s.pue.value, "cap_w": cap, "cap_assumed": s.cap_assumed,
                             "over_cap": it * s.pue.value > cap * (1 + 1e-9)}
            if it and (s.pue.assumed or any(plan.types[n].power_per_unit.assumed
                                            for (n, site) in units if site == s.name)):
                marks.add("power")
        added = [c for c in plan.changes if c["quarter"] == q and c["units"] > 0]
        capex = sum(c["units"] * plan.types[c["type"]].price_per_unit.value for c in added)
        if any(plan.types[c["type"]].price_per_unit.assumed for c in added):
            marks.add("capex")
        facility = sum(s["facility_w"] for s in sites.values())
        opex = facility * plan.load_factor.value * QUARTER_S * plan.electricity.value
        if facility and ("power" in marks or plan.load_factor.assumed or plan.electricity.assumed):
            marks.add("opex")
        cumulative += capex + opex
        budget = plan.budgets.get(q)
        total_peak = sum(peak.values())
        weighted = sum(eq_vendor.values())
        row = {"quarter": quarter_name(q), "year": quarter_year(q), "devices": dev,
               "units": {f"{n}@{site}": u for (n, site), u in units.items()},
               "peak_flops": peak, "peak_flops_total": total_peak, "peak_assumed_vendors": sorted(peak_marks),
               "h100_eq": eq, "h100_eq_mix": weighted,
               "samples_per_s": {w: mix[w] * thr[w] for w in plan.workloads}, "mix": mix,
               "share_by_peak": {v: peak[v] / total_peak if total_peak else 0.0 for v in vendors},
               "share_by_h100_eq": {v: eq_vendor[v] / weighted if weighted else 0.0 for v in vendors},
               "sites": sites, "power_w": facility, "capex_usd": capex, "opex_usd": opex,
               "cumulative_usd": cumulative, "budget_usd": budget.value if budget else None,
               "over_budget": bool(budget is not None and capex > budget.value * (1 + 1e-9))}
        if budget is not None and budget.assumed and budget.has_range:
            marks.add("budget")
        if any(w.clip_cost for w in plan.workloads.values()):
            marks.add("h100_eq")   # auto-labeling rests on an assumed cost per clip
        if data is not None:
            marks.update(("storage", "demand"))
            row["data"] = _data_row(plan, data, qi, thr, mix, ref)
        row["assumed"] = sorted(marks)
        rows.append(row)
    for row, spread in zip(rows, money_power_ranges(plan, online)):
        row["ranges"] = spread
        eq = _eq_range(plan, per_type, row)
        if eq:
            row["ranges"]["h100_eq_mix"] = eq
    return {"name": plan.name, "description": plan.description, "precision": plan.precision,
            "reference": ref, "workloads": list(plan.workloads), "vendors": vendors,
            "types": {n: _type_json(t, per_type[n]) for n, t in plan.types.items()},
            "quarters": rows, "data": data, "assumptions": assumptions(plan),
            "notes": _notes(plan, per_type, rows)}


RANGE_SAMPLES = 256


def _eq_range(plan: Plan, per_type: dict, row: dict) -> list[float] | None:
    """p10 and p90 of the quarter's mix-weighted H100-equivalents over the engine's draws
    (`rates.engine_draws`); None when a type online has no draws."""
    import numpy as np

    total = None
    for n, d in row["devices"].items():
        if not d:
            continue
        draws = per_type[n].h100_eq_draws
        if any(len(draws.get(w, ())) == 0 for w in plan.workloads):
            return None
        v = d * sum(row["mix"][w] * np.asarray(draws[w]) for w in plan.workloads)
        total = v if total is None else total + v
    if total is None:
        return None
    return [float(np.percentile(total, 10)), float(np.percentile(total, 90))]


def money_power_ranges(plan: Plan, online: dict, samples: int = RANGE_SAMPLES, seed: int = 0) -> list[dict]:
    """Per quarter, p10 and p90 of facility power, capex, opex and cumulative spend when every
    assumed figure with a range (prices, powers, PUEs, load factor, electricity) moves within it
    (seeded Latin hypercube; the stated value is each range's median, `figures.Figure.at`)."""
    import numpy as np

    from ..ranges import latin_hypercube

    types, sites = list(plan.types.values()), list(plan.sites.values())
    figs = ([t.price_per_unit for t in types] + [t.power_per_unit for t in types] + [s.pue for s in sites]
            + [plan.load_factor, plan.electricity])
    ranged = [i for i, f in enumerate(figs) if f.has_range]
    u = latin_hypercube(samples, len(ranged), seed) if ranged else np.zeros((samples, 0))
    draws = np.array([np.full(samples, f.value) for f in figs]).T          # (n, figures)
    for col, i in enumerate(ranged):
        draws[:, i] = figs[i].at(u[:, col])
    nt, nk = len(types), len(sites)
    price, power, pue = draws[:, :nt], draws[:, nt:2 * nt], draws[:, 2 * nt:2 * nt + nk]
    load, elec = draws[:, -2], draws[:, -1]
    tix = {t.name: i for i, t in enumerate(types)}
    kix = {s.name: i for i, s in enumerate(sites)}
    units = np.zeros((len(plan.quarters), nt, nk))
    added = np.zeros((len(plan.quarters), nt))
    for qi, q in enumerate(plan.quarters):
        for (n, site), u_ in online[q].items():
            units[qi, tix[n], kix[site]] = u_
        for c in plan.changes:
            if c["quarter"] == q and c["units"] > 0:
                added[qi, tix[c["type"]]] += c["units"]
    facility = np.einsum("qtk,nt,nk->nq", units, power, pue)
    capex = added @ price.T                                                  # (q, n)
    opex = facility * (load * elec)[:, None] * QUARTER_S
    cum = np.cumsum(capex.T + opex, axis=1)
    out = []
    for qi in range(len(plan.quarters)):
        out.append({k: [float(np.percentile(v[:, qi], 10)), float(np.percentile(v[:, qi], 90))]
                    for k, v in (("power_w", facility), ("capex_usd", capex.T), ("opex_usd", opex),
                                 ("cumulative_usd", cum))})
    return out


def _data_row(plan: Plan, data: dict, qi: int, thr: dict, mix: dict, ref: dict) -> dict:
    w = data["workload"]
    c, r = data["central"], data["ranges"]
    per_ref = ref[w]["samples_per_s_per_device"]
    have = mix[w] * thr[w]
    need = c["demand_samples_per_s"][qi]
    return {"workload": w, "cars": c["cars"][qi], "ingest_bandwidth": c["ingest_bandwidth"][qi],
            "storage_bytes": c["storage_bytes"][qi],
            "storage_bytes_p10": r["storage_bytes"]["p10"][qi], "storage_bytes_p90": r["storage_bytes"]["p90"][qi],
            "clips_per_day": c["clips_per_day"][qi], "demand_samples_per_s": need,
            "demand_h100_eq": need / per_ref,
            "demand_h100_eq_p10": r["demand_samples_per_s"]["p10"][qi] / per_ref,
            "demand_h100_eq_p90": r["demand_samples_per_s"]["p90"][qi] / per_ref,
            "capacity_samples_per_s": have, "capacity_h100_eq": have / per_ref,
            "met": have >= need, "met_p90": have >= r["demand_samples_per_s"]["p90"][qi]}


def _type_json(t, r) -> dict:
    return {"preset": t.preset, "vendor": t.vendor, "devices_per_unit": t.chips_per_unit, "island": t.island,
            "peak_flops_per_device": t.peak_per_device, "price_usd_per_unit": t.price_per_unit.value,
            "power_w_per_unit": t.power_per_unit.value, "limit_per_quarter": t.limit,
            "samples_per_s_per_device": r.samples_per_s, "h100_eq_per_device": r.h100_eq,
            "h100_eq_per_device_p10_p90": {w: [float(x) for x in _p10_p90(v)] for w, v in r.h100_eq_draws.items()},
            "splits": r.splits,
            "assumed": t.assumed, "preset_assumed_fields": t.preset_assumed}


def _p10_p90(values) -> tuple[float, float]:
    import numpy as np

    return np.percentile(values, 10), np.percentile(values, 90)


def assumptions(plan: Plan) -> list[dict]:
    """Every assumed input of the plan: its own figures and the assumed preset figures it uses."""
    out = [f.describe() for f in plan.figures if f.assumed]
    for t in plan.types.values():
        for f in (t.price_per_unit, t.power_per_unit):
            if f.assumed:
                out.append(f.describe())
    out += [b.describe() for q, b in sorted(plan.budgets.items()) if b.assumed and b.has_range]
    if plan.data is not None:
        from .fleetdata import figures_of

        out += [f.describe() for f in figures_of(plan.data) if f.assumed]
    return out


def _notes(plan: Plan, per_type: dict, rows: list[dict]) -> list[str]:
    notes = []
    for n, t in plan.types.items():
        notes += t.notes + [f"{n}: {x}" for x in per_type[n].notes]
        if t.preset.startswith("ai4"):
            notes.append(f"{n}: AI4 presets are assumed figures for Tesla's in-car inference computers")
    over = [f"{r['quarter']} {s}" for r in rows for s, v in r["sites"].items() if v["over_cap"]]
    if over:
        notes.append("over the power cap: " + ", ".join(over))
    ob = [r["quarter"] for r in rows if r["over_budget"]]
    if ob:
        notes.append("capex over budget: " + ", ".join(ob))
    notes.append("H100-equivalents: each workload's throughput over one reference device's, islands of "
                 f"~{plan.island} devices running independent copies (traffic between islands not costed)")
    return list(dict.fromkeys(notes))
