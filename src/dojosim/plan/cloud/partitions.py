"""Cutting one machine into tenants' allocations, at each system's natural grain.

Three pools, one interface (`Pool`):

- `MeshPool` (Dojo): the grain is a training tile. Tiles form 2-D meshes (a cabinet is 4 x 3
  tiles: two 2 x 3 trays edge to edge); the meshes ("blocks") are joined only by the Ethernet
  Z-plane. A job of up to one block gets a *rectangle* of free tiles inside one block; a bigger
  job gets whole free blocks joined over the Z-plane. With ``scatter`` a job that finds no
  rectangle may take any free tiles, and is then costed as tiles that talk only over the Z-plane.
- `GroupPool` for GPU clusters: the grain is a whole node; nodes hang off leaf switches in groups.
  A job prefers one leaf group (the fullest that fits) and spans groups when none has room — in a
  non-blocking fat tree that costs the same, so spanning only breaks locality.
- `GroupPool` for TPU v4: the grain is a 4x4x4 cube; the optical switches join any free cubes of
  one pod into a slice, so inside a pod only the count matters. A job bigger than a pod takes
  whole pods over the data-centre network.

An allocation is costed as a `System` of its own (`Pool.system_for`): its levels are the ones it
occupies, its links and pools are its share, so `estimate` sees only the bandwidth it owns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import SpecError
from ...hardware.devices import _sub_shape, with_devices
from ...hardware.schema import Level, System, Topology

# Nodes per leaf switch group of a GPU cluster. NVIDIA's DGX SuperPOD H100 reference architecture
# builds scalable units of 32 nodes; which switch a node hangs off inside one is not modelled.
# Assumed (range 16-64: leaf radix and rail layout vary by site).
GPU_NODES_PER_LEAF = 32
# Mesh blocks of up to this many tiles get precomputed placement tables (2^tiles states each).
TABLE_TILES = 16


@dataclass(frozen=True)
class Allocation:
    """What a running job holds. ``cells`` are global grain indices (tiles, nodes, cubes)."""

    key: tuple            # the partition's shape, which its run time is cached by
    cells: tuple[int, ...]
    blocks: tuple[tuple[int, int], ...] = ()   # (block, mask or count) for release


def _mesh_shape(levels: list[Level]) -> tuple[int, int]:
    """Tile rows x columns of the 2-D mesh the levels above the tile form (until a non-mesh)."""
    rows, cols = 1, 1
    for lv in levels:
        if lv.topology.kind != "mesh2d":
            break
        r, c = lv.topology.shape
        rows, cols = rows * r, cols * c
    return rows, cols


def _per_unit_overheads(system: System, first: int, unit_chips: int) -> tuple[float, float]:
    """Power and cost of levels ``first``.. spread over each unit of ``unit_chips`` chips."""
    power = cost = 0.0
    for i in range(first, len(system.levels)):
        lv = system.levels[i]
        units_in = system.level_chips(i) / unit_chips
        power += lv.power_overhead_w / units_in
        cost += lv.cost_overhead_usd / units_in
    return power, cost


class Pool:
    """The free/used state of one machine at its grain. Subclasses implement the placement."""

    kind = ""
    grain_name = ""

    def __init__(self, system: System, units: int, grain_chips: int):
        self.system = system
        self.units = units
        self.grain_chips = grain_chips
        self.free_units = units
        self.owner = [-1] * units      # job index per grain (for the occupancy map and checks)
        per = system.chips / grain_chips
        self.grain_power_w = system.power_w / per        # chips and overheads, per grain
        self.grain_price_usd = system.price_usd / per

    # --- sizes -------------------------------------------------------------------------
    @property
    def chips(self) -> int:
        return self.units * self.grain_chips

    @property
    def grain_peak(self) -> float:
        """bf16 peak of one grain: requests are in reference GPUs by their bf16 peak."""
        return self.grain_chips * chip_peak(self.system.chip)

    def grains_for(self, flops: float) -> int:
        """Grains whose peak covers a request of ``flops`` (at least one)."""
        return max(1, math.ceil(flops / self.grain_peak - 1e-9))

    def shapes(self, grains: int) -> list[tuple]:
        """Partition shapes a request of ``grains`` may take, smallest first."""
        raise NotImplementedError

    def key_grains(self, key: tuple) -> int:
        raise NotImplementedError

    # --- placement -----------------------------------------------------------------------
    def fits(self, key: tuple) -> bool:
        raise NotImplementedError

    def allocate(self, key: tuple, best: bool) -> Allocation | None:
        raise NotImplementedError

    def release(self, alloc: Allocation) -> None:
        raise NotImplementedError

    def own(self, cells, job: int) -> None:
        """Mark ``cells`` as held by job ``job`` (the occupancy map reads it)."""
        for c in cells:
            self.owner[c] = job

    # --- costing -----------------------------------------------------------------------
    def system_for(self, key: tuple) -> System:
        raise NotImplementedError

    def system_key(self, key: tuple) -> tuple:
        """Names the System `system_for` builds, for caching run times across pools."""
        raise NotImplementedError

    def snapshot(self) -> list[int]:
        return list(self.owner)


class MeshPool(Pool):
    """Dojo tiles in 2-D mesh blocks joined by the Z-plane."""

    kind = "dojo"
    grain_name = "tile"

    def __init__(self, system: System, copies: int = 1, scatter: bool = False):
        if not system.levels or system.levels[0].topology.kind != "mesh2d":
            raise SpecError("system", f"{system.name}: a Dojo cloud needs a tile level (a mesh of D1)")
        tile_chips = system.level_chips(0)
        self.rows, self.cols = _mesh_shape(system.levels[1:])
        self.block_tiles = self.rows * self.cols
        self.mesh_levels = sum(1 for _ in self._mesh_iter(system.levels[1:]))
        units = copies * system.chips // tile_chips
        super().__init__(system, units, tile_chips)
        self.blocks = units // self.block_tiles
        self.scatter = scatter
        self.full = (1 << self.block_tiles) - 1
        self.state = [0] * self.blocks                       # occupied-tile bitmask per block
        self.by_state: dict[int, set[int]] = {0: set(range(self.blocks))}
        self._fit: dict[tuple[int, tuple], int] = {}         # (state, rect) -> placement mask or 0
        self._placements: dict[tuple, list[int]] = {}
        self.rects = sorted({(r, c) for r in range(1, self.rows + 1) for c in range(1, self.cols + 1)},
                            key=lambda rc: (rc[0] * rc[1], abs(rc[0] - rc[1]), rc))
        self._build_tables()
        self.fit_count = {("rect", r, c): self.blocks for r, c in self.rects}
        self._zplane = self._zplane_level()

    @staticmethod
    def _mesh_iter(levels):
        for lv in levels:
            if lv.topology.kind != "mesh2d":
                return
            yield lv

    def _zplane_level(self) -> tuple[float, float]:
        """(bandwidth per block, latency) of whatever joins the mesh blocks."""
        lv_idx = 1 + self.mesh_levels
        if lv_idx < len(self.system.levels):
            lv = self.system.levels[lv_idx]
            return lv.link_bandwidth, lv.latency_s
        so = self.system.scale_out
        if so is None:
            raise SpecError("system", f"{self.system.name} has no network joining its tile meshes")
        return so.link_bandwidth, so.latency_s

    # --- shapes ------------------------------------------------------------------------
    def shapes(self, grains: int) -> list[tuple]:
        if grains <= self.block_tiles:
            area = min(r * c for r, c in self.rects if r * c >= grains)
            out = [("rect", r, c) for r, c in self.rects if r * c == area]
            if self.scatter:
                out.append(("scatter", grains))
            return out
        return [("blocks", math.ceil(grains / self.block_tiles))] + (
            [("scatter", grains)] if self.scatter else [])

    def key_grains(self, key: tuple) -> int:
        if key[0] == "rect":
            return key[1] * key[2]
        if key[0] == "blocks":
            return key[1] * self.block_tiles
        return key[1]

    def placements(self, r: int, c: int) -> list[int]:
        masks = self._placements.get((r, c))
        if masks is None:
            masks = []
            for i in range(self.rows - r + 1):
                for j in range(self.cols - c + 1):
                    m = 0
                    for a in range(r):
                        for b in range(c):
                            m |= 1 << ((i + a) * self.cols + j + b)
                    masks.append(m)
            self._placements[(r, c)] = masks
        return masks

    def _fit_mask(self, state: int, r: int, c: int) -> int:
        """The first placement of an r x c rectangle free in a block in ``state`` (0: none)."""
        table = self._tables.get((r, c))
        if table is not None:
            return table[state]
        k = (state, r, c)
        hit = self._fit.get(k)
        if hit is None:
            hit = next((m for m in self.placements(r, c) if not m & state), 0)
            self._fit[k] = hit
        return hit

    def _build_tables(self) -> None:
        """For blocks of up to `TABLE_TILES` tiles, every state's answer, computed once (a 4 x 3
        cabinet: 12 shapes x 4,096 states), so placement is a list lookup."""
        self._tables: dict[tuple[int, int], list[int]] = {}
        if self.block_tiles > TABLE_TILES:
            return
        for r, c in self.rects:
            masks = self.placements(r, c)
            self._tables[(r, c)] = [next((m for m in masks if not m & st), 0)
                                    for st in range(1 << self.block_tiles)]
        self._keyed_tables = [(("rect", r, c), t) for (r, c), t in self._tables.items()]

    def _set_state(self, b: int, new: int) -> None:
        old = self.state[b]
        s = self.by_state[old]
        s.discard(b)
        if not s:
            del self.by_state[old]
        self.by_state.setdefault(new, set()).add(b)
        self.state[b] = new
        counts = self.fit_count
        if self._tables:
            for key, tbl in self._keyed_tables:
                d = (tbl[new] != 0) - (tbl[old] != 0)
                if d:
                    counts[key] += d
            return
        fit = self._fit_mask
        for r, c in self.rects:
            d = (fit(new, r, c) != 0) - (fit(old, r, c) != 0)
            if d:
                counts[("rect", r, c)] += d

    def fits(self, key: tuple) -> bool:
        if key[0] == "rect":
            return self.fit_count[key] > 0
        if key[0] == "blocks":
            return len(self.by_state.get(0, ())) >= key[1]
        return self.free_units >= key[1]

    def allocate(self, key: tuple, best: bool) -> Allocation | None:
        if not self.fits(key):
            return None
        if key[0] == "rect":
            _, r, c = key
            fit = self._fit_mask
            tbl = self._tables.get((r, c))
            if best:    # the fullest block it fits in (lowest index among equals)
                top, states = -1, []
                for st in self.by_state:
                    if (tbl[st] if tbl is not None else fit(st, r, c)):
                        pc = st.bit_count()
                        if pc > top:
                            top, states = pc, [st]
                        elif pc == top:
                            states.append(st)
                b, st = min((min(self.by_state[st]), st) for st in states)
            else:       # the lowest-numbered block it fits in
                b, st = min((min(ms), st) for st, ms in self.by_state.items() if fit(st, r, c))
            m = fit(st, r, c)
            self._set_state(b, st | m)
            cells = tuple(b * self.block_tiles + i for i in range(self.block_tiles) if m >> i & 1)
            self.free_units -= len(cells)
            return Allocation(key, cells, ((b, m),))
        if key[0] == "blocks":
            chosen = sorted(self.by_state[0])[: key[1]]
            parts = []
            for b in chosen:
                self._set_state(b, self.full)
                parts.append((b, self.full))
            self.free_units -= key[1] * self.block_tiles
            cells = tuple(b * self.block_tiles + i for b in chosen for i in range(self.block_tiles))
            return Allocation(key, cells, tuple(parts))
        # scatter: fill the fullest blocks first, so whole blocks stay free for big jobs
        need, parts, cells = key[1], [], []
        order = sorted(((-st.bit_count(), b, st) for st, ms in self.by_state.items() if st != self.full
                        for b in ms))
        for _, b, st in order:
            if need == 0:
                break
            m = 0
            for i in range(self.block_tiles):
                if need and not (st >> i) & 1:
                    m |= 1 << i
                    need -= 1
                    cells.append(b * self.block_tiles + i)
            parts.append((b, m))
        for b, m in parts:
            self._set_state(b, self.state[b] | m)
        self.free_units -= key[1]
        return Allocation(key, tuple(cells), tuple(parts))

    def shadow(self, key: tuple, releases) -> float:
        """The first end time in ``releases`` ((end, Allocation), by end) after which ``key`` fits."""
        overlay: dict[int, int] = {}
        empty = len(self.by_state.get(0, ()))
        free = self.free_units
        for end, a in releases:
            for b, m in a.blocks:
                old = overlay.get(b, self.state[b])
                new = old & ~m
                overlay[b] = new
                if key[0] == "rect" and self._fit_mask(new, key[1], key[2]):
                    return end
                if old and not new:
                    empty += 1
            free += len(a.cells)
            if (key[0] == "blocks" and empty >= key[1]) or (key[0] == "scatter" and free >= key[1]):
                return end
        return float("inf")

    def release(self, alloc: Allocation) -> None:
        for b, m in alloc.blocks:
            self._set_state(b, self.state[b] & ~m)
        for c in alloc.cells:
            self.owner[c] = -1
        self.free_units += len(alloc.cells)

    # --- costing -----------------------------------------------------------------------
    def system_key(self, key: tuple) -> tuple:
        if key[0] == "rect":   # an r x c mesh costs what a c x r one does
            key = ("rect", min(key[1], key[2]), max(key[1], key[2]))
        return (self.system.preset or self.system.name, "mesh", key)

    def system_for(self, key: tuple) -> System:
        """The allocation as a System: tile level, then its own mesh and/or Z-plane level."""
        sys = self.system
        tile = sys.levels[0]
        mesh = sys.levels[1] if len(sys.levels) > 1 else tile
        power, cost = _per_unit_overheads(sys, 1, self.grain_chips)
        pools = [p for lv in sys.levels[1:1 + self.mesh_levels] for p in lv.memory_pools]
        pool_share = {p.name: p.count / (sys.level_chips(1) // self.grain_chips) for p in
                      (sys.levels[1].memory_pools if len(sys.levels) > 1 else [])}
        host = mesh.host_input_bandwidth / (sys.level_chips(1) // self.grain_chips) \
            if len(sys.levels) > 1 and mesh.host_input_bandwidth else None

        def part(name: str, n: int, topo: Topology, bw: float, lat: float) -> Level:
            return Level(name=name, children=n, topology=topo, link_bandwidth=bw, latency_s=lat,
                         memory_pools=[p.model_copy(update={"count": max(1, round(pool_share[p.name] * n))})
                                       for p in pools if p.name in pool_share],
                         power_overhead_w=power * n, cost_overhead_usd=cost * n,
                         host_input_bandwidth=host * n if host else None)

        zbw, zlat = self._zplane
        if key[0] == "rect":
            r, c = key[1], key[2]
            levels = [tile] if r * c == 1 and not pools else [
                tile, part("partition", r * c, Topology(kind="mesh2d", shape=(r, c)), mesh.link_bandwidth,
                           mesh.latency_s)]
        elif key[0] == "blocks":
            inner = part("partition", self.block_tiles, Topology(kind="mesh2d", shape=(self.rows, self.cols)),
                         mesh.link_bandwidth, mesh.latency_s)
            levels = [tile, inner]
            if key[1] > 1:
                levels.append(Level(name="Z-plane", children=key[1], topology=Topology(kind="switch"),
                                    link_bandwidth=zbw, latency_s=zlat))
        else:   # scattered tiles: each tile's share of its block's Z-plane ports
            levels = [tile, part("Z-plane", key[1], Topology(kind="switch"), zbw / self.block_tiles, zlat)]
        keep = {p: s for p, s in sys.sources.items() if p.startswith(("chip", "levels[0]"))}
        return sys.model_copy(update={"name": f"{sys.name} {describe(key, self)}", "levels": levels,
                                      "sources": keep, "scale_out": None})


class GroupPool(Pool):
    """Interchangeable units (GPU nodes, TPU cubes) in groups (leaf switches, pods)."""

    def __init__(self, system: System, units: int, grain_chips: int, group_units: int, *,
                 span: bool, kind: str, grain_name: str, whole_groups_above: bool):
        super().__init__(system, units, grain_chips)
        self.kind, self.grain_name = kind, grain_name
        self.group_units = group_units
        self.groups = math.ceil(units / group_units)
        self.span = span
        self.whole_groups_above = whole_groups_above
        self.free = [list(range(g * group_units, min(units, (g + 1) * group_units)))[::-1]
                     for g in range(self.groups)]
        self.size = [len(f) for f in self.free]
        self.count_free = [0] * (group_units + 1)    # groups by number of free units
        for f in self.free:
            self.count_free[len(f)] += 1
        self.allowed = None                          # unit counts a slice may have (TPU), else any

    def shapes(self, grains: int) -> list[tuple]:
        if self.whole_groups_above and grains > self.group_units:
            return [("groups", math.ceil(grains / self.group_units))]
        if self.allowed is not None:
            grains = next(a for a in self.allowed if a >= grains)
        return [("units", grains)]

    def key_grains(self, key: tuple) -> int:
        return key[1] * self.group_units if key[0] == "groups" else key[1]

    def fits(self, key: tuple) -> bool:
        n = key[1]
        if key[0] == "groups":
            return self.count_free[self.group_units] >= n   # (last group may be short: see init)
        if self.span:
            return self.free_units >= n
        return n <= self.group_units and any(self.count_free[n:])

    def _take(self, g: int, n: int) -> list[int]:
        f = self.free[g]
        self.count_free[len(f)] -= 1
        taken = [f.pop() for _ in range(n)]
        self.count_free[len(f)] += 1
        return taken

    def allocate(self, key: tuple, best: bool) -> Allocation | None:
        if not self.fits(key):
            return None
        n = key[1]
        parts, cells = [], []
        if key[0] == "groups":
            gs = [g for g in range(self.groups) if len(self.free[g]) == self.group_units][:n]
            for g in gs:
                cells += self._take(g, self.group_units)
                parts.append((g, self.group_units))
        else:
            fitting = [g for g in range(self.groups) if len(self.free[g]) >= n]
            if fitting:
                g = min(fitting, key=lambda g: (len(self.free[g]), g)) if best else fitting[0]
                cells = self._take(g, n)
                parts.append((g, n))
            else:   # span leaf groups, fewest groups first (largest free first)
                need = n
                for g in sorted(range(self.groups), key=lambda g: (-len(self.free[g]), g)):
                    k = min(need, len(self.free[g]))
                    if k:
                        cells += self._take(g, k)
                        parts.append((g, k))
                        need -= k
                    if not need:
                        break
        self.free_units -= len(cells)
        return Allocation(key, tuple(cells), tuple(parts))

    def shadow(self, key: tuple, releases) -> float:
        """The first end time in ``releases`` ((end, Allocation), by end) after which ``key`` fits."""
        n = key[1]
        free = self.free_units
        overlay: dict[int, int] = {}
        whole = self.count_free[self.group_units]
        for end, a in releases:
            for g, k in a.blocks:
                old = overlay.get(g, len(self.free[g]))
                overlay[g] = old + k
                if key[0] == "units" and not self.span and old + k >= n:
                    return end
                if old + k == self.group_units:
                    whole += 1
            free += len(a.cells)
            if (key[0] == "units" and self.span and free >= n) or (key[0] == "groups" and whole >= n):
                return end
        return float("inf")

    def release(self, alloc: Allocation) -> None:
        for c in alloc.cells:
            g = c // self.group_units
            f = self.free[g]
            self.count_free[len(f)] -= 1
            f.append(c)
            self.count_free[len(f)] += 1
            self.owner[c] = -1
        self.free_units += len(alloc.cells)

    def system_key(self, key: tuple) -> tuple:
        return (self.system.preset or self.system.name, self.key_grains(key) * self.grain_chips)

    def system_for(self, key: tuple) -> System:
        return with_devices(self.system, self.key_grains(key) * self.grain_chips)


def tpu_slice_counts(cube_level: Level, pod_level: Level) -> list[int]:
    """Cube counts a slice can have: those that make a block inside the pod's torus of cubes."""
    shape = pod_level.topology.shape or (pod_level.children,)
    return [k for k in range(1, pod_level.children + 1) if _sub_shape(shape, k) is not None]


