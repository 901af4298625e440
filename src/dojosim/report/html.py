"""One self-contained HTML report of a run: the estimate, its breakdowns, memory, the predicted
timeline, and the workload compared on other systems.

Everything is inline — plots as SVG data URIs (each in its own <img>, so the ids matplotlib puts
inside one SVG cannot clash with another's), CSS in a <style> block, no fonts, scripts or images
fetched from anywhere — so the file opens offline and can be mailed around.
"""
from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

from .. import units
from ..engine.result import BREAKDOWN_KEYS, Estimate

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.sub{color:#666}.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#666;font-size:.9em}
.notes li{color:#444}code{background:#f4f4f4;padding:0 .25em}
"""

# Proves in a browser that every inline figure decoded: a broken one is a console error, which
# the end-to-end test looks for; the attribute lets a DOM dump show the check ran.
_SCRIPT = """
window.addEventListener("load", function () {
  var bad = Array.prototype.filter.call(document.images, function (i) {
    return !(i.complete && i.naturalWidth > 0);
  });
  if (bad.length) { console.error("figures failed to render: " + bad.map(function (i) { return i.alt; }).join(", ")); }
  document.body.setAttribute("data-figures", bad.length ? "broken" : "ok");
});
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _t(s) -> str:
    return units.format_time(s) if s is not None else "n/a"


def _pct(x) -> str:
    return f"{x:.1%}" if x is not None else "n/a"


def svg_data_uri(fig) -> str:
    """The figure as an SVG data URI (the figure is closed afterwards)."""
    import matplotlib.pyplot as plt

    from .plots import _plt

    _plt()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    finally:
        plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(fig, caption: str) -> str:
    return (f'<figure><img alt="{_e(caption)}" src="{svg_data_uri(fig)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _table(head: Sequence[str], rows: Sequence[Sequence]) -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def summary_rows(est: Estimate) -> list[tuple[str, str]]:
    m = est.memory
    rows = [("step time", _t(est.step_time_s)),
            ("samples / s", f"{est.samples_per_s:,.4g}"),
            ("tokens / s", f"{est.tokens_per_s:,.4g}" if est.tokens_per_s else "n/a"),
            ("model FLOPs / step", units.format(est.model_flops_per_step, "flop")),
            ("MFU / HFU", f"{_pct(est.mfu)} / {_pct(est.hfu)}"),
            ("memory per device", f"{units.format(m.per_device_bytes, 'bytes')} of "
                                  f"{units.format(m.capacity_bytes, 'bytes')} "
                                  + ('<span class="ok">fits</span>' if m.fits else '<span class="bad">does not fit</span>')),
            ("energy / step", units.format(est.energy_j_per_step, "energy")),
            ("power", units.format(est.power_w, "power"))]
    if est.cost_usd_per_step is not None:
        rows.append(("cost / step", units.format(est.cost_usd_per_step, "money")))
    rows.append(("schedule", f"{est.pipeline_stages} pipeline stage(s) x {est.micro_batches} micro-batches"
                             + (f", interleave {est.interleave}" if est.interleave > 1 else "")))
    return [(k, v if "<span" in v else _e(v)) for k, v in rows]


# The trace rides along inside the page up to this size; beyond it the page would be mostly
# trace, and `dojosim trace` writes it on its own.
MAX_EMBEDDED_TRACE_BYTES = 3_000_000


def _trace_link(doc: dict) -> str:
    """A download link carrying the trace itself (a data URI), or how to write it."""
    import json

    data = json.dumps(doc, separators=(",", ":")).encode()
    how = "<code>dojosim trace RUN.yaml -o step.json</code> writes the same timeline for ui.perfetto.dev."
    if len(data) > MAX_EMBEDDED_TRACE_BYTES:
        return how
    uri = "data:application/json;base64," + base64.b64encode(data).decode("ascii")
    return (f'<a download="step.json" href="{uri}">Download this timeline as a Perfetto trace</a> '
            f"({len(data) / 1e3:,.0f} kB; open it in ui.perfetto.dev), or: {how}")


def _estimate_section(est: Estimate, model=None, system=None) -> str:
    from . import plots
    from .gantt import figure_gantt
    from .timeline import timeline

    parts = ["<h2>Estimate</h2>", _table(["", "value"], summary_rows(est))]
    total = est.step_time_s or 1.0
    brows = [(_e(k), _e(_t(est.breakdown.get(k, 0.0))), _e(_pct(est.breakdown.get(k, 0.0) / total)))
             for k in BREAKDOWN_KEYS if est.breakdown.get(k, 0.0) > 0]
    parts += ["<h2>Where the step time goes</h2>", _table(["component", "time", "share"], brows),
              _figure(plots.figure_breakdown([est]), "Step-time breakdown (components add up to the step time)")]
    from .trace import timeline_hints, trace_events

    tl = timeline(est, **timeline_hints(model))
    parts += ["<h2>Predicted timeline of one step</h2>",
              f'<p class="sub">The pipeline schedule replayed micro-batch by micro-batch; grey is idle '
              f"(bubble). Stage 0 idles {_e(_t(tl.bubble_s))} of a {_e(_t(tl.pipeline_s))} pipeline. "
              f"{_trace_link(trace_events(tl, title=f'{est.model} on {est.system}'))}</p>",
              _figure(figure_gantt(tl), "Predicted step timeline (Gantt)")]
    m = est.memory
    mrows = [(_e(k), _e(units.format_gib(v))) for k, v in m.components.items()]
    trows = [(_e(k), _e(units.format_gib(v.get("used", 0.0))), _e(units.format_gib(v.get("capacity", 0.0))))
             for k, v in m.tiers.items()]
    parts += ["<h2>Memory per device</h2>", _table(["component", "memory"], mrows),
              _table(["tier", "used", "capacity"], trows), _figure(plots.figure_memory(est), "Memory per device")]
    if est.stage and est.stage.ops:
        parts.append(_figure(plots.figure_op_times(est), "Time per module, one stage, one micro-batch"))
    if model is not None and system is not None:
        precision = str((est.strategy or {}).get("precision") or "bf16")
        peak, bw = plots.chip_roof(system, precision)
        pts = plots.roofline_points(model, system, precision, est)
        if pts:
            parts.append(_figure(plots.figure_roofline(pts, peak, bw, extra_roofs=plots.pool_roofs(system)),
                                 "Roofline per op on one chip (dashed: its share of memory attached above it)"))
    return "\n".join(parts)


def _approx(text: str, assumed: bool) -> str:
    """An assumed figure as the report shows it: '≈ 2.1 MW (assumed)'."""
    return f"≈ {text} (assumed)" if assumed else text


def _compare_section(rows: Sequence[dict]) -> str:
    from . import plots

    head = ["system", "devices", "power", "price", "split", "step time", "samples/s", "vs ref", "MFU",
            "memory/device", "energy/sample", "$ per 1M samples"]
    body = []
    for r in rows:
        a = set(r.get("assumed") or ())
        first = [_e(r["label"]), _e(f"{r['devices']:,}"), _e(_approx(units.format(r["power_w"], "power"), "power_w" in a)),
                 _e(_approx(units.format(r["price_usd"], "money"), "price_usd" in a) if r.get("price_usd") else "-")]
        if r.get("error"):
            body.append(first + [f'<span class="bad">{_e(r["error"])}</span>'] + [""] * (len(head) - 5))
            continue
        cost = r.get("cost_usd_per_sample")
        body.append(first + [_e(r["split"]),
                     _e(_t(r["step_time_s"])), _e(units.format_number(r["samples_per_s"])),
                     _e(f"{r['relative_samples_per_s']:.2f}x" if r.get("relative_samples_per_s") else "n/a"),
                     _e(_pct(r["mfu"])),
                     _e(units.format_gib(r["memory_per_device_bytes"]))
                     + ("" if r["fits"] else ' <span class="bad">(no fit)</span>'),
                     _e(_approx(units.format(r["energy_j_per_sample"], "energy"), "power_w" in a)),
                     _e(_approx(f"${units.format_number(cost * 1e6)}", "price_usd" in a) if cost is not None else "-")])
    norm = rows[0]["normalize"] if rows else ""
    out = ["<h2>The same workload on other systems</h2>",
           f'<p class="sub">Sized to equal {_e(norm)} with the first row; each system runs the best split '
           f"the search found for it (the first row keeps the run's own split). Cost: the hardware price "
           f"paid off over 4 years, plus electricity. ≈ … (assumed): rests on figures that are not "
           f"published (prices, some power figures).</p>", _table(head, body)]
    ok = [r for r in rows if not r.get("error")]
    if ok:
        out.append(_figure(plots.figure_compare(ok), f"Comparison at equal {norm}"))
    return "\n".join(out)


def render_report(est: Estimate, *, title: str = "", model=None, system=None, compare_rows: Sequence[dict] = (),
                  notes: Sequence[str] = (), run: dict | None = None, claims: Sequence = (),
                  sensitivity=None, cloud: dict | None = None) -> str:
    """The whole report as one HTML string."""
    title = title or f"{est.model} on {est.system}"
    split = ", ".join(f"{k}={v}" for k, v in (est.strategy or {}).items() if v not in (None, False))
    parts = [f"<h1>{_e(title)}</h1>",
             f'<p class="sub">dojosim prediction: {_e(est.devices)} devices; split {_e(split)}</p>',
             _estimate_section(est, model, system)]
    if compare_rows:
        parts.append(_compare_section(compare_rows))
    if claims:
        from .claims_html import claims_section

        parts.append(claims_section(claims))
    if sensitivity is not None:
        from .sensitivity_html import sensitivity_section

        parts.append(sensitivity_section(sensitivity))
    if cloud is not None:
        from .cloud import cloud_section

        parts.append(cloud_section(cloud))
    all_notes = list(est.notes) + list(notes)
    assumed = list(getattr(system, "assumed", []) or [])
    if assumed:
        all_notes.append("assumed (not published) figures in this system: " + ", ".join(assumed))
    if all_notes:
        parts += ["<h2>Notes and assumptions</h2>",
                  '<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in all_notes) + "</ul>"]
    if run:
        import yaml

        parts += ["<h2>The run</h2>", f"<pre>{_e(yaml.safe_dump(run, sort_keys=False))}</pre>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{_e(title)} — dojosim</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(parts) + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")


def write_report(est: Estimate, path: str | Path, *, force: bool = False, **kwargs) -> Path:
    """Write `render_report` to ``path`` through the safe writer; returns the path written."""
    from ..outfile import check_output, write_text

    check_output(path, force=force, what="--output")
    return write_text(path, render_report(est, **kwargs), force=force, what="--output")
