"""One table of what each training precision means in bytes and in peaks, used by the engine's
compute and memory and by the search's memory bounds.

Under fp8 training (Transformer Engine) and Dojo's cfp8, activations, weights and gradients stay
in 16-bit: only the GEMM inputs are cast, which shows in the peak the tensor ops use, not in the
bytes stored. Optimizer state is fp32 (see `Assumptions.adam_state_bytes`).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Precision:
    name: str
    element_bytes: float          # one activation element
    weight_bytes: float           # one working weight (and one gradient)
    peak_keys: tuple[str, ...]    # the chip peak its tensor ops use, first listed wins
    fp8: bool = False             # GEMMs run at an 8-bit peak (others at the 16-bit one)
    fp32_master: bool = False     # no separate master copy: the weights are fp32 already


PRECISIONS: dict[str, Precision] = {p.name: p for p in (
    Precision("fp32", 4.0, 4.0, ("fp32",), fp32_master=True),
    Precision("tf32", 4.0, 4.0, ("tf32", "fp32"), fp32_master=True),
    Precision("bf16", 2.0, 2.0, ("bf16", "fp16")),
    Precision("fp16", 2.0, 2.0, ("fp16", "bf16")),
    Precision("fp8", 2.0, 2.0, ("fp8", "cfp8", "bf16", "fp16"), fp8=True),
    Precision("cfp8", 2.0, 2.0, ("cfp8", "fp8", "bf16", "fp16"), fp8=True),
)}
# What an unknown name falls back to (Strategy validation rejects unknown names before this).
_FALLBACK = PRECISIONS["bf16"]


def precision(name: str) -> Precision:
    """The row of ``name``; 16-bit figures for a name the table does not know."""
    return PRECISIONS.get(name) or Precision(name, _FALLBACK.element_bytes, _FALLBACK.weight_bytes, (name,))
