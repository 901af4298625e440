"""The claims ledger as a section of the HTML report (and as a page of its own)."""
from __future__ import annotations

from collections.abc import Sequence

from .html import _CSS, _e, _table


def _num(x: float, unit: str = "") -> str:
    """A claim's figure as people write it: "8,000", "1.3", "1.09 EFLOP/s", "13 TB"."""
    if unit:
        from ..units import format as fmt

        return fmt(x, unit)
    return f"{x:,.0f}" if 100 <= abs(x) < 1e9 else f"{x:.3g}"


def claimed_text(d: dict) -> str:
    rng = d.get("claimed_range")
    value = f"{_num(rng[0])}–{_num(rng[1])}" if rng else _num(d["claimed"], d.get("unit", ""))
    return value if d["compare"] == "~" else f"{d['compare']} {value}"


def _figure_unit(path: str) -> str:
    """The units dimension of a figure, read from its name (host_core_rate -> bandwidth)."""
    name = path.rsplit(".", 1)[-1]
    for key, dim in (("bandwidth", "bandwidth"), ("_rate", "bandwidth"), ("_bytes", "bytes"), ("_usd", "money"),
                     ("_w", "power"), ("_s", "time"), ("flops", "flops")):
        if name.endswith(key) or key in name:
            return dim
    return ""


def _need_text(n: dict) -> str:
    if not n.get("reachable"):
        return f"{n['figure']}: {n.get('why', 'not reachable')}"
    u = _figure_unit(n["figure"])
    rng = n.get("assumed_range")
    where = (("inside" if n.get("within_range") else "outside") + f" its range {_num(rng[0], u)}–{_num(rng[1], u)}"
             if rng else "no range given")
    return f"{n['figure']}: {_num(n['now'], u)} → {_num(n['value'], u)} (×{n['factor']:.3g}; {where})"


def claims_section(entries: Sequence) -> str:
    """`dojosim claims` as HTML: one row per claim, the `needs` of each miss below it."""
    rows = []
    for e in entries:
        d = e.to_dict() if hasattr(e, "to_dict") else e
        verdict = '<span class="ok">meets</span>' if d["hit"] else '<span class="bad">misses</span>'
        needs = "<br>".join(_e(_need_text(n)) for n in d["needs"]) or "—"
        rows.append((_e(d["id"]), _e(d["statement"]), _e(d["source"]), _e(claimed_text(d)),
                     _e(_num(d["predicted"], d.get("unit", ""))), _e(f"{d['ratio']:.2f}"), verdict, needs,
                     _e(d["run"])))
    head = ("claim", "statement", "source", "claimed", "predicted", "ratio", "", "what would have to be true", "run")
    return ("<h2>Tesla's claims against the model</h2>"
            '<p class="sub">Each claim is checked, never fitted: a miss lists, for each assumed figure, '
            "the value (solved by bisection on the engine, every other figure held) that would meet it.</p>"
            + _table(head, rows))


def render_claims_page(entries: Sequence) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">"
            f"<title>Dojo claims — dojosim</title><style>{_CSS}</style></head>\n<body>\n"
            + claims_section(entries) + "\n</body></html>\n")
