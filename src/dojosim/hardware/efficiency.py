"""The names a chip preset may give under ``efficiency:`` — per-chip values of the engine's
efficiency figures (they win over the engine's defaults for that chip) and the figures of a
many-core chip's microarchitecture that the core model (engine/cores.py) needs.

Each entry is (dimension, rule, what it is). A D1 is not a GPU: its preset carries these with a
source, or ``assumed: true`` with a ``range`` and the reason in its source text.
"""
from __future__ import annotations

FIELDS: dict[str, tuple[str, str, str]] = {
    # overrides of engine-wide figures (engine/constants.py, lower-cased)
    "kernel_overhead_s": ("time", "nonneg", "fixed cost per op and pass (GPU: a kernel launch; D1: the "
                          "compiler's per-layer synchronisation and DMA setup)"),
    "gemm_peak_efficiency": ("count", "frac", "best fraction of the matrix units' peak a large GEMM keeps"),
    "gemm_half_dim": ("count", "nonneg", "GEMM dimension at which a GPU tile keeps half its efficiency"),
    "vector_efficiency": ("count", "frac", "fraction of the vector units' peak element-wise work reaches"),
    "memory_efficiency": ("count", "frac", "fraction of the memory's peak bandwidth streaming reaches"),
    "sram_operand_fraction": ("count", "frac", "share of an SRAM-only chip's SRAM that holds op operands"),
    # a many-core chip (D1): the core model replaces the GEMM-curve on these chips
    "cores": ("count", "int", "compute cores on the chip"),
    "mac_m": ("count", "int", "rows of the matrix unit's output tile (m)"),
    "mac_n": ("count", "int", "columns of the matrix unit's output tile (n)"),
    "mac_k": ("count", "int", "reduction depth of one matrix-unit step (k)"),
    "core_sram_bytes": ("bytes", "pos", "SRAM of one core"),
    "core_load_bandwidth": ("bandwidth", "pos", "SRAM load bandwidth of one core"),
    "core_store_bandwidth": ("bandwidth", "pos", "SRAM store bandwidth of one core"),
    "simd_flops": ("flops", "pos", "FLOP/s of one core's SIMD unit"),
    "mesh_bandwidth": ("bandwidth", "pos", "on-die mesh bandwidth per core per direction"),
    "mesh_operand_links": ("count", "pos", "mesh directions a core receives GEMM operands over at once"),
}
