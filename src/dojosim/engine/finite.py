"""Every estimate is checked to hold finite numbers before anyone sees it.

Extreme but individually valid inputs (a link of 5e-324 B/s, a peak of 1e-308 FLOP/s, a latency
of 1e308 s) make the engine's arithmetic overflow to inf or to NaN. Such an estimate is never
returned: `check_finite` raises `NotFiniteError` naming the figure that went wrong and the
system figures that are the likely cause (the ones far outside any real machine's range).
"""
from __future__ import annotations

import math

from ..errors import NotFiniteError

# System figures outside [TINY, HUGE] (in SI units) are named as the likely cause. Real figures
# span ~1e-9 s latencies to ~1e21 FLOP/s clusters; these bounds are 10^100 beyond either end.
TINY = 1e-100
HUGE = 1e100

# Which inputs feed which figure, to tell the user where to look.
_CAUSES = {"compute": "the chip's peak FLOP/s or memory bandwidth",
           "memory_stream": "a memory pool's bandwidth",
           "input": "the hosts' or data path's bandwidth",
           "bubble": "the compute or pipeline figures",
           "energy_j_per_step": "the chip's or levels' power",
           "power_w": "the chip's or levels' power",
           "cost_usd_per_step": "the system's price or power"}


def _figures(est) -> list[tuple[str, float | None]]:
    """The estimate's headline numbers, cheap to list (this runs on every estimate)."""
    out = [("step_time_s", est.step_time_s), ("samples_per_s", est.samples_per_s),
           ("tokens_per_s", est.tokens_per_s), ("model_flops_per_step", est.model_flops_per_step),
           ("hardware_flops_per_step", est.hardware_flops_per_step), ("mfu", est.mfu), ("hfu", est.hfu),
           ("energy_j_per_step", est.energy_j_per_step), ("power_w", est.power_w),
           ("cost_usd_per_step", est.cost_usd_per_step),
           ("memory.per_device_bytes", est.memory.per_device_bytes),
           ("memory.capacity_bytes", est.memory.capacity_bytes)]
    out += [(f"breakdown.{k}", v) for k, v in est.breakdown.items()]
    return out


def extreme_inputs(obj, path: str = "system", limit: int = 3) -> list[str]:
    """Dotted paths of numbers in ``obj`` (a pydantic model's dump) outside [TINY, HUGE]."""
    found: list[str] = []

    def walk(node, where: str) -> None:
        if len(found) >= limit:
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")
        elif isinstance(node, float) and node != 0 and not (TINY <= abs(node) <= HUGE):
            found.append(f"{where} = {node:g}")

    dump = obj.model_dump() if hasattr(obj, "model_dump") else obj
    walk(dump, path)
    return found


def check_finite(est, system=None):
    """``est`` itself when its numbers are finite (and the step takes time); else `NotFiniteError`."""
    for name, value in _figures(est):
        if value is None:
            continue
        bad = not math.isfinite(value) or (name == "step_time_s" and value <= 0)
        if bad:
            term = name.split(".", 1)[-1]
            cause = _CAUSES.get(term) or ("the link bandwidth or latency of the levels it crosses"
                                          if term.startswith("comm_") else "the system's figures")
            suspects = extreme_inputs(system) if system is not None else []
            hint = f"; extreme inputs: {', '.join(suspects)}" if suspects else f"; check {cause}"
            raise NotFiniteError(f"estimate.{name}", f"is {value!r}, not a usable number "
                                                     f"(inputs out of range for the arithmetic){hint}")
    return est
