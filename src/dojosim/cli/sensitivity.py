"""`dojosim sensitivity RUN.yaml [OTHER.yaml]`: which assumed figures the answer depends on."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import SpecError
from ._app import FORCE_OPTION, JSON_OPTION, app, check_plot_dir, console, emit_json, print_table, wrote

# Rows of the text table (the --json output and the chart list every driver that moves).
TABLE_ROWS = 15


@app.command("sensitivity")
def sensitivity_cmd(
    runs: List[Path] = typer.Argument(..., help="A run file; or two (a compare-style pair: the swing "
                                                "of the second's throughput over the first's)."),
    json_: bool = JSON_OPTION,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the tornado chart (PNG + SVG) into "
                                                             "this directory."),
    force: bool = FORCE_OPTION,
) -> None:
    """Swing each assumed figure alone to its low and high end and show how far the step time (and,
    for two runs, their throughput ratio) moves, biggest swing first.

    Example: dojosim sensitivity examples/fsd-dojo-exapod.yaml examples/fsd-h100-equal-exapod.yaml
    """
    from ..plan.sensitivity import sensitivity
    from ..run import load_run

    if len(runs) > 2:
        raise SpecError("runs", f"give one run file, or two to compare; got {len(runs)}")
    check_plot_dir(plot, force)
    loaded = [load_run(p) for p in runs]
    result = sensitivity(loaded)
    paths = []
    if plot is not None:
        from ..report.tornado import plot_tornado

        paths = plot_tornado(result, plot, force=force)
    if json_:
        out = result.to_dict()
        if paths:
            out["plots"] = [str(p) for p in paths]
        emit_json(out)
        return
    _print(result)
    wrote(paths)


# Units of preset figures, by the ending of their field name (the hardware schema's convention).
_PRESET_UNITS = (("bandwidth", "bandwidth"), ("_rate", "bandwidth"), ("_s", "time"), ("_w", "power"),
                 ("_usd", "money"), ("_bytes", "bytes"), ("flops", "flops"))


def _with_unit(value: float, name: str) -> str:
    """A swung figure in its unit: an Assumptions field's declared unit, or a preset figure's by
    its name (``dojo-exapod: levels[1].host_core_rate`` is a bandwidth); a bare number otherwise."""
    from ..assumptions import FIELDS
    from ..units import format as fmt

    info = FIELDS.get(name)
    if info is not None:
        dim = {"s": "time"}.get(info.unit, info.unit)
    else:
        field = name.rsplit(".", 1)[-1]
        dim = next((d for end, d in _PRESET_UNITS if field.endswith(end)), "")
    return fmt(value, dim) if dim else f"{value:.4g}"


def _print(result) -> None:
    from ..report.table import Col
    from ..units import format_time

    pair = result.ratio is not None
    moving = [d for d in result.drivers if d.swing > 0]
    cols = [Col("assumed figure", "left", wrap=True), Col("low"), Col("high")]
    if pair:   # the ratio is the answer here; --json also has the first run's step times
        cols += [Col("ratio at low"), Col("ratio at high")]
    else:
        cols += [Col("step at low"), Col("step at high")]
    rows = []
    for d in moving[:TABLE_ROWS]:
        row = [d.name, _with_unit(d.low, d.name), _with_unit(d.high, d.name)]
        if pair:
            row += [f"{d.ratio_low:.3g}x", f"{d.ratio_high:.3g}x"]
        else:
            row += [format_time(d.step_time_low_s), format_time(d.step_time_high_s)]
        rows.append(row)
    what = (f"throughput of {result.runs[1]} over {result.runs[0]}: {result.ratio:.3g}x" if pair
            else f"step time of {result.runs[0]}: {format_time(result.step_time_s)}")
    print_table(f"sensitivity of the {what}", cols, rows)
    rest = len(moving) - len(rows)
    still = len(result.drivers) - len(moving)
    if rest:
        console.print(f"{rest} more drivers move it less (--json lists them).", markup=False)
    if still:
        console.print(f"{still} assumed figures do not move it at all"
                      + (" at this host count (the step waits on the hosts)." if result.input_bound else "."),
                      markup=False)
    if result.input_bound is not None:
        _print_fed(result)
    if result.unranged:
        console.print(f"{len(result.unranged)} assumed preset figures carry no range and are not swung "
                      "(--json lists them).", markup=False)
    console.print("Each figure alone at the low/high end of its range, all others at their point value; "
                  "the runs keep their splits.", markup=False)


def _print_fed(result) -> None:
    """The other side of an input bound: what moves the answer once the hosts keep up."""
    from ..report.table import Col
    from ..units import format_time

    b, pair = result.input_bound, result.ratio is not None
    fed = sorted((d for d in result.drivers if d.fed_swing > 0), key=lambda d: -d.fed_swing)
    rows = [[d.name, _with_unit(d.low, d.name), _with_unit(d.high, d.name)]
            + ([f"{d.fed_ratio_low:.3g}x", f"{d.fed_ratio_high:.3g}x"] if pair
               else [format_time(d.fed_step_time_low_s), format_time(d.fed_step_time_high_s)])
            for d in fed[:TABLE_ROWS]]
    hosts = f"{b.hosts_needed:,} hosts on PCIe" + (f" + {b.zplane_hosts_needed:,} over the Z-plane"
                                                      if b.zplane_hosts_needed else "")
    at = ("ratio", f"{b.fed_ratio:.3g}x") if pair else ("step", format_time(b.fed_step_time_s))
    cols = [Col("assumed figure", "left", wrap=True), Col("low"), Col("high"), Col(f"{at[0]} at low"),
            Col(f"{at[0]} at high")]
    print_table(f"once the hosts of {result.runs[0]} keep up: {at[0]} {at[1]}", cols, rows)
    console.print(f"{result.runs[0]} is input-bound: {b.hosts:,} hosts feed its {b.level}s; {hosts} would "
                  "remove the bound. Beyond that the figures above set the answer (--json: "
                  f"fed_{'ratio' if pair else 'step_time'}_low/high).", markup=False)
