"""Capacity by peak: how many chips, racks, watts and dollars reach a FLOP/s target.

chips = ceil(target / per-chip peak) for the chosen dtype; racks = ceil(chips / chips per rack);
power and price are those of whole racks, each rack costed as the preset's ``rack.system``
(e.g. a D1 rack is a dojo-cabinet) or as the preset resized to one rack's chips (4 DGX nodes
with their share of the InfiniBand fabric). Peak only: no utilisation is applied here.
"""
from __future__ import annotations

import math

from .. import units
from ..errors import SpecError
from ..limits import MAX_DEVICES
from .devices import with_devices
from .presets import load_system
from .schema import System


def chips_for(target_flops: float, peak_per_chip: float) -> int:
    """Smallest chip count whose peak reaches the target (rounding noise ignored); at least one
    chip for any positive target, and a `SpecError` when the count is not a finite number."""
    ratio = target_flops / peak_per_chip
    if not math.isfinite(ratio) or ratio > MAX_DEVICES * 1e6:
        raise SpecError("target", f"{target_flops:g} FLOP/s needs {ratio:g} chips of {peak_per_chip:g} FLOP/s, "
                                  f"more than dojosim counts ({MAX_DEVICES * 1e6:g})")
    return max(1, math.ceil(round(ratio, 6))) if target_flops > 0 else 0


def _rack_system(system: System) -> tuple[str, int, System]:
    rack = system.rack
    if rack is None:  # no packaging unit given: the preset itself is the unit
        return (system.levels[-1].name if system.levels else system.chip.name), system.chips, system
    if rack.system:
        return rack.name, rack.chips, load_system(rack.system)
    try:
        return rack.name, rack.chips, with_devices(system, rack.chips)
    except SpecError:
        return rack.name, rack.chips, system  # costed pro rata from the preset below


def _assumed_any(system: System, prefixes: tuple[str, ...]) -> bool:
    return any(s.assumed for p, s in system.sources.items() if p.startswith(prefixes))


def _figures(system: System, rack_sys: System, rack_chips: int, target_flops: float, dtype: str) -> dict:
    """Chips, racks, watts and dollars that reach ``target_flops`` of ``dtype`` peak."""
    peak = system.chip.peak_flops.get(dtype)
    chips = chips_for(target_flops, peak)
    racks = math.ceil(chips / rack_chips)
    # Whole racks are bought; a rack system of a different size is scaled to the rack's chips.
    scale = rack_chips / rack_sys.chips
    return {"chips": chips, "racks": racks, "power_w": racks * rack_sys.power_w * scale,
            "price_usd": racks * rack_sys.price_usd * scale}


def capacity_row(ref: str, target_flops: float, dtype: str, samples: int = 0, seed: int = 0) -> dict:
    """One answer row for one preset (or system file); with ``samples`` > 0 also the p10/p50/p90
    ``ranges`` of its figures over the preset's ranged assumed figures (`dojosim.ranges`)."""
    system = load_system(ref)
    peak = system.chip.peak_flops.get(dtype)
    if not peak:
        have = ", ".join(system.chip.peak_flops) or "none"
        raise SpecError("chips", f"{ref} ({system.chip.name}) has no {dtype} peak (it has: {have})")
    rack_name, rack_chips, rack_sys = _rack_system(system)
    fig = _figures(system, rack_sys, rack_chips, target_flops, dtype)
    chips, racks = fig["chips"], fig["racks"]
    power_per_rack = fig["power_w"] / racks
    price_per_rack = fig["price_usd"] / racks
    assumed = []
    if system.sources.get("rack") is not None and system.sources["rack"].assumed or (
            system.sources.get("rack.chips") and system.sources["rack.chips"].assumed):
        assumed.append("racks")
    if _assumed_any(rack_sys, ("chip.tdp_w",)) or any(
            s.assumed for p, s in rack_sys.sources.items() if p.endswith("power_overhead_w")):
        assumed.append("power_w")
    if _assumed_any(rack_sys, ("chip.price_usd",)) or any(
            s.assumed for p, s in rack_sys.sources.items() if p.endswith("cost_overhead_usd")):
        assumed.append("price_usd")
    if system.sources.get(f"chip.peak_flops.{dtype}") and system.sources[f"chip.peak_flops.{dtype}"].assumed:
        assumed.append("chips")
    row = {
        "system": ref,
        "chip": system.chip.name,
        "dtype": dtype,
        "target_flops": target_flops,
        "peak_per_chip": peak,
        "chips": chips,
        "peak_flops": chips * peak,
        "rack": rack_name,
        "chips_per_rack": rack_chips,
        "racks": racks,
        "chips_installed": racks * rack_chips,
        "rack_system": rack_sys.name,
        "power_w": racks * power_per_rack,
        "price_usd": racks * price_per_rack,
        "power_per_chip_w": power_per_rack / rack_chips,
        "price_per_chip_usd": price_per_rack / rack_chips,
        "assumed": assumed,
    }
    if samples:
        from ..ranges import sample

        same = rack_sys is system
        sampled = sample(lambda a, d: _figures(d[0], d[0] if same else d[1], rack_chips, target_flops, dtype),
                         [system] if same else [system, rack_sys], samples=samples, seed=seed)
        row["ranges"] = {k: (v.to_dict() if v else None) for k, v in sampled.outputs.items()}
        row["range"] = row["ranges"]["power_w"]
        row["range_samples"] = sampled.to_dict()
    return row


def capacity_by_peak(target: str | float, dtype: str, systems: list[str], samples: int = 0,
                     seed: int = 0) -> list[dict]:
    """Rows of `capacity_row` for each system; ``target`` like "100 EFLOPS"."""
    target_flops = units.parse(target, "flops", path="target")
    if target_flops <= 0:
        raise SpecError("target", f"must be positive, got {target!r}")
    if not systems:
        raise SpecError("chips", "name at least one preset, e.g. --chips d1,h100-dgx")
    return [capacity_row(ref, target_flops, dtype, samples, seed) for ref in systems]
