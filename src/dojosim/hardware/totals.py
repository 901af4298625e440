"""What a system adds up to: one JSON-ready dict (SI floats), used by `show` and the API."""
from __future__ import annotations

from .schema import System


def _level_totals(system: System, i: int) -> dict:
    lv = system.levels[i]
    return {
        "name": lv.name,
        "children": lv.children,
        "instances": system.instances(i),
        "chips_per_instance": system.level_chips(i),
        "topology": {"kind": lv.topology.kind,
                     "shape": list(lv.topology.shape) if lv.topology.shape else None,
                     "oversubscription": lv.topology.oversubscription},
        "link_bandwidth": lv.link_bandwidth,
        "latency_s": lv.latency_s,
        "links": lv.link_count(),
        "injection_bandwidth": lv.injection_bandwidth(),
        "bisection_bandwidth": lv.bisection_bandwidth(),
        "egress_bandwidth": lv.egress_bandwidth,
        "host_input_bandwidth": lv.host_input_bandwidth,
        "hosts": lv.hosts, "host_cores": lv.host_cores, "host_core_rate": lv.host_core_rate,
        "zplane_bandwidth": lv.zplane_bandwidth,
        "memory_pools": [p.model_dump() for p in lv.memory_pools],
        "pool_bytes": lv.pool_bytes(),
        "pool_bandwidth": lv.pool_bandwidth(),
        "power_overhead_w": lv.power_overhead_w,
        "cost_overhead_usd": lv.cost_overhead_usd,
    }


def assumed_totals(system: System) -> list[str]:
    """Which totals rest on at least one assumed figure (shown as '≈ … (assumed)')."""
    src = system.sources
    def any_assumed(pred) -> bool:
        return any(s.assumed for p, s in src.items() if pred(p))
    out = [f"peak_flops.{d}" for d in system.chip.peak_flops if any_assumed(lambda p, d=d: p == f"chip.peak_flops.{d}")]
    pool = lambda p: p.startswith("levels[") and ".memory_pools[" in p  # noqa: E731
    kept = lambda p: not p.startswith("levels[") or int(p[7:p.index("]")]) < len(system.levels)  # noqa: E731
    if any_assumed(lambda p: p == "chip.sram_bytes"):
        out.append("sram_bytes")
    if any_assumed(lambda p: p == "chip.dram_bytes" or (pool(p) and kept(p) and not p.endswith("bandwidth"))):
        out.append("dram_bytes")
    if any_assumed(lambda p: p == "chip.dram_bandwidth" or (pool(p) and kept(p) and not p.endswith("capacity_bytes"))):
        out.append("memory_bandwidth")
    if any_assumed(lambda p: p == "chip.tdp_w" or (kept(p) and p.endswith("power_overhead_w"))):
        out.append("power_w")
    if any_assumed(lambda p: p == "chip.price_usd" or (kept(p) and p.endswith("cost_overhead_usd"))):
        out.append("price_usd")
    return out


def totals(system: System) -> dict:
    """Chips, peak FLOP/s per dtype, memory, bandwidths, power and price of the whole system."""
    n = system.chips
    chip = system.chip
    pool_bytes = sum(system.instances(i) * lv.pool_bytes() for i, lv in enumerate(system.levels))
    pool_bw = sum(system.instances(i) * lv.pool_bandwidth() for i, lv in enumerate(system.levels))
    return {
        "name": system.name,
        "description": system.description,
        "preset": system.preset,
        "chip": chip.name,
        "chips": n,
        "peak_flops": {dtype: n * v for dtype, v in chip.peak_flops.items()},
        "sram_bytes": n * chip.sram_bytes,
        "sram_bandwidth": n * chip.sram_bandwidth,
        "chip_dram_bytes": n * chip.dram_bytes,
        "pool_bytes": pool_bytes,
        "dram_bytes": n * chip.dram_bytes + pool_bytes,
        "memory_bandwidth": n * chip.dram_bandwidth + pool_bw,
        "power_w": system.power_w,
        "price_usd": system.price_usd,
        "levels": [_level_totals(system, i) for i in range(len(system.levels))],
        "rack": system.rack.model_dump() if system.rack else None,
        "assumed": system.assumed,
        "assumed_totals": assumed_totals(system),
    }
