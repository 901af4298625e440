"""The claims ledger as a section of the HTML report (and as a page of its own)."""
from __future__ import annotations

from collections.abc import Sequence

from .html import _CSS, _e, _table


def _num(x: float) -> str:
    return f"{x:,.3g}" if abs(x) < 1e4 else f"{x:.3g}"


def _need_text(n: dict) -> str:
    if not n.get("reachable"):
        return f"{n['figure']}: {n.get('why', 'not reachable')}"
    rng = n.get("assumed_range")
    where = ("inside" if n.get("within_range") else "outside") + f" its range {_num(rng[0])}–{_num(rng[1])}" \
        if rng else "no range given"
    return f"{n['figure']}: {_num(n['now'])} → {_num(n['value'])} (×{n['factor']:.3g}; {where})"


def claims_section(entries: Sequence) -> str:
    """`dojosim claims` as HTML: one row per claim, the `needs` of each miss below it."""
    rows = []
    for e in entries:
        d = e.to_dict() if hasattr(e, "to_dict") else e
        verdict = '<span class="ok">meets</span>' if d["hit"] else '<span class="bad">misses</span>'
        needs = "<br>".join(_e(_need_text(n)) for n in d["needs"]) or "—"
        rows.append((_e(d["id"]), _e(d["statement"]), _e(d["source"]), _e(f"{d['compare']} {_num(d['claimed'])}"),
                     _e(_num(d["predicted"])), _e(f"{d['ratio']:.2f}"), verdict, needs, _e(d["run"])))
    head = ("claim", "statement", "source", "claimed", "predicted", "ratio", "", "what would have to be true", "run")
    return ("<h2>Tesla's claims against the model</h2>"
            '<p class="sub">Each claim is checked, never fitted: a miss lists, for each assumed figure, '
            "the value (solved by bisection on the engine, every other figure held) that would meet it.</p>"
            + _table(head, rows))


def render_claims_page(entries: Sequence) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">"
            f"<title>Dojo claims — dojosim</title><style>{_CSS}</style></head>\n<body>\n"
            + claims_section(entries) + "\n</body></html>\n")
