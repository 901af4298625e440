"""The machine as data: a chip, the levels above it, and the system they make.

Every number here is a plain float in SI units (FLOP/s, bytes, bytes/s, s, W, USD). Where each
number came from (its `Source`) is kept beside the model in ``System.sources``, keyed by field
path, so the engine sees floats and the CLI can still say which figures are assumed.

Link conventions (what ``Level.link_bandwidth`` means, per direction):
- ``mesh2d``, ``torus``, ``ring``: the bandwidth of ONE link between two neighbouring children
  (a D1 edge inside a tile: 2 TB/s per direction).
- ``switch``, ``fat_tree``: the bandwidth of ONE child's port(s) into the switch fabric
  (a DGX H100 GPU into NVSwitch: 450 GB/s per direction; a DGX node into InfiniBand: 8 x 400 Gb/s).
"""
from __future__ import annotations

import math
from typing import Literal, Optional

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..specmodel import SpecModel

TOPOLOGY_KINDS = ("mesh2d", "switch", "fat_tree", "torus", "ring")
# Data types a chip may list a peak for. int8 is for inference chips (AI4, TPU) that publish TOPS.
DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "cfp8", "int8")


class Source(SpecModel):
    """Where one number came from. ``assumed`` marks an estimate, not a published figure."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str = ""
    assumed: bool = False
    range: Optional[tuple[float, float]] = None  # (low, high) in SI, for figures given as ranges
    reason: str = ""   # why that range (an assumed figure's range needs one)
    note: str = ""


class Topology(SpecModel):
    """How the children of a level are wired. ``shape`` is required for mesh2d and torus."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["mesh2d", "switch", "fat_tree", "torus", "ring"]
    shape: Optional[tuple[int, ...]] = None
    oversubscription: float = Field(1.0, ge=1.0)
    # Wired through optical circuit switches (TPU v4's OCS): a slice of any number of children
    # gets its own torus, wrap-around links included, in the shape the switches would choose.
    reconfigurable: bool = False


class MemoryPool(SpecModel):
    """Memory attached at a level rather than to a chip (Dojo's DIP HBM, host DRAM)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    count: int = Field(ge=1)                 # pools per instance of the level
    capacity_bytes: float = Field(gt=0)      # each
    bandwidth: float = Field(gt=0)           # each: the pool's own memory bandwidth
    link_bandwidth: float = Field(gt=0)      # each: pool -> compute (DIP: TTP link, 900 GB/s)


class EfficiencyFigure(SpecModel):
    """A chip's own value of one `dojosim.assumptions` field (its source is in System.sources
    under ``chip.efficiency.<name>``); ``low``/``high`` bound an assumed figure."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: float | bool
    low: Optional[float] = None
    high: Optional[float] = None


