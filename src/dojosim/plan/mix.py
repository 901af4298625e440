"""The best mix of systems for a budget: a mixed-integer program over the plan's quarters.

``optimize:`` in a plan::

    optimize:
      systems: [h100, h200, b200-dgx, dojo-tile, d2]   # types to choose from (limit: per quarter)
      from: 2025Q1                 # first quarter to buy in (default: the plan's start)
      to: 2026Q4                   # last one (default: the plan's end)
      budget: $1B                  # per quarter, or {2025Q1: $1B, ...}; default: each quarter's
                                   #   plan budget less the plan's own capex
      carry: false                 # true: budget not spent in a quarter stays available later
      objective: cumulative        # cumulative: H100-eq-quarters to the plan's end; final: at its end
      sweep: [0.25, 0.5, 1, 2, 4]  # budget multipliers for the capacity-vs-dollars frontier
      gap: 0.001                   # stop within this share of the proven best (0: exact)

Variables: x[t, s, k] = units of type s bought in quarter t at site k (integers, 0..limit).
Maximise the mix-weighted H100-equivalents they add (per quarter they are online, or at the
end), subject to: capex per quarter <= budget (cumulated with ``carry``); at every site and
quarter, the facility power of the plan's own systems plus those bought <= the cap; per quarter
and type, units bought <= the delivery limit.

Solver: `scipy.optimize.milp` (HiGHS, branch and cut), run to a zero gap by default so the answer
is optimal — `tests/test_mix.py` checks it is never worse than brute force on small cases.
SciPy was chosen because it is the one well-kept, permissively licensed MILP interface that
installs from wheels everywhere numpy does; HiGHS is a state-of-the-art open solver.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import SpecError
from ..yamlfile import check_mapping
from .figures import parse_figure
from .quarters import parse_quarter, quarter_name

OPT_KEYS = ("systems", "from", "to", "budget", "carry", "objective", "sweep", "time_limit", "gap")
DEFAULT_SWEEP = (0.25, 0.5, 1.0, 2.0, 4.0)
DEFAULT_TIME_LIMIT_S = 20.0
# Plans stop within 0.1% of the proven best by default: at thousands of units the rounding of
# the LP relaxation usually gets there at once; gap: 0 asks for the exact optimum.
DEFAULT_GAP = 1e-3
MAX_VARIABLES = 200_000
MAX_NONZEROS = 5_000_000       # bounds the memory and time of one solve (~100 MB of sparse matrix)


@dataclass
class MixProblem:
    """Pure numbers: T quarters x S types x K sites."""

    weight: np.ndarray         # (T, S): objective gained by one unit bought in quarter t
    unit_eq: np.ndarray        # (S,) mix-weighted H100-equivalents of one unit (at the plan's end)
    price: np.ndarray          # (S,) USD per unit
    power: np.ndarray          # (S, K) facility W per unit at site k (IT power x PUE)
    limit: np.ndarray          # (S,) units per quarter (inf = none)
    budget: np.ndarray         # (T,) USD
    cap_left: np.ndarray       # (T, K) W of cap left after the plan's own systems, from t on
    carry: bool = False
    names: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    quarters: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.weight.shape[0], self.weight.shape[1], self.power.shape[1]

    def weights(self) -> np.ndarray:
        return self.weight

    def score(self, x: np.ndarray) -> float:
        return float((self.weights()[:, :, None] * x).sum())

    def feasible(self, x: np.ndarray, tol: float = 1e-6) -> bool:
        spend = (x.sum(axis=2) * self.price).sum(axis=1)
        budget_ok = (np.cumsum(spend) <= np.cumsum(self.budget) * (1 + tol) + tol) if self.carry else \
            (spend <= self.budget * (1 + tol) + tol)
        draw = np.cumsum(np.einsum("tsk,sk->tk", x, self.power), axis=0)
        return bool(np.all(x >= -tol) and np.all(budget_ok) and np.all(draw <= self.cap_left * (1 + tol) + tol)
                    and np.all(x.sum(axis=2) <= self.limit + tol))


def check_size(T: int, S: int, K: int, carry: bool, path: str = "plan.optimize") -> None:
    """A `SpecError` before any work when the program would be too large to solve in bounded
    time and memory: power rows (and budget rows with carry) hold every quarter so far."""
    n = T * S * K
    nnz = S * K * T * (T + 1) // 2 * (2 if carry else 1) + 2 * n
    if n > MAX_VARIABLES or nnz > MAX_NONZEROS:
        raise SpecError(path, f"{n:,} variables and {nnz:,} coefficients (at most {MAX_VARIABLES:,} and "
                              f"{MAX_NONZEROS:,}); buy over fewer quarters (from/to) or among fewer systems")


def _program(p: MixProblem):
    """(c, A, row upper bounds, column upper bounds, rows of each constraint family) of the
    program, scaled so that prices, powers and weights are all near 1 (HiGHS works best on
    well-scaled rows)."""
    from scipy.sparse import coo_matrix

    T, S, K = p.shape
    n = T * S * K
    check_size(T, S, K, p.carry)
    money = max(float(p.price.max()), 1.0)
    watts = max(float(p.power.max()), 1.0)
    idx = np.arange(n).reshape(T, S, K)
    rows, cols, vals, ub = [], [], [], []
    for t in range(T):  # budget: this quarter's capex (with carry: everything spent so far)
        ts = np.arange(t + 1) if p.carry else np.array([t])
        cols.append(idx[ts].ravel())
        vals.append(np.broadcast_to((p.price / money)[None, :, None], (len(ts), S, K)).ravel())
        rows.append(np.full(len(ts) * S * K, len(ub)))
        ub.append((p.budget[: t + 1].sum() if p.carry else p.budget[t]) / money)
    n_budget = len(ub)
    for t in range(T):  # power at each site: everything bought so far
        for k in range(K):
            cols.append(idx[: t + 1, :, k].ravel())
            vals.append(np.broadcast_to(p.power[None, :, k] / watts, (t + 1, S)).ravel())
            rows.append(np.full((t + 1) * S, len(ub)))
            ub.append(max(p.cap_left[t, k], 0.0) / watts)
    n_power = len(ub)
    for t in range(T):  # delivery, over all sites
        for s in range(S):
            if math.isfinite(p.limit[s]):
                cols.append(idx[t, s])
                vals.append(np.ones(K))
                rows.append(np.full(K, len(ub)))
                ub.append(p.limit[s])
    a = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(ub), n)).tocsr()
    w = p.weights()
    c = -(w / max(float(np.abs(w).max()), 1e-300))[:, :, None].repeat(K, axis=2).ravel()
    upper = np.repeat(p.limit, K)[None, :].repeat(T, axis=0).ravel()
    rows_of = {"budget": slice(0, n_budget), "power": slice(n_budget, n_power), "delivery": slice(n_power, len(ub))}
    return c, a, np.array(ub), upper, rows_of


def _fill(p: MixProblem, x: np.ndarray) -> np.ndarray:
    """``x`` plus every whole unit that still fits, best weight per dollar first (greedy)."""
    x = x.copy()
    T, S, K = p.shape
    w = p.weights()
    spend = (x.sum(axis=2) * p.price).sum(axis=1)
    left_b = (np.cumsum(p.budget) - np.cumsum(spend)) if p.carry else p.budget - spend
    draw = np.cumsum(np.einsum("tsk,sk->tk", x, p.power), axis=0)
    room = p.cap_left - draw
    order = sorted(((t, s, k) for t in range(T) for s in range(S) for k in range(K) if w[t, s] > 0),
                   key=lambda i: -w[i[0], i[1]] / max(p.price[i[1]], 1e-300))
    for t, s, k in order:
        budget_room = left_b[t:].min() if p.carry else left_b[t]
        fits = [p.limit[s] - x[t, s].sum(),
                budget_room / p.price[s] if p.price[s] > 0 else math.inf,
                room[t:, k].min() / p.power[s, k] if p.power[s, k] > 0 else math.inf]
        add = math.floor(min(fits) + 1e-9)
        if add <= 0 or not math.isfinite(add):
            continue
        x[t, s, k] += add
        if p.carry:
            left_b[t:] -= add * p.price[s]
        else:
            left_b[t] -= add * p.price[s]
        room[t:, k] -= add * p.power[s, k]
    return x


def solve(p: MixProblem, *, time_limit: float = DEFAULT_TIME_LIMIT_S, gap: float = 0.0) -> dict:
    """Integer purchases x (T, S, K) within ``gap`` (relative) of the best, their score, the
    bound that proves it, and which constraints bind.

    First the LP relaxation: its optimum bounds every integer plan from above, and rounding it
    down stays feasible (every constraint is a <= with non-negative coefficients); the units
    that still fit are then added greedily. When that is within ``gap`` of the bound it is the
    answer (large plans: thousands of units make rounding nearly free); otherwise HiGHS's
    branch and cut runs to ``gap`` or ``time_limit``.
    """
    import warnings

    from scipy.optimize import Bounds, LinearConstraint, milp

    program = _program(p)
    c, a, ub, upper, _ = program
    n = len(c)
    scale = float(np.abs(p.weights()).max()) or 1.0
    bounds, cons = Bounds(np.zeros(n), upper), LinearConstraint(a, -np.inf, ub)
    lp = milp(c, integrality=np.zeros(n), bounds=bounds, constraints=cons)
    if lp.x is None:
        raise SpecError("optimize", f"the solver found no purchase plan ({lp.message})")
    bound = -lp.fun * scale
    x = _fill(p, np.floor(lp.x + 1e-9).reshape(p.shape))
    score, how = p.score(x), "LP relaxation rounded down, then filled greedily"
    if bound - score > gap * max(abs(bound), 1e-12) + 1e-9 * scale:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # HiGHS options scipy does not list
            res = milp(c, integrality=np.ones(n), bounds=bounds, constraints=cons,
                       options={"time_limit": time_limit, "mip_rel_gap": gap})
        if res.x is not None:
            xm = np.round(res.x).reshape(p.shape)
            if p.score(xm) > score:
                x, score, how = xm, p.score(xm), f"branch and cut (HiGHS: {res.message})"
            if res.status == 0 or getattr(res, "mip_dual_bound", None) is not None:
                bound = min(bound, -float(res.mip_dual_bound) * scale) if res.mip_dual_bound is not None else bound
    rel = (bound - score) / abs(bound) if bound else 0.0
    return {"x": x, "score": score, "bound": bound, "gap": max(rel, 0.0), "optimal": rel <= gap + 1e-9,
            "status": how, "binding": binding(p, x, program, -lp.fun * scale)}


def binding(p: MixProblem, x: np.ndarray, program=None, lp_bound: float | None = None) -> dict:
    """Which constraints stop one more useful unit: per family, the quarters (and sites/types)
    where no further unit fits; ``main``: the family that binds most (`binds_most`; ``program``
    and ``lp_bound``: `_program(p)` and its LP bound, when already at hand)."""
    T, S, K = p.shape
    useful = p.weights() > 0
    spend = (x.sum(axis=2) * p.price).sum(axis=1)
    left = (np.cumsum(p.budget) - np.cumsum(spend)) if p.carry else p.budget - spend
    draw = np.cumsum(np.einsum("tsk,sk->tk", x, p.power), axis=0)
    room = p.cap_left - draw
    out = {"budget": [], "power": [], "delivery": []}
    for t in range(T):
        open_ = [s for s in range(S) if useful[t, s] and x[t, s].sum() < p.limit[s] - 0.5]
        if open_ and left[t] < min(p.price[s] for s in open_):
            out["budget"].append(p.quarters[t] if p.quarters else t)
        for k in range(K):
            if open_ and room[t:, k].min() < min(p.power[s, k] for s in open_):
                out["power"].append(f"{p.quarters[t] if p.quarters else t} {p.sites[k] if p.sites else k}")
        for s in range(S):
            if useful[t, s] and x[t, s].sum() >= p.limit[s] - 0.5:
                out["delivery"].append(f"{p.quarters[t] if p.quarters else t} {p.names[s] if p.names else s}")
    out["main"] = binds_most(p, program, lp_bound)
    return out


RELAX = 1.10   # "binds most" = the constraint family whose 10% relaxation raises the LP bound most


def _lp_bound(p: MixProblem, program=None, relax: str | None = None) -> float:
    """The LP relaxation's optimum; ``relax``: with that constraint family loosened by `RELAX`
    (its rows' bounds scaled: the same program as rebuilding it from the loosened problem)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    c, a, ub, upper, rows_of = program or _program(p)
    if relax is not None:
        ub = ub.copy()
        ub[rows_of[relax]] *= RELAX
        if relax == "delivery":
            upper = upper * RELAX
    lp = milp(c, integrality=np.zeros(len(c)), bounds=Bounds(np.zeros(len(c)), upper),
              constraints=LinearConstraint(a, -np.inf, ub))
    return -lp.fun * (float(np.abs(p.weights()).max()) or 1.0) if lp.x is not None else 0.0


def binds_most(p: MixProblem, program=None, base: float | None = None) -> str:
    """budget, power or delivery: whichever, loosened by 10%, would buy the most more capacity
    (compared on the LP relaxation, whose bound moves smoothly); "none" if none would.
    ``program``/``base``: `_program(p)` and its LP bound, when the caller has them."""
    program = program or _program(p)
    base = _lp_bound(p, program) if base is None else base
    gains = {family: _lp_bound(p, program, family) for family in ("budget", "power", "delivery")}
    best = max(gains, key=gains.get)
    return best if gains[best] > base * (1 + 1e-9) + 1e-12 else "none"


def check_optimize(raw, plan) -> dict:
    """The ``optimize:`` block, checked against the plan (its types, quarters, sites)."""
    check_mapping(raw, "plan.optimize", OPT_KEYS, "a mapping with systems (and budget, sweep, ...)")
    names = raw.get("systems")
    if not isinstance(names, list) or not names:
        raise SpecError("plan.optimize.systems", "expected a list of system types or presets")
    from .buildout import _system_type

    for i, n in enumerate(names):
        if not isinstance(n, str):
            raise SpecError(f"plan.optimize.systems[{i}]", f"expected a name, got {n!r}")
        if n not in plan.types:
            plan.types[n] = _system_type(n, {"preset": n}, f"plan.optimize.systems[{i}]", plan.precision, plan.island,
                                         preset_at=f"plan.optimize.systems[{i}]")
    first, last = plan.quarters[0], plan.quarters[-1]
    q0 = parse_quarter(raw["from"], "plan.optimize.from") if "from" in raw else first
    q1 = parse_quarter(raw["to"], "plan.optimize.to") if "to" in raw else last
    if not first <= q0 <= q1 <= last:
        raise SpecError("plan.optimize.from", f"the quarters {quarter_name(q0)}..{quarter_name(q1)} must lie "
                                              f"within the plan's {quarter_name(first)}..{quarter_name(last)}")
    budget = None
    if "budget" in raw:
        b = raw["budget"]
        pts = b if isinstance(b, dict) else {None: b}
        budget = {}
        for k, v in pts.items():
            q = None if k is None else parse_quarter(k, f"plan.optimize.budget.{k}")
            budget[q] = parse_figure(v, "plan.optimize.budget" if k is None else f"plan.optimize.budget.{k}",
                                     "money").value
    objective = raw.get("objective", "cumulative")
    if objective not in ("cumulative", "final"):
        raise SpecError("plan.optimize.objective", f"must be cumulative or final, got {objective!r}")
    carry = raw.get("carry", False)
    if not isinstance(carry, bool):
        raise SpecError("plan.optimize.carry", f"must be true or false, got {carry!r}")
    sweep = raw.get("sweep", list(DEFAULT_SWEEP))
    if not isinstance(sweep, list) or not sweep or len(sweep) > 50:
        raise SpecError("plan.optimize.sweep", "expected a list of 1-50 budget multipliers")
    sweep = [parse_figure(m, f"plan.optimize.sweep[{i}]", positive=True).value for i, m in enumerate(sweep)]
    tl = raw.get("time_limit", DEFAULT_TIME_LIMIT_S)
    if isinstance(tl, bool) or not isinstance(tl, (int, float)) or not 0 < tl <= 600:
        raise SpecError("plan.optimize.time_limit", f"must be 0-600 seconds, got {tl!r}")
    gap = raw.get("gap", DEFAULT_GAP)
    if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not 0 <= gap < 1:
        raise SpecError("plan.optimize.gap", f"must be a share in [0, 1), got {gap!r}")
    check_size(q1 - q0 + 1, len(set(names)), len(plan.sites), carry)
    return {"systems": list(dict.fromkeys(names)), "from": q0, "to": q1, "budget": budget, "carry": carry,
            "objective": objective, "sweep": sweep, "time_limit": float(tl), "gap": float(gap)}


def problem_of(plan, result: dict, per_type: dict) -> MixProblem:
    """The plan's optimize block as numbers: the quarters it buys in, what is left of each cap."""
    from .buildout import site_cap

    opt = plan.optimize
    quarters = [q for q in plan.quarters if opt["from"] <= q <= opt["to"]]
    rows = {r["quarter"]: r for r in result["quarters"]}
    types = [plan.types[n] for n in opt["systems"]]
    sites = list(plan.sites.values())

    def per_unit(q: int) -> np.ndarray:
        mix = plan.mix_at(q)
        return np.array([t.chips_per_unit * sum(mix[w] * per_type[t.name].h100_eq[w] for w in plan.workloads)
                         for t in types])

    online = np.array([per_unit(q) for q in plan.quarters])        # (all quarters, S)
    first = plan.quarters.index(quarters[0])
    if opt["objective"] == "final":
        weight = np.repeat(online[-1][None, :], len(quarters), axis=0)
    else:  # a unit bought in q counts in every quarter from q to the plan's end
        weight = np.cumsum(online[::-1], axis=0)[::-1][first:first + len(quarters)]
    budget = np.zeros(len(quarters))
    for i, q in enumerate(quarters):
        row = rows[quarter_name(q)]
        if opt["budget"] is not None:
            pts = {k: v for k, v in opt["budget"].items() if k is not None and k <= q}
            budget[i] = pts[max(pts)] if pts else opt["budget"].get(None, 0.0)
        else:
            b = row["budget_usd"]
            budget[i] = max(0.0, (b or 0.0) - row["capex_usd"])
    # A unit bought in t draws power in every later quarter, and the draw only grows, so the cap
    # that binds at t is the tightest one left from t to the plan's end.
    left = np.array([[site_cap(s, q) - rows[quarter_name(q)]["sites"][s.name]["facility_w"] for s in sites]
                     for q in plan.quarters])
    cap_left = np.minimum.accumulate(left[::-1], axis=0)[::-1][first:first + len(quarters)]
    power = np.array([[t.power_per_unit.value * s.pue.value for s in sites] for t in types])
    limit = np.array([float(t.limit) if t.limit else math.inf for t in types])
    return MixProblem(weight, online[-1], np.array([t.price_per_unit.value for t in types]), power, limit, budget,
                      np.maximum(cap_left, 0.0), opt["carry"], [t.name for t in types],
                      [s.name for s in sites], [quarter_name(q) for q in quarters])


def optimize(plan, result: dict, per_type: dict) -> dict:
    """The best mix at the plan's budget, and the frontier over the budget multipliers."""
    p = problem_of(plan, result, per_type)
    opt = plan.optimize
    best = solve(p, time_limit=opt["time_limit"], gap=opt["gap"])
    frontier = []
    for m in opt["sweep"]:
        q = MixProblem(**{**p.__dict__, "budget": p.budget * m})
        sol = best if m == 1.0 else solve(q, time_limit=opt["time_limit"], gap=opt["gap"])
        x = sol["x"]
        frontier.append({"multiplier": m, "budget_usd": float(q.budget.sum()),
                         "spent_usd": float((x.sum(axis=2) * q.price).sum()),
                         "h100_eq_added": float((x.sum(axis=(0, 2)) * p.unit_eq).sum()),
                         "score": sol["score"], "gap": sol["gap"], "optimal": sol["optimal"],
                         "binds": sol["binding"]["main"]})
    x = best["x"]
    buys = [{"quarter": p.quarters[t], "system": p.names[s], "site": p.sites[k], "units": int(x[t, s, k]),
             "capex_usd": float(x[t, s, k] * p.price[s])}
            for t in range(x.shape[0]) for s in range(x.shape[1]) for k in range(x.shape[2]) if x[t, s, k]]
    return {"systems": p.names, "objective": opt["objective"], "carry": p.carry, "budget_usd": p.budget.tolist(),
            "quarters": p.quarters, "buys": buys, "score": best["score"], "bound": best["bound"],
            "gap": best["gap"], "gap_asked": opt["gap"], "optimal": best["optimal"], "status": best["status"],
            "h100_eq_added": float((x.sum(axis=(0, 2)) * p.unit_eq).sum()),
            "spent_usd": float((x.sum(axis=2) * p.price).sum()),
            "binding": best["binding"], "frontier": frontier,
            "value_per_unit": dict(zip(p.names, p.unit_eq.tolist())),
            "value_per_dollar": {n: float(v / c) for n, v, c in zip(p.names, p.unit_eq, p.price)}}
