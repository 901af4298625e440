"""`dojosim sensitivity` as a section of the HTML report: the tornado chart and the table."""
from __future__ import annotations

from .html import _e, _figure, _table

# Rows of the table in the report (the drivers that move the answer most).
MAX_ROWS = 12


def _num(x) -> str:
    return "—" if x is None else f"{x:.4g}"


def sensitivity_section(result) -> str:
    """HTML of a `plan.sensitivity.Sensitivity`."""
    from .tornado import figure_tornado

    pair = result.ratio is not None
    moving = [d for d in result.drivers if d.swing > 0]
    head = ["assumed figure", "low", "high", "step time at low", "step time at high"]
    if pair:
        head += ["ratio at low", "ratio at high"]
    rows = []
    for d in moving[:MAX_ROWS]:
        row = [_e(d.name), _e(_num(d.low)), _e(_num(d.high)), _e(f"{d.step_time_low_s:.4g} s"),
               _e(f"{d.step_time_high_s:.4g} s")]
        if pair:
            row += [_e(_num(d.ratio_low)), _e(_num(d.ratio_high))]
        rows.append(row)
    still = len(result.drivers) - len(moving)
    sub = ("Each assumed figure is moved alone to the low and the high end of its range, everything "
           "else at its point value, and the run re-estimated with its own split. "
           + (f"{still} more assumed figures do not move this answer. " if still else "")
           + (f"{len(result.unranged)} assumed preset figures carry no range and are not swung."
              if result.unranged else ""))
    return ("<h2>Which assumptions the answer depends on</h2>"
            f'<p class="sub">{_e(sub)}</p>'
            + _figure(figure_tornado(result), "sensitivity (tornado)")
            + _table(head, rows) + _fed_section(result))


def _fed_section(result) -> str:
    """An input-bound first run: what moves the answer once its hosts keep up."""
    b, pair = result.input_bound, result.ratio is not None
    if b is None:
        return ""
    fed = sorted((d for d in result.drivers if d.fed_swing > 0), key=lambda d: -d.fed_swing)
    rows = [[_e(d.name), _e(_num(d.low)), _e(_num(d.high))]
            + ([_e(_num(d.fed_ratio_low)), _e(_num(d.fed_ratio_high))] if pair
               else [_e(f"{d.fed_step_time_low_s:.4g} s"), _e(f"{d.fed_step_time_high_s:.4g} s")])
            for d in fed[:MAX_ROWS]]
    point = f"the ratio is {b.fed_ratio:.4g}x" if pair else f"the step is {b.fed_step_time_s:.4g} s"
    sub = (f"{result.runs[0]} is input-bound: {b.hosts:,} hosts feed its {b.level}s, and {b.hosts_needed:,} "
           "on PCIe" + (f" plus {b.zplane_hosts_needed:,} over the Z-plane" if b.zplane_hosts_needed else "")
           + f" would remove the bound. With the hosts keeping up {point}, and these figures move it:")
    what = "ratio" if pair else "step"
    return (f'<p class="sub">{_e(sub)}</p>'
            + _table(["assumed figure", "low", "high", f"{what} at low (fed)", f"{what} at high (fed)"], rows))
