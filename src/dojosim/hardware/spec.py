"""Read a system spec (a dict from YAML) into a `System`, checking every field.

A number in a spec is either a bare value ("362 TFLOPS", 25) or a record
``{value: "362 TFLOPS", source: "...", assumed: false, range: ["50 TOPS", "500 TOPS"], reason: "...", note: "..."}``
(``reason`` says why an assumed figure's range is what it is).
The value is parsed to SI; the rest goes to ``System.sources`` under the field's path. Each
mistake raises a `SpecError` naming that path, so a user sees ``levels[1].children: ...``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from pydantic import ValidationError

from .. import units
from ..errors import SpecError, from_pydantic
from .schema import DTYPES, TOPOLOGY_KINDS, Chip, EfficiencyFigure, Level, MemoryPool, Rack, ScaleOut, Source, System, Topology

_QUANTITY_KEYS = {"value", "source", "assumed", "range", "reason", "note"}
_EFFICIENCY_KEYS = ("value", "source", "assumed", "low", "high", "reason")

# field -> (dimension, rule); rule "pos" > 0, "nonneg" >= 0, "int" positive integer.
_CHIP_FIELDS = {
    "sram_bytes": ("bytes", "nonneg"), "sram_bandwidth": ("bandwidth", "nonneg"),
    "dram_bytes": ("bytes", "nonneg"), "dram_bandwidth": ("bandwidth", "nonneg"),
    "tdp_w": ("power", "pos"), "price_usd": ("money", "nonneg"),
}
_POOL_FIELDS = {
    "count": ("count", "int"), "capacity_bytes": ("bytes", "pos"),
    "bandwidth": ("bandwidth", "pos"), "link_bandwidth": ("bandwidth", "pos"),
}
_LEVEL_FIELDS = {
    "children": ("count", "int"), "link_bandwidth": ("bandwidth", "pos"),
    "latency_s": ("time", "nonneg"), "power_overhead_w": ("power", "nonneg"),
    "cost_overhead_usd": ("money", "nonneg"), "egress_bandwidth": ("bandwidth", "pos"),
    "host_input_bandwidth": ("bandwidth", "pos"), "hosts": ("count", "int"), "host_cores": ("count", "int"),
    "host_core_rate": ("bandwidth", "pos"), "zplane_bandwidth": ("bandwidth", "pos"),
}
_SCALE_FIELDS = {
    "link_bandwidth": ("bandwidth", "pos"), "latency_s": ("time", "nonneg"),
    "power_per_child_w": ("power", "nonneg"), "cost_per_child_usd": ("money", "nonneg"),
}
_RACK_FIELDS = {"chips": ("count", "int")}
_SYSTEM_KEYS = ("name", "description", "chip", "levels", "rack", "scale_out", "notes")


class _Reader:
    """Walks one spec, collecting sources by path."""

    def __init__(self, resolve_chip: Callable[[str, str], tuple[Chip, dict[str, Source]]] | None):
        self.sources: dict[str, Source] = {}
        self.resolve_chip = resolve_chip

    # -- generic pieces -------------------------------------------------------------------
    @staticmethod
    def mapping(raw: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(raw, dict):
            raise SpecError(path, f"expected a mapping with keys {', '.join(allowed)}, got {type(raw).__name__}")
        for key in raw:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                raise SpecError(where, f"unknown key; expected one of: {', '.join(allowed)}")
        for key in required:
            if key not in raw or raw[key] is None:
                raise SpecError(f"{path}.{key}" if path else key, "missing (required)")
        return raw

    def quantity(self, raw: Any, path: str, dim: str, rule: str) -> float:
        src = Source()
        if isinstance(raw, dict):
            self.mapping(raw, path, tuple(sorted(_QUANTITY_KEYS)), ("value",))
            text = raw.get("source", "")
            assumed = raw.get("assumed", False)
            if not isinstance(assumed, bool):
                raise SpecError(f"{path}.assumed", f"must be true or false, got {assumed!r}")
            rng = raw.get("range")
            if rng is not None:
                if not (isinstance(rng, list) and len(rng) == 2):
                    raise SpecError(f"{path}.range", "must be a list [low, high]")
                rng = tuple(units.parse(v, dim, path=f"{path}.range[{i}]") for i, v in enumerate(rng))
                if rng[0] > rng[1]:
                    raise SpecError(f"{path}.range", "low is above high")
            src = Source(text=str(text or ""), assumed=assumed, range=rng, reason=str(raw.get("reason", "") or ""),
                         note=str(raw.get("note", "") or ""))
            raw = raw["value"]
        if raw is None:
            raise SpecError(path, "missing value")
        value = units.parse(raw, dim, path=path)
        if src.range is not None and not src.range[0] <= value <= src.range[1]:
            raise SpecError(f"{path}.range", f"{raw!r} is not within the range it gives")
        if rule == "int":
            if value <= 0 or value != int(value):
                raise SpecError(path, f"must be a positive whole number, got {raw!r}")
            value = int(value)
        elif rule == "pos" and value <= 0:
            raise SpecError(path, f"must be positive, got {raw!r}")
        elif rule == "nonneg" and value < 0:
            raise SpecError(path, f"must not be negative, got {raw!r}")
        self.sources[path] = src
        return value

    def fields(self, raw: dict, path: str, table: dict) -> dict:
        out = {}
        for key, (dim, rule) in table.items():
            if key in raw and raw[key] is not None:
                out[key] = self.quantity(raw[key], f"{path}.{key}" if path else key, dim, rule)
        return out

    @staticmethod
    def name(raw: dict, path: str, key: str = "name") -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise SpecError(f"{path}.{key}" if path else key, "missing or empty name")
        return value

    @staticmethod
    def build(model, data: dict, path: str):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise from_pydantic(exc, path) from None

    # -- the parts ------------------------------------------------------------------------
    def chip(self, raw: Any, path: str = "chip") -> Chip:
        if isinstance(raw, str):  # "chip: d1" borrows the chip of a preset
            if self.resolve_chip is None:
                raise SpecError(path, "a chip given by name needs the preset registry")
            chip, srcs = self.resolve_chip(raw, path)
            self.sources.update({f"{path}{k[len('chip'):]}": s for k, s in srcs.items() if k.startswith("chip")})
            return chip
        allowed = ("name", "peak_flops", "efficiency", *_CHIP_FIELDS)
        raw = self.mapping(raw, path, allowed, ("name", "peak_flops", "tdp_w"))
        flops_raw = raw["peak_flops"]
        if not isinstance(flops_raw, dict) or not flops_raw:
            raise SpecError(f"{path}.peak_flops", f"expected a mapping dtype -> FLOP/s ({', '.join(DTYPES)})")
        peak = {}
        for dtype, v in flops_raw.items():
            if dtype not in DTYPES:
                raise SpecError(f"{path}.peak_flops.{dtype}", f"unknown dtype; expected one of: {', '.join(DTYPES)}")
            peak[dtype] = self.quantity(v, f"{path}.peak_flops.{dtype}", "flops", "pos")
        data = {"name": self.name(raw, path), "peak_flops": peak, **self.fields(raw, path, _CHIP_FIELDS)}
        if raw.get("efficiency") is not None:
            data["efficiency"] = self.efficiency(raw["efficiency"], f"{path}.efficiency")
        for cap, bw in (("dram_bytes", "dram_bandwidth"), ("sram_bytes", "sram_bandwidth")):
            if data.get(cap, 0) > 0 and data.get(bw, 0) <= 0:
                raise SpecError(f"{path}.{bw}", f"must be positive when {cap} is given")
        return self.build(Chip, data, path)

    def efficiency(self, raw: Any, path: str) -> dict[str, EfficiencyFigure]:
        """A chip's own assumption figures: ``name: {value, source}`` or, for an estimate,
        ``name: {value, assumed: true, low, high, reason}`` (see `dojosim.assumptions`)."""
        from ..assumptions import FIELDS, check_value

        if not isinstance(raw, dict):
            raise SpecError(path, "expected a mapping of assumption names to {value, source}")
        out = {}
        for name, entry in raw.items():
            where = f"{path}.{name}"
            if name not in FIELDS:
                check_value(name, None, where)          # raises: unknown name, with suggestions
            entry = self.mapping(entry, where, _EFFICIENCY_KEYS, ("value",))
            value = check_value(name, entry["value"], f"{where}.value")
            assumed = entry.get("assumed", False)
            if not isinstance(assumed, bool):
                raise SpecError(f"{where}.assumed", f"must be true or false, got {assumed!r}")
            low = high = None
            if assumed:
                for key in ("low", "high", "reason"):
                    if entry.get(key) is None:
                        raise SpecError(f"{where}.{key}", "missing (an assumed figure needs low, high and reason)")
                low = check_value(name, entry["low"], f"{where}.low")
                high = check_value(name, entry["high"], f"{where}.high")
                if not low <= value <= high:
                    raise SpecError(where, f"value {value!r} is not within low..high [{low!r}, {high!r}]")
            elif not str(entry.get("source") or "").strip():
                raise SpecError(f"{where}.source", "missing (give a source, or assumed: true with low, high, reason)")
            self.sources[where] = Source(text=str(entry.get("source") or ""), assumed=assumed,
                                         range=(float(low), float(high)) if assumed else None,
                                         reason=str(entry.get("reason") or ""))
            out[name] = EfficiencyFigure(value=value, low=low, high=high)
        return out

    def topology(self, raw: Any, path: str, children: int | None) -> Topology:
        raw = self.mapping(raw, path, ("kind", "shape", "oversubscription", "reconfigurable", "source",
                                       "assumed", "note"), ("kind",))
        kind = raw["kind"]
        if kind not in TOPOLOGY_KINDS:
            raise SpecError(f"{path}.kind", f"unknown topology {kind!r}; expected one of: {', '.join(TOPOLOGY_KINDS)}")
        shape = raw.get("shape")
        if shape is not None:
            if not isinstance(shape, list) or not shape or not all(
                    isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
                raise SpecError(f"{path}.shape", f"must be a list of positive integers, got {shape!r}")
            shape = tuple(shape)
        if kind in ("mesh2d", "torus") and shape is None and children is not None:
            raise SpecError(f"{path}.shape", f"required for a {kind} (e.g. [5, 5])")
        if kind == "mesh2d" and shape is not None and len(shape) != 2:
            raise SpecError(f"{path}.shape", f"a mesh2d has 2 dimensions, got {list(shape)}")
        if shape is not None and children is not None and math.prod(shape) != children:
            raise SpecError(f"{path}.shape", f"{list(shape)} holds {math.prod(shape)} children, but children is {children}")
        over = 1.0
        if raw.get("oversubscription") is not None:
            over = self.quantity(raw["oversubscription"], f"{path}.oversubscription", "count", "pos")
            if over < 1:
                raise SpecError(f"{path}.oversubscription", f"must be >= 1 (1 = non-blocking), got {over:g}")
        if raw.get("source") or raw.get("assumed"):
            self.sources[path] = Source(text=str(raw.get("source") or ""), assumed=bool(raw.get("assumed", False)),
                                        note=str(raw.get("note", "") or ""))
        reconf = raw.get("reconfigurable", False)
        if not isinstance(reconf, bool):
            raise SpecError(f"{path}.reconfigurable", f"must be true or false, got {reconf!r}")
        if reconf and kind != "torus":
            raise SpecError(f"{path}.reconfigurable", f"only a torus is rewired by optical switches, not a {kind}")
        return self.build(Topology, {"kind": kind, "shape": shape, "oversubscription": over,
                                     "reconfigurable": reconf}, path)

    def pool(self, raw: Any, path: str) -> MemoryPool:
        raw = self.mapping(raw, path, ("name", *_POOL_FIELDS), ("name", "count", "capacity_bytes", "bandwidth", "link_bandwidth"))
        return self.build(MemoryPool, {"name": self.name(raw, path), **self.fields(raw, path, _POOL_FIELDS)}, path)

    def level(self, raw: Any, path: str) -> Level:
        allowed = ("name", "topology", "memory_pools", *_LEVEL_FIELDS)
        raw = self.mapping(raw, path, allowed, ("name", "children", "topology", "link_bandwidth", "latency_s"))
        data = {"name": self.name(raw, path), **self.fields(raw, path, _LEVEL_FIELDS)}
        data["topology"] = self.topology(raw["topology"], f"{path}.topology", data["children"])
        pools = raw.get("memory_pools") or []
        if not isinstance(pools, list):
            raise SpecError(f"{path}.memory_pools", "expected a list of pools")
        data["memory_pools"] = [self.pool(p, f"{path}.memory_pools[{j}]") for j, p in enumerate(pools)]
        return self.build(Level, data, path)

    def scale_out(self, raw: Any, path: str = "scale_out") -> ScaleOut:
        allowed = ("name", "topology", *_SCALE_FIELDS)
        raw = self.mapping(raw, path, allowed, ("name", "topology", "link_bandwidth", "latency_s"))
        data = {"name": self.name(raw, path), **self.fields(raw, path, _SCALE_FIELDS)}
        data["topology"] = self.topology(raw["topology"], f"{path}.topology", None)
        return self.build(ScaleOut, data, path)

    def rack(self, raw: Any, path: str = "rack") -> Rack:
        raw = self.mapping(raw, path, ("name", "chips", "system", "source", "assumed", "note"), ("name", "chips"))
        data = {"name": self.name(raw, path), **self.fields(raw, path, _RACK_FIELDS)}
        if raw.get("system") is not None:
            data["system"] = str(raw["system"])
        self.sources[path] = Source(text=str(raw.get("source") or ""), assumed=bool(raw.get("assumed", False)),
                                    note=str(raw.get("note", "") or ""))
        return self.build(Rack, data, path)


def read_system(raw: Any, *, preset: str | None = None, resolve_chip=None) -> System:
    """Turn one spec mapping into a `System` (the preset's own size, no --devices applied)."""
    reader = _Reader(resolve_chip)
    raw = reader.mapping(raw, "", _SYSTEM_KEYS, ("name", "chip"))
    name = reader.name(raw, "")
    chip = reader.chip(raw["chip"])
    levels_raw = raw.get("levels") or []
    if not isinstance(levels_raw, list):
        raise SpecError("levels", "expected a list of levels, innermost first")
    levels = [reader.level(lv, f"levels[{i}]") for i, lv in enumerate(levels_raw)]
    rack = reader.rack(raw["rack"]) if raw.get("rack") is not None else None
    scale = reader.scale_out(raw["scale_out"]) if raw.get("scale_out") is not None else None
    desc = raw.get("description") or ""
    return System(name=name, description=str(desc).strip(), chip=chip, levels=levels, rack=rack,
                  scale_out=scale, sources=reader.sources, preset=preset, notes=str(raw.get("notes") or "").strip())
