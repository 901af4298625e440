"""Memory: what one device holds during a step, and where it lives.

Components (bytes per device, on the busiest pipeline stage):
- weights, gradients and mixed-precision Adam state (Rajbhandari et al. 2020), sharded over the
  data-parallel group by ZeRO stage 1 (optimizer), 2 (+gradients) and 3 (+weights);
- activations saved for backward (Korthikanti et al. 2022): per layer the ops' `saved`
  elements, split by tensor parallelism where the op is split and, with sequence parallelism,
  also where it is not; full recompute keeps only each layer's input; the first pipeline stage
  holds `in_flight` micro-batches (p for 1F1B, p + (p-1)/v interleaved, m for GPipe);
- buffers: reserved workspace and, under ZeRO-3, the gathered layers in flight.

Tiers are filled innermost first (SRAM, then HBM / the tile's interface-card HBM pools); what
spills out of a chip's own memory on Dojo is streamed, and `stream_bytes_per_step` says how much.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import FitError
from ..assumptions import DEFAULT, Assumptions
from .precision import precision as precision_of
from .result import MemoryReport

COMPONENTS = ("activations", "weights", "gradients", "optimizer", "buffers")


def weight_bytes(precision: str) -> float:
    """Bytes per parameter of the working weights (and of the gradients)."""
    return precision_of(precision).weight_bytes


def optimizer_bytes(precision: str, a: Assumptions = DEFAULT) -> float:
    return a.adam_state_bytes_fp32 if precision_of(precision).fp32_master else a.adam_state_bytes


def in_flight_micro_batches(pp: int, micro_batches: int, interleave: int, schedule: str) -> float:
    """Micro-batches whose activations the first pipeline stage holds at its peak."""
    if pp <= 1:
        return 1.0
    if schedule == "gpipe":
        return float(micro_batches)
    if micro_batches < pp:
        return float(micro_batches)
    if interleave > 1:
        # Korthikanti et al. 2022, §4.2.3: interleaving multiplies the first stage's activation
        # memory by (1 + (p-1)/(p*v)).
        return pp * (1.0 + (pp - 1) / (pp * interleave))
    return float(pp)


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    capacity: float        # bytes this device may use in the tier
    bandwidth: float       # bytes/s this device reaches into the tier


def state_bytes(params: float, layer_params: float, precision: str, zero: int, dp: int,
                a: Assumptions = DEFAULT) -> dict[str, float]:
    """Weights, gradients and optimizer state of ``params`` parameters on one device."""
    wb = weight_bytes(precision)
    shard = float(max(dp, 1))
    weights = params * wb
    grads = params * wb
    opt = params * optimizer_bytes(precision, a)
    live = 0.0
    if zero >= 1:
        opt /= shard
    if zero >= 2:
        grads /= shard
    if zero >= 3:
        weights /= shard
        # FSDP/ZeRO-3 keep the layer being computed and the prefetched next one gathered.
        live = min(a.zero3_live_layers * layer_params, params) * wb
    return {"weights": weights, "gradients": grads, "optimizer": opt, "zero_live": live}


def place(components: dict[str, float], tiers: list[Tier]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Fill tiers innermost first in COMPONENTS order.

    Returns (tiers -> {used, capacity}, component -> bytes that did not fit in the first tier).
    """
    remaining = [t.capacity for t in tiers]
    spill: dict[str, float] = {}
    for name in COMPONENTS:
        need = components.get(name, 0.0)
        for i in range(len(tiers)):
            take = min(need, remaining[i]) if i < len(tiers) - 1 else need
            remaining[i] -= take
            if i > 0:
                spill[name] = spill.get(name, 0.0) + take
            need -= take
            if need <= 0:
                break
    used = {t.name: {"used": t.capacity - r if r >= 0 else t.capacity - r, "capacity": t.capacity}
            for t, r in zip(tiers, remaining)}
    return used, spill


def report(components: dict[str, float], tiers: list[Tier]) -> tuple[MemoryReport, dict[str, float]]:
    total = sum(components.get(k, 0.0) for k in COMPONENTS)
    capacity = sum(t.capacity for t in tiers)
    used, spill = place(components, tiers)
    rep = MemoryReport(
        components={k: float(components.get(k, 0.0)) for k in COMPONENTS},
        tiers=used,
        per_device_bytes=float(total),
        capacity_bytes=float(capacity),
        fits=total <= capacity * (1 + 1e-9),
    )
    return rep, spill


def require_fit(rep: MemoryReport, path: str = "strategy") -> None:
    """Raise `FitError` when the report does not fit (for callers that want an error)."""
    if not rep.fits:
        from ..units import format as fmt

        parts = ", ".join(f"{k} {fmt(v, 'bytes')}" for k, v in rep.components.items() if v)
        raise FitError(path, f"needs {fmt(rep.per_device_bytes, 'bytes')} per device but only "
                             f"{fmt(rep.capacity_bytes, 'bytes')} is available ({parts})")


def stream_bytes_per_step(spill: dict[str, float], micro_batches: int, recompute: bool,
                          a: Assumptions = DEFAULT) -> float:
    """Bytes moved per step between a chip and the memory its spilled state lives in.

    Spilled weights are read in every forward, backward (and recompute) pass of every micro-batch;
    spilled gradients are read and written once per micro-batch (accumulation); spilled optimizer
    state is read and written once per step; spilled activations are written in the forward and
    read back in the backward pass.
    """
    passes = a.training_passes + (a.recompute_passes if recompute else 0.0)
    m = float(max(micro_batches, 1))
    return (spill.get("weights", 0.0) * passes * m
            + spill.get("gradients", 0.0) * a.spill_crossings * m
            + spill.get("optimizer", 0.0) * a.spill_crossings
            + spill.get("activations", 0.0) * a.spill_crossings)
