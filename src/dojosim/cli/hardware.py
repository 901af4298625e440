"""CLI commands on the hardware model: `systems`, `show`, `capacity`."""
from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .. import units
from ..errors import SpecError
from ._app import ASSUMED_LEGEND, JSON_OPTION, app, approx as _est, console, emit_json, mark as _mark, print_table
from ._ranges import RANGE_NOTE, SAMPLES_OPTION, SEED_OPTION, span

_BEST_DTYPES = ("bf16", "cfp8", "fp16", "int8", "fp32")


def _q(system, path: str, value: float | None, dim: str, binary: bool = False) -> str:
    """A preset figure with its range and assumed mark; ``binary``: bytes in GiB (HBM, as vendors state it)."""
    if value is None:
        return "-"
    src = system.sources.get(path)
    text = units.format(value, dim, binary=binary)
    if src is not None and src.range:
        text += f" [{units.format(src.range[0], dim, binary=binary)} – {units.format(src.range[1], dim, binary=binary)}]"
    return _mark(text, bool(src and src.assumed))


def _main_dtype(peaks: dict) -> str:
    return next((d for d in _BEST_DTYPES if d in peaks), next(iter(peaks)))


@app.command("systems")
def systems(json_out: bool = JSON_OPTION) -> None:
    """List the built-in hardware presets.

    Example: dojosim systems
    """
    from ..hardware import list_presets, load_system

    rows = []
    for name in list_presets():
        t = load_system(name).totals()
        rows.append({k: t[k] for k in ("name", "description", "chip", "chips", "peak_flops", "sram_bytes",
                                       "dram_bytes", "power_w", "price_usd", "assumed_totals")})
    if json_out:
        emit_json(rows)
        return
    from ..report.table import Col

    cols = [Col("name", "left"), Col("chip", "left", wrap=True), Col("chips"), Col("peak", wrap=True), Col("SRAM"),
            Col("HBM"), Col("power"), Col("price")]
    table = []
    for r in rows:
        dt = _main_dtype(r["peak_flops"])
        est = set(r["assumed_totals"])
        table.append([r["name"], r["chip"], f"{r['chips']:,}",
                      _est(f"{units.format(r['peak_flops'][dt], 'flops')} {dt}", f"peak_flops.{dt}" in est),
                      _est(units.format(r["sram_bytes"], "bytes"), "sram_bytes" in est),
                      _est(units.format_gib(r["dram_bytes"]), "dram_bytes" in est),
                      _est(units.format(r["power_w"], "power"), "power_w" in est),
                      _est(units.format(r["price_usd"], "money"), "price_usd" in est)])
    print_table("dojosim presets (use: dojosim show NAME [--devices N])", cols, table)
    console.print(ASSUMED_LEGEND + " HBM (or DRAM) in GiB, as vendors state it: an '80 GB' H100 holds 80 GiB.", markup=False)


