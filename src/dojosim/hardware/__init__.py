"""The hardware model: a chip, the levels above it, presets, totals and capacity by peak.

    from dojosim.hardware import load_system
    sys = load_system("h100-dgx", devices=1024)
    sys.chips, sys.totals()["peak_flops"]["bf16"]
"""
from __future__ import annotations

from .devices import with_devices
from .presets import list_presets, load_file, load_system
from .schema import DTYPES, TOPOLOGY_KINDS, Chip, Level, MemoryPool, Rack, ScaleOut, Source, System, Topology
from .totals import totals

__all__ = [
    "load_system", "load_file", "list_presets", "with_devices", "totals",
    "System", "Chip", "Level", "Topology", "MemoryPool", "Rack", "ScaleOut", "Source",
    "DTYPES", "TOPOLOGY_KINDS",
]
