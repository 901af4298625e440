"""The workload as an op graph.

An `Op` is one operator of one sample's forward pass: its FLOPs, the elements it reads and
writes, its parameters, the elements it saves for backward, and the hints parallelism needs.
Counts are *per sample* (one sequence, one image, one clip) and in *elements*, not bytes, so the
same graph serves every precision: the engine multiplies by the dtype's size.

Repeated blocks (transformer layers, ResNet stages) are stored once with a `count`, so a
1,000-layer model costs what one layer does.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

OpKind = Literal[
    "matmul",       # dense GEMM / linear layer (incl. batched matmul)
    "conv",         # convolution (costed as implicit GEMM)
    "attention",    # fused scaled-dot-product attention core (QK^T, softmax, PV)
    "norm",         # layer/RMS/batch/group norm
    "elementwise",  # activations, residual adds, dropout, rotary, ...
    "softmax",      # unfused softmax (e.g. the output layer's cross-entropy)
    "embedding",    # table lookup
    "pool",         # pooling / resampling
    "reduction",    # sums, means, losses
    "other",
]

# Backward FLOPs relative to forward, per op kind. Matmul/conv: one GEMM for the input gradient
# and one for the weight gradient, each the size of the forward GEMM (2x). Attention: dQ, dK, dV
# plus recomputing the probabilities in flash attention (~2.5x; Dao et al. 2022 count 2.5x
# forward FLOPs for the backward pass). Memory-bound kinds: roughly one read of the saved input
# and the output gradient, one write (~1x of forward work).
BACKWARD_FLOP_FACTOR: dict[str, float] = {
    "matmul": 2.0,
    "conv": 2.0,
    "attention": 2.5,
    "norm": 2.0,
    "elementwise": 1.0,
    "softmax": 1.0,
    "embedding": 1.0,
    "pool": 1.0,
    "reduction": 1.0,
    "other": 1.0,
}

# Ops whose cost is dominated by arithmetic (tensor cores); the rest are memory-bound kinds.
COMPUTE_KINDS = frozenset({"matmul", "conv", "attention"})

# How tensor parallelism treats an op:
#   None      replicated on every TP rank (full cost on each)
#   "column"  output features split (Megatron's column-parallel linear)
#   "row"     input features split (row-parallel linear; ends in an all-reduce / reduce-scatter)
#   "heads"   split by attention heads
#   "split"   element-wise op on an already split tensor (cost / tp)
TPSplit = Literal["column", "row", "heads", "split"]


@dataclass(frozen=True, slots=True)
class Op:
    """One operator of the forward pass of ONE sample."""

    name: str                     # module path, e.g. "layers.attn.qkv"
    kind: str                     # one of OpKind
    flops: float                  # forward FLOPs per sample (multiply-add = 2 FLOPs)
    reads: float = 0.0            # elements read per sample (inputs + weights)
    writes: float = 0.0           # elements written per sample
    params: int = 0               # trainable parameters owned by this op
    saved: float = 0.0            # activation elements kept for backward, per sample
    # GEMM view for the shape-aware efficiency model: (m, n, k) with m per sample
    # (e.g. m = tokens per sample, n = out features, k = in features). None for non-GEMMs.
    gemm: tuple[float, int, int] | None = None
    tp: str | None = None         # see TPSplit
    seq: bool = False             # True when the op's rows run along the sequence (SP/CP split them)
    expert: bool = False          # True for ops inside an MoE expert (EP splits them)
    attn: tuple[int, int, int] | None = None  # (seq_len, heads, head_dim) for attention ops
    groups: int = 1               # convolution groups / batch of independent GEMMs in one op
    # Convolutions: input elements per sample that one rank must receive from EACH neighbour when
    # the op's rows (first spatial axis) are split across ranks (spatial/context parallelism):
    # kernel_rows // 2 rows of the input. 0 for 1x1 convs and non-convolutions.
    halo: float = 0.0
    # Independent images in one sample's work on this op (an FSD clip's cameras x frames through
    # the per-image backbone): a spatial split first hands whole images to ranks, which needs no
    # halo, and cuts rows only beyond that. 1 = one image (or unknown).
    images: int = 1
    # Convolutions: the input's spatial size per image and the kernel, per axis (rows first; depth
    # first for 3-D grids), for the per-block partition of a spatial split (engine/partition.py).
    spatial: tuple[int, ...] = ()
    kernel: tuple[int, ...] = ()
    # traced ops only: shapes of the tensor inputs, then (last) of the output, whole traced batch
    shapes: tuple[tuple[int, ...], ...] = ()

    def halo_per_rank(self, ranks: int) -> float:
        """Elements per sample one of ``ranks`` spatial ranks receives from each neighbour: none
        while whole images go to ranks, one image's boundary rows once rows must be cut."""
        if ranks <= 1 or ranks <= self.images:
            return 0.0
        return self.halo / self.images

    @property
    def bwd_flops(self) -> float:
        return self.flops * BACKWARD_FLOP_FACTOR.get(self.kind, 1.0)

    @property
    def gemm_per_group(self) -> tuple[float, float, float] | None:
        """The shape of ONE of the ``groups`` independent GEMMs (``gemm`` is the whole op, with
        flops == 2*m*n*k). A grouped convolution splits the output channels (k is already per
        group); a batched matmul (MoE experts, attention via bmm) splits the rows."""
        if self.gemm is None:
            return None
        m, n, k = self.gemm
        if self.groups <= 1:
            return (m, n, k)
        if self.kind == "conv":
            return (m, n / self.groups, k)
        return (m / self.groups, n, k)

    def scaled(self, factor: float) -> "Op":
        """The same op over ``factor`` times as much per-sample work (params unchanged)."""
        g = self.gemm
        return replace(
            self,
            flops=self.flops * factor,
            reads=self.reads * factor,
            writes=self.writes * factor,
            saved=self.saved * factor,
            gemm=(g[0] * factor, g[1], g[2]) if g else None,
            halo=self.halo * factor,
        )