def _show_tree(system, t: dict) -> Tree:
    est = set(t["assumed_totals"])
    tree = Tree(Text.assemble((system.name, "bold"), f" — {t['chips']:,} × {system.chip.name}"))
    for i in range(len(system.levels) - 1, -1, -1):
        lv, lt = system.levels[i], t["levels"][i]
        p = f"levels[{i}]"
        shape = "x".join(map(str, lv.topology.shape)) if lv.topology.shape else ""
        topo = f"{lv.topology.kind}{' ' + shape if shape else ''}"
        if lv.topology.oversubscription > 1:
            topo += f", {lv.topology.oversubscription:g}:1 oversubscribed"
        node = tree.add(Text.assemble((lv.name, "bold"), f" × {lt['instances']:,}: {lv.children} children "
                                      f"({topo}), {lt['chips_per_instance']:,} chips each"))
        node.add(f"link per direction {_q(system, p + '.link_bandwidth', lv.link_bandwidth, 'bandwidth')}, "
                 f"latency {_q(system, p + '.latency_s', lv.latency_s, 'time')}")
        node.add(f"injection {units.format(lt['injection_bandwidth'], 'bandwidth')}, "
                 f"bisection {units.format(lt['bisection_bandwidth'], 'bandwidth')} per instance")
        if lv.egress_bandwidth:
            node.add(f"egress per direction {_q(system, p + '.egress_bandwidth', lv.egress_bandwidth, 'bandwidth')}")
        if lv.host_input_bandwidth:
            node.add(f"host input {_q(system, p + '.host_input_bandwidth', lv.host_input_bandwidth, 'bandwidth')}")
        if lv.hosts:
            node.add(f"{_q(system, p + '.hosts', lv.hosts, 'count')} hosts × "
                     f"{_q(system, p + '.host_cores', lv.host_cores or 0, 'count')} cores × "
                     f"{_q(system, p + '.host_core_rate', lv.host_core_rate or 0.0, 'bandwidth')} per core"
                     + (f"; Z-plane {_q(system, p + '.zplane_bandwidth', lv.zplane_bandwidth, 'bandwidth')}"
                        if lv.zplane_bandwidth else ""))
        for j, pool in enumerate(lv.memory_pools):
            pp = f"{p}.memory_pools[{j}]"
            node.add(f"{_q(system, pp + '.count', pool.count, 'count')} × {pool.name}: "
                     f"{_q(system, pp + '.capacity_bytes', pool.capacity_bytes, 'bytes', binary=True)}, "
                     f"{_q(system, pp + '.bandwidth', pool.bandwidth, 'bandwidth')}, "
                     f"link {_q(system, pp + '.link_bandwidth', pool.link_bandwidth, 'bandwidth')}")
        if lv.power_overhead_w or lv.cost_overhead_usd:
            node.add(f"overhead {_q(system, p + '.power_overhead_w', lv.power_overhead_w, 'power')}, "
                     f"{_q(system, p + '.cost_overhead_usd', lv.cost_overhead_usd, 'money')} per instance")
    c = system.chip
    chip = tree.add(Text(f"chip {c.name}", style="bold"))
    chip.add("peak " + ", ".join(f"{d} {_q(system, f'chip.peak_flops.{d}', v, 'flops')}"
                                 for d, v in c.peak_flops.items()))
    chip.add(f"SRAM {_q(system, 'chip.sram_bytes', c.sram_bytes, 'bytes')} at "
             f"{_q(system, 'chip.sram_bandwidth', c.sram_bandwidth, 'bandwidth')}")
    if c.dram_bytes:
        chip.add(f"HBM/DRAM {_q(system, 'chip.dram_bytes', c.dram_bytes, 'bytes', binary=True)} at "
                 f"{_q(system, 'chip.dram_bandwidth', c.dram_bandwidth, 'bandwidth')}")
    chip.add(f"TDP {_q(system, 'chip.tdp_w', c.tdp_w, 'power')}, price {_q(system, 'chip.price_usd', c.price_usd, 'money')}")
    tot = tree.add(Text("totals", style="bold"))
    tot.add("peak " + ", ".join(_mark(f"{d} {units.format(v, 'flops')}", f"peak_flops.{d}" in est)
                                for d, v in t["peak_flops"].items()))
    tot.add(f"SRAM {_mark(units.format(t['sram_bytes'], 'bytes'), 'sram_bytes' in est)}, "
            f"HBM/DRAM {_mark(units.format_gib(t['dram_bytes']), 'dram_bytes' in est)}, "
            f"memory bandwidth {_mark(units.format(t['memory_bandwidth'], 'bandwidth'), 'memory_bandwidth' in est)}")
    tot.add(f"power {_mark(units.format(t['power_w'], 'power'), 'power_w' in est)}, "
            f"price {_mark(units.format(t['price_usd'], 'money'), 'price_usd' in est)}")
    if system.rack:
        rsrc = system.sources.get("rack.chips")
        tot.add(f"packaged in: {system.rack.name} of {_mark(str(system.rack.chips), bool(rsrc and rsrc.assumed))} chips")
    return tree


