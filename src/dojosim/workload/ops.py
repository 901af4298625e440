"""Constructors for the ops of the analytic builders, and the FLOP conventions they share with
the torch tracer.

Every constructor returns an `Op` for ONE sample. Matmul and convolution FLOPs are exact
(2 per multiply-add; bias additions are not counted, as in the published counts). Memory-bound
ops get a nominal FLOP count per element (below); the tracer uses the very same constants, so
the analytic and traced graphs of a zoo model agree.
"""
from __future__ import annotations

from .graph import Op

# Nominal FLOPs per output element of the memory-bound kinds. They only matter for the
# roofline's arithmetic intensity (these ops are bandwidth-bound); the values are the usual
# rough counts: an add/mul/activation is one operation, a norm is mean + variance + scale +
# shift (~5), a softmax is max + sub + exp + sum + div (~5).
ELEMENTWISE_FLOPS = 1.0
NORM_FLOPS = 5.0
SOFTMAX_FLOPS = 5.0
# Rotary embedding as x*cos + rotate(x)*sin with the sign folded into sin: 2 mul + 1 add.
ROPE_FLOPS = 3.0

# The GEMM view of every matmul/conv op satisfies flops == 2 * m * n * k, with m per sample;
# `Op.groups` > 1 says the op is that many independent GEMMs sharing the work (grouped
# convolution: n and k split; MoE experts / batched matmul: m split). A convolution's view is
# m = output positions, n = out channels, k = in channels / groups * kernel volume.
# Dropout keeps a 1-byte mask per element: half an element of a 2-byte activation
# (Korthikanti et al. 2022 count dropout masks at 1 byte per element).
DROPOUT_MASK_ELEMENTS = 0.5