@dataclass(frozen=True, slots=True)
class Block:
    """A sequence of ops repeated ``count`` times (e.g. one transformer layer x 96)."""

    name: str
    ops: tuple[Op, ...]
    count: int = 1
    layer: bool = False           # True: each repetition is a pipeline-splittable layer

    @property
    def flops(self) -> float:
        return self.count * sum(op.flops for op in self.ops)

    @property
    def params(self) -> int:
        return self.count * sum(op.params for op in self.ops)

    @property
    def saved(self) -> float:
        return self.count * sum(op.saved for op in self.ops)


@dataclass(frozen=True)
class Model:
    """A network as an ordered list of blocks, plus what the engine needs to know about it."""

    name: str
    blocks: tuple[Block, ...]
    family: str = "generic"               # transformer | moe | cnn | vit | fsd | occupancy | traced
    seq_len: int | None = None            # tokens per sample (None: not a token model)
    hidden: int | None = None
    heads: int | None = None              # attention heads (TP must divide them)
    kv_heads: int | None = None
    layers: int | None = None             # pipeline-splittable layers (sum of layer-block counts)
    experts: int | None = None
    top_k: int | None = None
    input_bytes_per_sample: float = 0.0   # bytes the data loader must deliver per sample
    sample_unit: str = "sample"           # what one sample is: sequence | image | clip
    config: dict = field(default_factory=dict)  # the builder's full configuration (for display)
    warnings: tuple[str, ...] = ()        # e.g. ops the tracer could not cost

    @property
    def params(self) -> int:
        return sum(b.params for b in self.blocks)

    @property
    def flops_fwd_per_sample(self) -> float:
        return sum(b.flops for b in self.blocks)

    @property
    def flops_train_per_sample(self) -> float:
        """Forward + backward FLOPs of one sample (no recompute)."""
        return sum(b.count * sum(op.flops + op.bwd_flops for op in b.ops) for b in self.blocks)

    @property
    def activation_elements_per_sample(self) -> float:
        return sum(b.saved for b in self.blocks)

    @cached_property  # the engine asks on every estimate; a model is frozen
    def spatial_rows(self) -> int | None:
        """How many ranks one sample of this network can be spread over spatially: the smallest,
        over its blocks, of the most chips any of the block's partitions (images, rows, columns,
        depth, channels; engine/partition.py) can use. None when no block is spatial."""
        from ..engine.partition import limit

        caps = [c for c in (limit(b) for b in self.blocks) if c is not None]
        return int(min(caps)) if caps else None

    @property
    def tokens_per_sample(self) -> int | None:
        return self.seq_len

    def iter_ops(self):
        """Yield (block, op) pairs; each op stands for ``block.count`` repetitions."""
        for block in self.blocks:
            for op in block.ops:
                yield block, op
