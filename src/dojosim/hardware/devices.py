"""Resize a system to N accelerators: a slice of the preset, or copies of its top level.

- N equal to the preset: unchanged.
- N larger: N must be a multiple of the preset's chips; that many copies of the top level are
  joined under the preset's ``scale_out`` level (DGX nodes under an InfiniBand fat tree,
  ExaPODs under Ethernet).
- N smaller: the slice keeps every level it fills completely plus one partial level holding
  k of its children. A partial level keeps its topology kind (a mesh2d slice must be a
  rectangle inside the original shape) and a pro-rata share of its overheads and pools.
  Levels above the slice are dropped.
Counts that cannot be built this way are a `SpecError` on ``devices``.
"""
from __future__ import annotations

import math

from ..errors import SpecError
from .schema import Level, Source, System, Topology


def _sub_shape(shape: tuple[int, ...], k: int) -> tuple[int, ...] | None:
    """The most compact shape with product k that fits inside ``shape`` (dimension by dimension)."""
    best = None
    def rec(i: int, left: int, acc: tuple[int, ...]):
        nonlocal best
        if i == len(shape):
            if left == 1 and (best is None or max(acc) < max(best)):
                best = acc
            return
        for d in range(1, min(shape[i], left) + 1):
            if left % d == 0:
                rec(i + 1, left // d, acc + (d,))
    rec(0, k, ())
    return best


def _grid(n: int, dims: int) -> tuple[int, ...]:
    """A near-square shape with ``dims`` dimensions holding exactly n (for scale-out meshes)."""
    if dims == 1:
        return (n,)
    best = (1,) * (dims - 1) + (n,)
    for a in range(1, int(round(n ** (1 / dims))) + 2):
        if n % a == 0:
            rest = _grid(n // a, dims - 1)
            cand = tuple(sorted((a,) + rest))
            if max(cand) < max(best):
                best = cand
    return best


def _topology_for(topo: Topology, k: int, path: str, what: str) -> Topology:
    if topo.kind in ("switch", "fat_tree"):
        return topo.model_copy(update={"shape": None})
    if topo.kind == "ring":
        return topo.model_copy(update={"shape": (k,) if topo.shape else None})
    if topo.shape is None:  # scale-out mesh/torus: choose a near-square grid
        return topo.model_copy(update={"shape": _grid(k, 2 if topo.kind == "mesh2d" else 3)})
    sub = _sub_shape(topo.shape, k)
    if sub is None:
        raise SpecError(path, f"{what}: {k} children do not form a block inside the {topo.kind} "
                              f"{'x'.join(map(str, topo.shape))}")
    return topo.model_copy(update={"shape": sub})


def _sources_for_slice(sources: dict[str, Source], keep: int) -> dict[str, Source]:
    """Keep chip/rack/scale_out sources and those of levels[0..keep-1]."""
    out = {}
    for path, src in sources.items():
        if path.startswith("levels["):
            idx = int(path[len("levels["):path.index("]")])
            if idx >= keep:
                continue
        out[path] = src
    return out


def with_devices(system: System, devices: int) -> System:
    """``system`` resized to ``devices`` accelerators (see the module docstring)."""
    if isinstance(devices, bool) or not isinstance(devices, int) or devices <= 0:
        raise SpecError("devices", f"must be a positive whole number, got {devices!r}")
    total = system.chips
    if devices == total:
        return system
    if devices > total:
        return _scale_out(system, devices)
    return _slice(system, devices)


def _scale_out(system: System, devices: int) -> System:
    total = system.chips
    so = system.scale_out
    if so is None:
        raise SpecError("devices", f"{system.name} has {total} chips and no scale_out level; "
                                   f"use at most {total} devices")
    if devices % total:
        lo, hi = devices // total * total, (devices // total + 1) * total
        raise SpecError("devices", f"{devices} does not tile {system.name}: it grows in steps of "
                                   f"{total} chips (e.g. {lo or total} or {hi})")
    k = devices // total
    i = len(system.levels)
    level = Level(
        name=so.name, children=k, topology=_topology_for(so.topology, k, "devices", system.name),
        link_bandwidth=so.link_bandwidth, latency_s=so.latency_s,
        power_overhead_w=so.power_per_child_w * k, cost_overhead_usd=so.cost_per_child_usd * k,
    )
    sources = dict(system.sources)
    rename = {"link_bandwidth": "link_bandwidth", "latency_s": "latency_s", "topology": "topology",
              "power_per_child_w": "power_overhead_w", "cost_per_child_usd": "cost_overhead_usd"}
    for path, src in system.sources.items():
        if path.startswith("scale_out."):
            field = path[len("scale_out."):]
            head = field.split(".")[0]
            if head in rename:
                sources[f"levels[{i}].{rename[head]}{field[len(head):]}"] = src
    return system.model_copy(update={"levels": [*system.levels, level], "sources": sources})


def _slice(system: System, devices: int) -> System:
    levels = system.levels
    # innermost level that holds at least `devices` chips
    i = next(j for j in range(len(levels)) if system.level_chips(j) >= devices)
    if system.level_chips(i) == devices:
        return system.model_copy(update={"levels": list(levels[: i + 1]),
                                         "sources": _sources_for_slice(system.sources, i + 1)})
    per_child = system.level_chips(i - 1)
    lv = levels[i]
    if devices % per_child:
        raise SpecError("devices", f"{devices} does not tile {system.name}: level {lv.name!r} is built "
                                   f"of {per_child}-chip parts, so use a multiple of {per_child}")
    k = devices // per_child
    share = k / lv.children
    pools = [p.model_copy(update={"count": max(1, math.ceil(p.count * share))}) for p in lv.memory_pools]
    part = lv.model_copy(update={
        "children": k,
        "topology": _topology_for(lv.topology, k, "devices", f"{devices} does not tile {system.name} ({lv.name})"),
        "memory_pools": pools,
        "power_overhead_w": lv.power_overhead_w * share,
        "cost_overhead_usd": lv.cost_overhead_usd * share,
        # a slice owns its share of the level's NICs and host links (one GPU of a DGX: one NIC)
        "egress_bandwidth": lv.egress_bandwidth * share if lv.egress_bandwidth else None,
        "host_input_bandwidth": lv.host_input_bandwidth * share if lv.host_input_bandwidth else None,
        "hosts": max(1, math.ceil(lv.hosts * share)) if lv.hosts else None,
        "zplane_bandwidth": lv.zplane_bandwidth * share if lv.zplane_bandwidth else None,
    })
    return system.model_copy(update={"levels": [*levels[:i], part],
                                     "sources": _sources_for_slice(system.sources, i + 1)})