@app.command("show")
def show(
    system: str = typer.Argument(..., help="A preset name (see `dojosim systems`) or a YAML file."),
    devices: Optional[int] = typer.Option(None, "--devices", "-n", help="Total accelerators (slices or repeats the preset)."),
    sources: bool = typer.Option(False, "--sources", help="Also list the source of every number."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Draw a system's hierarchy with its totals; assumed figures are marked '≈ … (assumed)'.

    Example: dojosim show dojo-tile --sources
    """
    from ..hardware import load_system

    sys_ = load_system(system, devices=devices)
    t = sys_.totals()
    if json_out:
        t["sources"] = {p: s.model_dump() for p, s in sorted(sys_.sources.items())}
        emit_json(t)
        return
    if sys_.description:
        console.print(sys_.description, markup=False)
    console.print(_show_tree(sys_, t))
    if sources:
        table = Table(title="sources")
        table.add_column("field")
        table.add_column("source")
        for p, s in sorted(sys_.sources.items()):
            # an assumed figure's range comes with the reason for it
            table.add_row(p + (" (assumed)" if s.assumed else ""),
                          s.text + (f"; range: {s.reason}" if s.reason else ""))
        console.print(table)
    elif sys_.assumed:
        console.print(f"{len(sys_.assumed)} figures are assumed; `--sources` lists where each number comes from.")


def _print_workload_rows(rows: list[dict], title: str) -> None:
    from ..report.table import Col
    from ..units import format_number

    cols = [Col("system", "left", wrap=True), Col("devices"), Col("goal met"), Col("split", "left", wrap=True),
            Col("samples/s"), Col("days to train"), Col("power"), Col("price")]
    ranged = any(r.get("ranges") for r in rows)
    if ranged:
        cols += [Col("samples/s p10–p90"), Col("days p10–p90")]
    notes = any(r["note"] for r in rows)
    if notes:
        cols.append(Col("note", "left", wrap=True))
    table = []
    for r in rows:
        a = set(r.get("assumed") or ())
        table.append([r["system"], f"{r['devices']:,}" if r["devices"] else "-", "yes" if r["reachable"] else "no",
                      r["split"], format_number(r["samples_per_s"]),
                      format_number(r["days_to_train"]) if r["days_to_train"] is not None else "-",
                      _est(units.format(r["power_w"], "power"), "power_w" in a) if r["power_w"] else "-",
                      _est(units.format(r["price_usd"], "money"), "price_usd" in a) if r["price_usd"] else "-"]
                     + ([span(_spread(r, "samples_per_s"), format_number),
                         span(_spread(r, "days_to_train"), format_number)] if ranged else [])
                     + ([r["note"] or ""] if notes else []))
    print_table(title, cols, table)
    if ranged:
        console.print(RANGE_NOTE.format(n=next(r for r in rows if r.get("ranges"))["range_samples"]["samples"]),
                      markup=False)
    if any(r.get("assumed") for r in rows):
        console.print(ASSUMED_LEGEND, markup=False)


def _spread(row: dict, name: str):
    from ..ranges import Spread

    v = (row.get("ranges") or {}).get(name)
    return Spread(**v) if v else None


@app.command("capacity")
def capacity(
    target: Optional[str] = typer.Option(None, "--target", help='Peak to reach, e.g. "100 EFLOPS".'),
    dtype: str = typer.Option("bf16", "--dtype", help="Data type whose peak counts (bf16, fp8, cfp8, ...)."),
    chips: Optional[str] = typer.Option(None, "--chips", help="Comma-separated presets, e.g. d1,a100-80gb-dgx,h100-dgx."),
    workload: Optional[str] = typer.Option(None, "--workload", help="A run YAML: size the machine for this workload instead."),
    train: Optional[str] = typer.Option(None, "--train", help='With --workload: e.g. "1e6 clips in 1 day".'),
    systems_opt: Optional[str] = typer.Option(None, "--systems", help="With --workload: comma-separated presets."),
    json_out: bool = JSON_OPTION,
    samples: int = SAMPLES_OPTION,
    seed: int = SEED_OPTION,
) -> None:
    """How many chips, racks, watts and dollars reach a peak target (or, with --workload, a training goal).

    Example: dojosim capacity --target "100 EFLOPS" --dtype bf16 --chips d1,h100-dgx
    """
    names = [s.strip() for s in (systems_opt or chips or "").split(",") if s.strip()]
    if workload is not None or train is not None:
        if workload is None or train is None:
            raise SpecError("workload" if workload is None else "train",
                            "--workload RUN.yaml and --train \"N samples in T\" go together")
        from ..plan.capacity import capacity_by_workload  # written with the engine

        rows = capacity_by_workload(workload, train, names, samples=samples, seed=seed)
        if json_out:
            emit_json(rows)
        else:
            _print_workload_rows(rows, f"capacity to train {workload}: {train}")
        return
    if target is None:
        raise SpecError("target", 'missing: give --target "100 EFLOPS" (or --workload with --train)')
    from ..hardware.capacity import capacity_by_peak

    rows = capacity_by_peak(target, dtype, names, samples=samples, seed=seed)
    if json_out:
        emit_json(rows)
        return
    from ..report.table import Col

    table = [[r["system"], _est(f"{r['chips']:,}", "chips" in r["assumed"]), f"{r['rack']} ({r['chips_per_rack']})",
              _est(f"{r['racks']:,}", "racks" in r["assumed"]),
              _est(units.format(r["power_w"], "power"), "power_w" in r["assumed"]),
              _est(units.format(r["price_usd"], "money"), "price_usd" in r["assumed"]),
              units.format(r["power_per_chip_w"], "power")] for r in rows]
    print_table(f"capacity for {units.format(rows[0]['target_flops'], 'flops')} peak {dtype}",
                [Col("system", "left"), Col("chips"), Col("rack (chips)", "left", wrap=True), Col("racks"),
                 Col("power"), Col("price"), Col("power/chip")], table)
    if samples:
        from ..report.table import Col

        print_table("p10–p90 over the ranged assumed figures",
                    [Col("system", "left", wrap=True), Col("chips"), Col("power"), Col("price")],
                    [[r["system"], span(_spread(r, "chips"), lambda v: f"{v:,.0f}"),
                      span(_spread(r, "power_w"), lambda v: units.format(v, "power")),
                      span(_spread(r, "price_usd"), lambda v: units.format(v, "money"))] for r in rows])
        console.print(RANGE_NOTE.format(n=samples), markup=False)
    console.print("chips = ceil(target / per-chip peak); power and price are for whole racks; peak only, no utilisation. ≈ = assumed.")