def linear(name: str, rows: float, n_in: int, n_out: int, *, bias: bool = True, tp: str | None = None,
           seq: bool = False, expert: bool = False, saved: float | None = None,
           weights: bool = True, groups: int = 1) -> Op:
    """A linear layer (GEMM) over ``rows`` rows per sample: y[rows, n_out] = x[rows, n_in] W.

    ``saved`` defaults to the input (what the weight gradient needs). ``weights=False`` for a
    tied projection whose parameters are owned (counted) by another op. ``groups`` > 1 is a
    batch of ``groups`` independent GEMMs of this size each (e.g. MoE experts).
    """
    params = (n_in * n_out + (n_out if bias else 0)) * groups if weights else 0
    total_rows = rows * groups
    return Op(
        name=name, kind="matmul", flops=2.0 * total_rows * n_in * n_out,
        reads=total_rows * n_in + params, writes=total_rows * n_out, params=params,
        saved=total_rows * n_in if saved is None else saved,
        gemm=(float(total_rows), n_out, n_in), tp=tp, seq=seq, expert=expert, groups=groups,
    )


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis (PyTorch's floor rule)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv(name: str, c_in: int, c_out: int, kernel: int | tuple, stride: int, spatial: tuple[int, ...], *,
         groups: int = 1, bias: bool = False, padding: int | None = None) -> tuple[Op, tuple[int, ...]]:
    """A 2-D or 3-D convolution as an implicit GEMM; returns the op and the output spatial size.

    GEMM view: m = output positions, n = c_out, k = c_in / groups * kernel volume.
    """
    ks = kernel if isinstance(kernel, tuple) else (kernel,) * len(spatial)
    pad = tuple(k // 2 for k in ks) if padding is None else (padding,) * len(spatial)
    out = tuple(conv_out(s, k, stride, p) for s, k, p in zip(spatial, ks, pad))
    vol = 1
    for k in ks:
        vol *= k
    m = 1
    for o in out:
        m *= o
    n_in = 1
    for s in spatial:
        n_in *= s
    k_gemm = c_in // groups * vol
    params = c_out * k_gemm + (c_out if bias else 0)
    # A row split of the input needs kernel_rows // 2 rows from each neighbour (padding "same").
    halo = (ks[0] // 2) * (n_in // spatial[0]) * c_in if spatial else 0
    op = Op(
        name=name, kind="conv", flops=2.0 * m * c_out * k_gemm,
        reads=n_in * c_in + params, writes=m * c_out, params=params, saved=n_in * c_in,
        gemm=(float(m), c_out, k_gemm), groups=groups, halo=float(halo),
        spatial=tuple(spatial), kernel=tuple(ks),
    )
    return op, out


def conv_transpose(name: str, c_in: int, c_out: int, kernel: int, stride: int, spatial: tuple[int, ...], *,
                   bias: bool = True) -> tuple[Op, tuple[int, ...]]:
    """A transposed convolution with kernel == stride (a learned upsampling, "deconvolution").

    Every input position multiplies a c_in x (c_out * kernel volume) matrix: GEMM view
    m = input positions, n = c_out * kernel volume, k = c_in.
    """
    vol = kernel ** len(spatial)
    m = 1
    for s in spatial:
        m *= s
    out = tuple(s * stride for s in spatial)
    params = c_in * c_out * vol + (c_out if bias else 0)
    op = Op(
        name=name, kind="conv", flops=2.0 * m * c_in * c_out * vol,
        reads=m * c_in + params, writes=m * vol * c_out, params=params, saved=m * c_in,
        gemm=(float(m), c_out * vol, c_in),
    )
    return op, out


def norm(name: str, elements: float, channels: int, *, affine_params: int | None = None, seq: bool = False,
         tp: str | None = None) -> Op:
    """A layer/RMS/batch/group norm over ``elements`` per sample; saves its input."""
    params = 2 * channels if affine_params is None else affine_params
    return Op(name=name, kind="norm", flops=NORM_FLOPS * elements, reads=elements + params,
              writes=elements, params=params, saved=elements, seq=seq, tp=tp)


def elementwise(name: str, elements: float, *, inputs: int = 1, flops_per: float = ELEMENTWISE_FLOPS,
                saved: float = 0.0, tp: str | None = None, seq: bool = False, expert: bool = False,
                params: int = 0) -> Op:
    """An element-wise op (activation, residual add, dropout, ...) over ``elements`` outputs."""
    return Op(name=name, kind="elementwise", flops=flops_per * elements, reads=inputs * elements + params,
              writes=elements, params=params, saved=saved, tp=tp, seq=seq, expert=expert)


def attention(name: str, s_q: int, s_kv: int, heads: int, head_dim: int, kv_heads: int | None = None) -> Op:
    """Fused (flash) attention core: softmax(Q K^T / sqrt(d)) V.

    FLOPs 4 * s_q * s_kv * heads * head_dim (QK^T and PV, 2 FLOPs per MAC); a causal mask is
    NOT halved, following Megatron's and MosaicML's published accounting. Saved for backward:
    Q, K, V, the output O and the softmax statistics (one per query row and head) - never the
    s x s scores, which flash attention recomputes.
    """
    kv = heads if kv_heads is None else kv_heads
    q_el = s_q * heads * head_dim
    kv_el = 2 * s_kv * kv * head_dim
    return Op(name=name, kind="attention", flops=4.0 * s_q * s_kv * heads * head_dim,
              reads=q_el + kv_el, writes=q_el, saved=q_el + kv_el + q_el + s_q * heads,
              tp="heads", attn=(s_q, heads, head_dim))


def softmax(name: str, elements: float, *, saved: float | None = None, tp: str | None = None) -> Op:
    """A softmax (or softmax + cross-entropy) over ``elements``; saves its output."""
    return Op(name=name, kind="softmax", flops=SOFTMAX_FLOPS * elements, reads=elements, writes=elements,
              saved=elements if saved is None else saved, tp=tp)


def embedding(name: str, rows: float, dim: int, vocab: int, *, params: bool = True) -> Op:
    """A table lookup of ``rows`` rows of width ``dim`` (no FLOPs; reads the rows it gathers)."""
    p = vocab * dim if params else 0
    return Op(name=name, kind="embedding", flops=0.0, reads=rows * dim + rows, writes=rows * dim, params=p)
