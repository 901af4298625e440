"""Resize a system to N accelerators: a slice of the preset, or copies of its top level.

- N equal to the preset: unchanged.
- N larger: a multiple of the preset's chips is that many copies of the top level, joined under
  the preset's ``scale_out`` level (DGX nodes under an InfiniBand fat tree, ExaPODs under
  Ethernet). Otherwise N is split into the fewest equal slices, one per copy, each a slice as
  below made of whole units of the innermost level (whole cubes, tiles, nodes): two TPU v4 pods
  running 3,072 chips each, joined over the data-centre network, which is then costed at the
  slices' share of each copy's scale-out bandwidth (their hosts' share of the network).
- N smaller: the slice keeps every level it fills completely plus one partial level holding
  k of its children. A partial level keeps its topology kind (a mesh2d slice must be a
  rectangle inside the original shape; a torus wired by optical switches, TPU v4's pod, takes
  the near-cubic torus of k children the switches would build) and a pro-rata share of its
  overheads and pools. When k whole children do not make N (7 Dojo tiles inside an ExaPOD,
  whose children are 150-chip trays), the slice is N / u units of the largest inner level u that
  divides N, joined in a near-square grid by the slowest link and the longest latency of the
  levels it spans (a conservative reading: such a slice crosses those levels' boundaries).
  Levels above the slice are dropped.
Counts that cannot be built this way are a `SpecError` on ``devices``.
"""
from __future__ import annotations

import math

from ..errors import SpecError
from ..limits import MAX_DEVICES, check_int
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
    if topo.reconfigurable:
        # Optical circuit switches wire the k children into a torus of their own; the most
        # nearly cubic shape keeps the diameter (and the ring lengths) shortest.
        return topo.model_copy(update={"shape": _grid(k, len(topo.shape) if topo.shape else 3)})
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
    check_int(devices, "devices", high=MAX_DEVICES)
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
    share = 1.0
    if devices % total:
        k = -(-devices // total)      # the fewest copies that hold N
        unit = system.level_chips(0) if system.levels else 1
        piece = devices // k
        if devices % k == 0 and piece % unit == 0:
            system = _slice(system, piece)
            share = piece / total
        elif so.topology.kind == "mesh2d" and devices % unit == 0:
            # the scale-out network is the same mesh continued (Dojo's tile mesh): whole units
            # of the inner levels may span copies; cut the slice out of k joined copies
            return _slice(_scale_out(system, k * total), devices)
        else:
            lo, hi = devices // total * total, (devices // total + 1) * total
            name = system.levels[0].name if system.levels else "chip"
            raise SpecError("devices", f"{devices} does not tile {system.name}: neither a multiple of "
                                       f"{total} chips (e.g. {lo or total} or {hi}) nor {k} equal slices "
                                       f"of whole {unit}-chip {name}s, one per copy")
    k = devices // system.chips
    i = len(system.levels)
    level = Level(
        name=so.name, children=k, topology=_topology_for(so.topology, k, "devices", system.name),
        link_bandwidth=so.link_bandwidth * share, latency_s=so.latency_s,
        power_overhead_w=so.power_per_child_w * share * k, cost_overhead_usd=so.cost_per_child_usd * share * k,
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
    what = f"{devices} does not tile {system.name} ({lv.name})"
    if devices % per_child == 0:
        k = devices // per_child
        try:
            topo = _topology_for(lv.topology, k, "devices", what)
        except SpecError:
            topo = None           # no block of k children inside the shape: try smaller units
        if topo is not None:
            part = _shared(lv, k / lv.children).model_copy(update={"children": k, "topology": topo})
            return system.model_copy(update={"levels": [*levels[:i], part],
                                             "sources": _sources_for_slice(system.sources, i + 1)})
    return _unit_slice(system, i, devices)


def _shared(lv: Level, share: float) -> Level:
    """``lv`` with a ``share`` of its pools, overheads, NICs and host links (a slice owns its
    share: one GPU of a DGX gets one NIC)."""
    return lv.model_copy(update={
        "memory_pools": [p.model_copy(update={"count": max(1, math.ceil(p.count * share))})
                         for p in lv.memory_pools],
        "power_overhead_w": lv.power_overhead_w * share,
        "cost_overhead_usd": lv.cost_overhead_usd * share,
        "egress_bandwidth": lv.egress_bandwidth * share if lv.egress_bandwidth else None,
        "host_input_bandwidth": lv.host_input_bandwidth * share if lv.host_input_bandwidth else None,
        "hosts": max(1, math.ceil(lv.hosts * share)) if lv.hosts else None,
        "zplane_bandwidth": lv.zplane_bandwidth * share if lv.zplane_bandwidth else None,
    })


def _unit_slice(system: System, i: int, devices: int) -> System:
    """``devices`` chips as whole units of the largest inner level dividing them (Dojo: tiles),
    joined in a near-square grid by the slowest link of the levels ``j+1 .. i`` they span."""
    levels = system.levels
    j = next((u for u in range(i - 1, -1, -1) if devices % system.level_chips(u) == 0), None)
    if j is None:
        unit = system.level_chips(0)
        raise SpecError("devices", f"{devices} does not tile {system.name}: a slice is made of whole "
                                   f"{levels[0].name}s, so use a multiple of {unit}")
    k = devices // system.level_chips(j)
    spanned = levels[j + 1: i + 1]
    first = spanned[0]
    topo = first.topology
    if topo.kind in ("mesh2d", "torus"):
        topo = topo.model_copy(update={"shape": _grid(k, 2 if topo.kind == "mesh2d" else len(topo.shape or (0, 0, 0)))})
    # Pools, hosts and overheads: each spanned level's per-chip share, for `devices` chips.
    shares = [_shared(lv, devices / system.level_chips(j + 1 + n)) for n, lv in enumerate(spanned)]

    def total(field: str):
        vals = [getattr(x, field) for x in shares if getattr(x, field)]
        return sum(vals) if vals else None

    part = first.model_copy(update={
        "children": k, "topology": topo,
        "link_bandwidth": min(lv.link_bandwidth for lv in spanned),
        "latency_s": max(lv.latency_s for lv in spanned),
        "memory_pools": [p for x in shares for p in x.memory_pools],
        "power_overhead_w": sum(x.power_overhead_w for x in shares),
        "cost_overhead_usd": sum(x.cost_overhead_usd for x in shares),
        "egress_bandwidth": shares[-1].egress_bandwidth,
        "host_input_bandwidth": total("host_input_bandwidth"),
        "hosts": total("hosts"),
        "zplane_bandwidth": total("zplane_bandwidth"),
    })
    return system.model_copy(update={"levels": [*levels[: j + 1], part],
                                     "sources": _sources_for_slice(system.sources, j + 2)})
