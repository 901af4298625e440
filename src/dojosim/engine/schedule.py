"""Schedule: pipeline bubbles and the overlap of transfers with compute.

Pipeline (Narayanan et al. SC'21, §2.2): with p stages, m micro-batches per replica and v
virtual chunks per device, GPipe and 1F1B idle for (p-1) micro-batch times per step and the
interleaved 1F1B schedule for (p-1)/v, so the bubble is (p-1)/m (resp. (p-1)/(v*m)) of the
ideal time, i.e. a fraction (p-1)/(m+p-1) (resp. (p-1)/(v*m+p-1)) of the step.

Overlap: a transfer hides behind compute only where the framework can issue it early:
- ZeRO-3/FSDP parameter gathers are prefetched one layer ahead, so per pass only what exceeds
  the compute of that pass shows, plus the first layer's gather;
- data-parallel gradient reduction runs in buckets during the backward pass of the last
  micro-batch (earlier micro-batches only accumulate);
- Dojo's streams from the interface-card HBM are DMA transfers that run beside compute.
While a transfer overlaps, compute slows by `overlap_compute_slowdown` (shared SMs and memory).
"""
from __future__ import annotations



def bubble_fraction(pp: int, micro_batches: int, interleave: int = 1) -> float:
    """Share of the step the pipeline idles: (p-1)/(v*m + p-1)."""
    if pp <= 1:
        return 0.0
    v = max(interleave, 1)
    return (pp - 1) / (v * micro_batches + pp - 1)


def bubble_time(pp: int, micro_batches: int, interleave: int, per_micro_batch_s: float) -> float:
    """Idle seconds per step: (p-1)/v micro-batch times of one stage (all its chunks)."""
    if pp <= 1:
        return 0.0
    return (pp - 1) / max(interleave, 1) * per_micro_batch_s


def overlapped(comm_s: float, compute_s: float, slowdown: float, first_s: float = 0.0) -> float:
    """Exposed seconds of ``comm_s`` issued alongside ``compute_s`` (prefetch depth one).

    ``first_s`` is the part that cannot start before the compute does (the first layer's gather,
    the last gradient bucket). The overlapped part slows compute by ``slowdown`` (a fraction,
    `Assumptions.overlap_compute_slowdown`).
    """
    if comm_s <= 0.0:
        return 0.0
    first = min(first_s, comm_s)
    hidden_window = compute_s
    rest = comm_s - first
    exposed = max(rest - hidden_window, 0.0)
    return first + exposed + min(rest, hidden_window) * slowdown