class Chip(SpecModel):
    """One accelerator: the leaf of the hierarchy."""

    model_config = ConfigDict(extra="forbid")
    name: str
    peak_flops: dict[str, float]             # dtype -> FLOP/s (dense), only the dtypes it has
    sram_bytes: float = Field(ge=0)
    sram_bandwidth: float = Field(ge=0)      # aggregate on-chip SRAM load bandwidth
    dram_bytes: float = Field(0.0, ge=0)     # chip-local HBM; 0 when none (D1)
    dram_bandwidth: float = Field(0.0, ge=0)
    tdp_w: float = Field(gt=0)
    price_usd: float = Field(0.0, ge=0)
    # Assumptions this chip's microarchitecture sets differently (name -> figure), see
    # `Assumptions.for_chip`; empty for chips that behave like the defaults.
    efficiency: dict[str, EfficiencyFigure] = Field(default_factory=dict)

    @field_validator("peak_flops")
    @classmethod
    def _known_positive_dtypes(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError(f"give at least one dtype ({', '.join(DTYPES)})")
        for dtype, flops in v.items():
            if dtype not in DTYPES:
                raise ValueError(f"unknown dtype {dtype!r}; expected one of: {', '.join(DTYPES)}")
            if not flops > 0:
                raise ValueError(f"{dtype} peak must be positive")
        return v


class Level(SpecModel):
    """A packaging/network level: ``children`` copies of the level below, wired by ``topology``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    children: int = Field(ge=1)
    topology: Topology
    link_bandwidth: float = Field(gt=0)      # bytes/s per direction, see module docstring
    latency_s: float = Field(ge=0)           # per hop / per message
    memory_pools: list[MemoryPool] = Field(default_factory=list)
    power_overhead_w: float = Field(0.0, ge=0)    # per instance, beyond its children
    cost_overhead_usd: float = Field(0.0, ge=0)   # per instance, beyond its children
    egress_bandwidth: Optional[float] = Field(None, gt=0)       # out of ONE instance, per direction
    host_input_bandwidth: Optional[float] = Field(None, gt=0)   # hosts -> ONE instance
    # The data path's hosts (Dojo: CPU servers holding the DIP cards, engine/datapath.py): how
    # many per instance, CPU cores each, and the bytes of training tensor one core prepares per
    # second (read, decode, augment). None = the hosts are never the limit.
    hosts: Optional[int] = Field(None, ge=1)
    host_cores: Optional[int] = Field(None, ge=1)
    host_core_rate: Optional[float] = Field(None, gt=0)
    # Extra hosts beyond the PCIe-attached ones feed the level over Ethernet (Dojo's TTPoE
    # Z-plane): the instance's total Ethernet bandwidth into its interface cards.
    zplane_bandwidth: Optional[float] = Field(None, gt=0)

    @model_validator(mode="after")
    def _shape_matches_children(self) -> "Level":
        # Also checked (with a finer field path) by the spec reader; here so that a System
        # rebuilt from an edited dict (sweeps, overrides) cannot hold an impossible topology.
        shape, kind = self.topology.shape, self.topology.kind
        if kind in ("mesh2d", "torus") and shape is None:
            raise ValueError(f"topology.shape is required for a {kind}")
        if shape is not None and math.prod(shape) != self.children:
            raise ValueError(f"topology.shape {list(shape)} holds {math.prod(shape)} children, "
                             f"but children is {self.children}")
        return self

    # --- derived network figures (per instance of this level, per direction) ---------------
    def link_count(self) -> int:
        """Number of (bidirectional) links in one instance of this level's network."""
        kind, shape = self.topology.kind, self.topology.shape
        if kind in ("switch", "fat_tree"):
            return self.children  # one port per child
        if kind == "ring":
            n = self.children
            return 0 if n == 1 else (1 if n == 2 else n)
        dims = shape or (self.children,)
        total = 0
        for d, size in enumerate(dims):
            lines = math.prod(dims) // size
            if kind == "mesh2d":
                per_line = size - 1
            else:  # torus: wrap-around, but a 2-ring is one link and a 1-ring none
                per_line = 0 if size == 1 else (1 if size == 2 else size)
            total += lines * per_line
        return total

    def injection_bandwidth(self) -> float:
        """Sum over children of what they can push into this level's network at once."""
        if self.topology.kind in ("switch", "fat_tree"):
            return self.children * self.link_bandwidth
        return 2 * self.link_count() * self.link_bandwidth  # every link has two ends

    def bisection_bandwidth(self) -> float:
        """Bandwidth across the worst cut into two halves (one direction)."""
        kind, shape, n = self.topology.kind, self.topology.shape, self.children
        if n < 2:
            return 0.0
        if kind == "switch":
            return (n // 2) * self.link_bandwidth
        if kind == "fat_tree":
            return (n // 2) * self.link_bandwidth / self.topology.oversubscription
        if kind == "ring":
            return (2 if n > 2 else 1) * self.link_bandwidth
        dims = shape or (n,)
        big = max(dims)
        cut_links = math.prod(dims) // big
        if kind == "torus" and big > 2:
            cut_links *= 2  # the wrap-around links cross the cut too
        return cut_links * self.link_bandwidth

    def pool_bytes(self) -> float:
        """HBM/DRAM attached at one instance of this level."""
        return sum(p.count * p.capacity_bytes for p in self.memory_pools)

    def pool_bandwidth(self) -> float:
        return sum(p.count * p.bandwidth for p in self.memory_pools)


class Rack(SpecModel):
    """The unit the machine is bought and installed in (for capacity planning)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    chips: int = Field(ge=1)
    # The preset whose power/price one rack has (e.g. d1 -> dojo-cabinet); None = this preset.
    system: Optional[str] = None


class ScaleOut(SpecModel):
    """How copies of the top level are joined when a user asks for more devices."""

    model_config = ConfigDict(extra="forbid")
    name: str
    topology: Topology
    link_bandwidth: float = Field(gt=0)      # per child (top-level instance), per direction
    latency_s: float = Field(ge=0)
    power_per_child_w: float = Field(0.0, ge=0)   # switches/optics per joined child
    cost_per_child_usd: float = Field(0.0, ge=0)


class System(SpecModel):
    """A chip and the levels above it, innermost first."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    chip: Chip
    levels: list[Level] = Field(default_factory=list)
    rack: Optional[Rack] = None
    scale_out: Optional[ScaleOut] = None
    sources: dict[str, Source] = Field(default_factory=dict)  # field path -> where it came from
    preset: Optional[str] = None             # the preset (or file) it was built from
    notes: str = ""

    @property
    def chips(self) -> int:
        """Total accelerators."""
        return math.prod(lv.children for lv in self.levels) if self.levels else 1

    def level_chips(self, i: int) -> int:
        """Chips inside ONE instance of level ``i`` (``-1`` means the chip itself)."""
        if i < -1 or i >= len(self.levels):
            raise IndexError(f"level {i} out of range (system has {len(self.levels)} levels)")
        return math.prod(lv.children for lv in self.levels[: i + 1])

    def instances(self, i: int) -> int:
        """How many instances of level ``i`` the whole system holds."""
        return self.chips // self.level_chips(i)

    @property
    def power_w(self) -> float:
        """Chip TDPs plus every level's overhead, over the whole system."""
        return self.chips * self.chip.tdp_w + sum(
            self.instances(i) * lv.power_overhead_w for i, lv in enumerate(self.levels))

    @property
    def price_usd(self) -> float:
        return self.chips * self.chip.price_usd + sum(
            self.instances(i) * lv.cost_overhead_usd for i, lv in enumerate(self.levels))

    @property
    def assumed(self) -> list[str]:
        """Field paths whose value is an estimate, not a published figure."""
        return sorted(p for p, s in self.sources.items() if s.assumed)

    def source(self, path: str) -> Optional[Source]:
        return self.sources.get(path)

    def peak_flops(self, dtype: str) -> float:
        """Whole-system peak FLOP/s for ``dtype`` (0 when the chip lacks it)."""
        return self.chips * self.chip.peak_flops.get(dtype, 0.0)

    def totals(self) -> dict:
        from .totals import totals

        return totals(self)
