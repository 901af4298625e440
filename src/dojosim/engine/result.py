"""What `estimate` returns: the step time, a breakdown that adds up to it, throughput, FLOPs,
memory per device per tier, energy, and the per-stage timings a timeline is drawn from."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Breakdown components, in display order. Their values sum to `Estimate.step_time_s`.
BREAKDOWN_KEYS: tuple[str, ...] = (
    "compute",        # forward + backward (+ recompute) math on the critical path
    "memory_stream",  # exposed streaming of weights/activations from a slower tier (Dojo DIP HBM)
    "comm_tp",        # exposed tensor/sequence-parallel collectives
    "comm_cp",        # exposed context-parallel exchange
    "comm_ep",        # exposed expert-parallel all-to-all
    "comm_pp",        # exposed pipeline point-to-point
    "comm_dp",        # exposed data-parallel gradient all-reduce / reduce-scatter
    "comm_zero",      # exposed ZeRO/FSDP parameter gathers
    "bubble",         # pipeline fill and drain
    "input",          # data-loading stall (hosts slower than the step)
    "optimizer",      # optimizer step
    "overhead",       # per-step framework and launch overhead
)


@dataclass(frozen=True)
class MemoryReport:
    """Bytes per device by component and by tier, against capacity."""

    components: dict[str, float]          # weights, gradients, optimizer, activations, buffers
    tiers: dict[str, dict[str, float]]    # tier name -> {"used": bytes, "capacity": bytes}
    per_device_bytes: float               # sum of components
    capacity_bytes: float                 # all tiers a device may use
    fits: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StageTiming:
    """Seconds one pipeline stage spends on ONE micro-batch (one virtual chunk when interleaved)."""

    forward_s: float
    backward_s: float                     # includes recompute
    comm_s: dict[str, float]              # exposed per-micro-batch comm by kind (tp, cp, ep, pp)
    # (module path, fwd s, bwd s, fwd FLOPs on this device) per op of one layer, for traces and plots
    ops: tuple[tuple, ...] = ()


@dataclass(frozen=True)
class Estimate:
    """The prediction for one training step of `model` on `system` under `strategy`."""

    model: str
    system: str
    devices: int
    strategy: dict
    step_time_s: float
    breakdown: dict[str, float]
    samples_per_s: float
    tokens_per_s: float | None
    model_flops_per_step: float
    hardware_flops_per_step: float
    mfu: float
    hfu: float
    memory: MemoryReport
    energy_j_per_step: float
    power_w: float
    cost_usd_per_step: float | None = None
    # Schedule facts the timeline is drawn from.
    micro_batches: int = 1
    pipeline_stages: int = 1
    interleave: int = 1
    stage: StageTiming | None = None
    dp_comm_s: float = 0.0                # whole DP/ZeRO gradient traffic (before overlap)
    notes: tuple[str, ...] = ()           # assumptions and warnings worth showing the user
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["memory"] = self.memory.to_dict()
        return d

    def summary(self) -> list[tuple[str, str]]:
        """(figure, value) pairs as people read them: the headline of `__repr__` and `_repr_html_`."""
        from ..strategy import label
        from ..units import format as fmt, format_gib, format_number, format_time

        mem = f"{format_gib(self.memory.per_device_bytes)} of {format_gib(self.memory.capacity_bytes)}"
        # A model without tokens that splits its cp degree splits image rows: the spatial split.
        rows = [("split", label(self.strategy, spatial=self.tokens_per_s is None)), ("step time", format_time(self.step_time_s)),
                ("samples/s", format_number(self.samples_per_s))]
        if self.tokens_per_s:
            rows.append(("tokens/s", format_number(self.tokens_per_s)))
        rows += [("MFU", f"{self.mfu:.1%}"),
                 ("memory/device", mem + ("" if self.memory.fits else " (DOES NOT FIT)")),
                 ("energy/step", fmt(self.energy_j_per_step, "energy")), ("power", fmt(self.power_w, "power"))]
        top = sorted(((v, k) for k, v in self.breakdown.items() if v > 0), reverse=True)[:3]
        rows.append(("largest terms", ", ".join(f"{k} {v / self.step_time_s:.0%}" for v, k in top)))
        return rows

    def __repr__(self) -> str:
        rows = self.summary()
        w = max(len(k) for k, _ in rows)
        head = f"Estimate: {self.model} on {self.system} ({self.devices:,} devices)"
        return "\n".join([head] + [f"  {k:<{w}}  {v}" for k, v in rows])

    def _repr_html_(self) -> str:
        """A small table for Jupyter notebooks."""
        from html import escape

        cells = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td style='text-align:right'>"
                        f"{escape(v)}</td></tr>" for k, v in self.summary())
        return (f"<table><caption>{escape(self.model)} on {escape(self.system)} ({self.devices:,} devices)"
                f"</caption>{cells}</table>")
