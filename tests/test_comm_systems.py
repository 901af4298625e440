"""Small hand-built systems for the communication tests (duck-typed like dojosim.hardware)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Topo:
    kind: str
    shape: tuple | None = None
    oversubscription: float = 1.0


@dataclass
class Lvl:
    name: str
    children: int
    topology: Topo
    link_bandwidth: float
    latency_s: float
    egress_bandwidth: float | None = None


@dataclass
class Sys:
    levels: list = field(default_factory=list)

    @property
    def chips(self) -> int:
        return math.prod(lv.children for lv in self.levels)


def switch(n, bw=100e9, lat=2e-6, kind="switch", egress=None, over=1.0, name="node"):
    return Lvl(name, n, Topo(kind, None, over), bw, lat, egress)


def grid(shape, bw=50e9, lat=1e-7, kind="mesh2d", egress=None, name="grid"):
    return Lvl(name, math.prod(shape), Topo(kind, tuple(shape)), bw, lat, egress)


def dgx_like(nodes=4, nvlink=450e9, nic=400e9, over=1.0):
    """8 GPUs on a switch per node, nodes on a fat tree; the node's NICs are its egress."""
    return Sys([switch(8, nvlink, 1e-6, egress=nic),
                switch(nodes, nic, 5e-6, kind="fat_tree", over=over, name="pod")])