def describe(key: tuple, pool: Pool) -> str:
    """A partition shape in words: '2x3 tiles', '3 cabinets', '5 scattered tiles', '4 nodes'."""
    if key[0] == "rect":
        return f"{key[1]}x{key[2]} tiles"
    if key[0] == "blocks":
        return f"{key[1]} x {pool.rows}x{pool.cols}-tile meshes"
    if key[0] == "scatter":
        return f"{key[1]} scattered tiles"
    if key[0] == "groups":
        return f"{key[1]} whole {'pods' if pool.kind == 'tpu' else 'groups'}"
    return f"{key[1]} {pool.grain_name}s"


def make_pool(preset: str, count: int = 1, *, scatter: bool = False, power_w: float | None = None) -> Pool:
    """The pool of ``count`` copies of ``preset`` (or, with ``power_w``, as many grains as fit that
    power: the equal-power alternatives of a comparison)."""
    from ...hardware import load_system

    base = load_system(preset)
    if not base.levels:
        raise SpecError("system", f"{preset} has no levels to cut into partitions")
    kind = _kind(base)
    if kind == "dojo":
        if power_w is not None:
            per_copy = base.power_w
            count = max(1, round(power_w / per_copy))
        return MeshPool(base, count, scatter=scatter)
    grain = base.level_chips(0)
    if kind == "gpu":
        big = with_devices(base, grain * GPU_NODES_PER_LEAF) if base.scale_out else base
        per_grain = big.power_w / (big.chips // grain)
        units = max(1, round(power_w / per_grain)) if power_w is not None else count * base.chips // grain
        pool = GroupPool(base, units, grain, GPU_NODES_PER_LEAF, span=True, kind="gpu",
                         grain_name="node", whole_groups_above=False)
        pool.grain_power_w, pool.grain_price_usd = per_grain, big.price_usd / (big.chips // grain)
        return pool
    # tpu: cubes in pods
    per_grain = base.power_w / (base.chips // grain)
    group = base.chips // grain
    units = max(1, round(power_w / per_grain)) if power_w is not None else count * group
    pool = GroupPool(base, units, grain, group, span=False, kind="tpu", grain_name="cube",
                     whole_groups_above=True)
    pool.allowed = tpu_slice_counts(base.levels[0], base.levels[1]) if len(base.levels) > 1 else None
    return pool


def chip_peak(chip) -> float:
    """The peak FLOP/s a size request is measured against: bf16 (dense), else the chip's best."""
    return chip.peak_flops.get("bf16") or max(chip.peak_flops.values())


def _kind(system: System) -> str:
    """dojo (a mesh of tiles), tpu (torus cubes) or gpu (switched nodes)."""
    first = system.levels[0].topology.kind
    if first == "mesh2d":
        return "dojo"
    if first == "torus":
        return "tpu"
    return "gpu"
