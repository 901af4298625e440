"""Every efficiency constant of the engine, named, in one place.

Each constant applies to every system alike (chips differ only in their data) and says where its
value comes from. None is fitted to one published case: the values are rounded figures from
vendor micro-benchmarks and papers, and `dojosim validate` shows how far they carry.

Two sections, each owned by one engineer: COMPUTE / MEMORY / SCHEDULE (engine core) and
COMMUNICATION (collectives). Add to your own section only.
"""
from __future__ import annotations

# ============================================================================================
# ENGINE CORE: compute, memory, schedule, overheads
# ============================================================================================

# --- compute -------------------------------------------------------------------------------

# Best fraction of the dtype's peak that a large, well-shaped dense GEMM reaches. cuBLAS on
# A100 reaches ~250-270 of 312 TFLOP/s fp16 on 8k GEMMs (NVIDIA "Matrix multiplication
# background" guide; Narayanan et al. SC'21 report ~80% in isolation). Also used for Dojo's
# and TPU's matrix units, whose published peaks assume the same kind of dense tiles.
GEMM_PEAK_EFFICIENCY = 0.80

# A GEMM dimension comparable to the tensor-core tile loses efficiency to tile and wave
# quantization and to lower reuse. Each dimension d contributes d / (d + GEMM_HALF_DIM); with
# 128 (CUTLASS's default 128x128 thread-block tile) a 4096 dimension keeps 97%, a 256 one 67%.
GEMM_HALF_DIM = 128.0

# Fraction of the vector (non-matrix) units' peak that direct kernels reach on arithmetic-heavy
# element work, e.g. depthwise/narrow grouped convolutions that do not fill matrix tiles. Such
# kernels are usually memory-bound, which the roofline's bandwidth term captures; when they are
# not, ~50% of the FP32 FMA peak is typical of hand-written direct convolution kernels
# (assumed, round figure; used only where it beats the matrix path).
VECTOR_EFFICIENCY = 0.5

# Fused attention (softmax(QK^T)V in one kernel) runs well below dense GEMMs: "FlashAttention
# ... reaching only 25-40% of the theoretical maximum FLOPs/s" on A100 (Dao 2023, FlashAttention-2,
# abstract), the backward pass at the low end; Megatron's fused scale-mask-softmax between two
# batched GEMMs (2021) and the Triton flash attention of MosaicML's MPT runs (2023) are of that
# generation. FlashAttention-2/3 reach 50-75%: raise these for runs known to use them.
# Fractions of the dtype's peak, times the sequence-length tile factor, applied to attention
# FLOPs as the graph counts them (the causal mask NOT halved, the published convention); a
# kernel that skips masked blocks does half that work at a lower rate, so the product is the
# same order. Counting half and doubling these made validation worse (docs/validation.md).
ATTENTION_FWD_EFFICIENCY = 0.40
ATTENTION_BWD_EFFICIENCY = 0.30

# Fraction of the peak memory bandwidth that streaming kernels (norms, activations, adds,
# optimizer) reach: ~80-90% on HBM (STREAM-like copies on A100/H100 reach ~1.7 of 2.0 TB/s and
# ~2.9 of 3.35 TB/s). Also used for SRAM streams on Dojo.
MEMORY_EFFICIENCY = 0.80

# Backward of a memory-bound op reads the saved input and the output gradient and writes the
# input gradient (and, for ops with parameters, a weight gradient): about twice the forward's
# traffic.
BACKWARD_BYTES_FACTOR = 2.0

# Fixed cost of one kernel (launch + tail); each op of the graph is one kernel per pass. CUDA
# launch latency is ~3-5 us, and small kernels rarely finish in under ~5 us (NVIDIA Nsight
# measurements commonly cited; Dojo's compiler-scheduled graph pays a similar per-op sync).
KERNEL_OVERHEAD_S = 5e-6

# Fraction of fp8 training's matmul FLOPs that actually run at the fp8 peak. Transformer Engine
# runs linear layers in fp8 but keeps attention, norms, softmax and the output layer in bf16.
# Matmuls marked as GEMMs run at the fp8 peak; everything else uses the bf16 peak. (Dojo's
# cfp8, and fp8 on a chip without an fp8 peak; NVIDIA's fp8 follows the FP8_* model below.)
FP8_GEMM_ONLY = True

# --- fp8 as NVIDIA Transformer Engine runs it (precision "fp8" on a chip with an fp8 peak) -----
# Which ops: TE's te.Linear / LayerNormLinear / LayerNormMLP run their GEMMs (forward, data and
# weight gradient) in fp8 -- in a transformer layer the QKV, attention-output, FC1 and FC2
# projections and MoE expert GEMMs. The attention core (softmax(QK^T)V; TE's fp8 attention,
# `fp8_dpa`, is opt-in and off by default), norms, activations, the embedding and the output
# layer + loss stay in bf16 (TE documentation, "Using FP8 with Transformer Engine"; Megatron-LM
# builds only the transformer layers from TE modules). Convolutions have no TE fp8 path.
#
# Fraction of the bf16 GEMM efficiency that fp8 GEMMs keep, of their own (2x) peak. Large
# cuBLAS(Lt) GEMMs on H100 SXM reach ~1,250-1,400 of 1,979 dense fp8 TFLOP/s (~63-70%) against
# ~700-760 of 989 bf16 (~71-77%) (SemiAnalysis, "MI300X vs H100 vs H200 Benchmark Part 1:
# Training", Dec 2024; NVIDIA's cuBLAS 12 release notes show the same ~1.8x fp8/bf16 ratio, not
# 2x): the same kernels hit the 700 W power limit and lower clocks sooner at fp8, and the
# epilogue (bf16 output, scaling) does not speed up. Ratio ~0.88; assumed 0.88, range 0.80-0.95,
# for H100, H200 (same SMs and power limit) and B200 (no independent measurement found; same
# ~1.8x vendor-benchmark ratio assumed).
FP8_GEMM_EFFICIENCY = 0.88

# Bytes of memory traffic per element to cast a GEMM operand to fp8 in TE: read 2 B of bf16,
# write the fp8 copy (1 B) and its transpose (1 B, TE's fused cast_transpose: the weight
# gradient needs the transposed input, the data gradient the transposed output gradient). Paid
# once on each fp8 GEMM's input in the forward pass and once on its output gradient in the
# backward pass; the amax of each tensor is computed in the same kernel. TE fuses the input cast
# into the LayerNorm before QKV/FC1 and into the GeLU before FC2, saving the 2 B read there: 4 is
# the unfused figure, assumed, range 2-4.
FP8_CAST_BYTES_PER_ELEMENT = 4.0

# The weights' fp8 copies (and transposes) are made once per optimizer step: Megatron-LM passes
# TE's `is_first_microbatch`, so later micro-batches reuse them (TE module docs). Bytes per
# parameter of that cast: read 2, write 1 + 1 (cast_transpose).
FP8_WEIGHT_CAST_BYTES_PER_PARAM = 4.0

# Delayed scaling bookkeeping per micro-batch: TE (>= 1.0) updates every fp8 tensor's amax
# history and scale in one fused multi-tensor kernel at the end of each forward and each backward
# pass, after reducing the amaxes over the data- and tensor-parallel group (one small all-reduce
# per pass; `reduce_amax`, TE's DelayedScaling recipe). Costed as those 2 kernels plus 2
# all-reduces of 4 bytes per fp8 tensor (3 per GEMM: input, weight, output gradient).
FP8_AMAX_TENSORS_PER_GEMM = 3

# --- memory ---------------------------------------------------------------------------------

# On a chip without local DRAM (Dojo's D1), the share of its SRAM that can hold an op's operand
# tensors; the rest holds code, the resident weight shard, gradient accumulators and the
# communication buffers (the D1's nodes run compute and communication threads side by side,
# HC34). An op whose operands are larger than this streams the excess from the memory pool
# attached above the chip (the DIP HBM over TTP) at that pool's per-chip bandwidth. Assumed:
# Tesla has not published how the 440 MB are split; half is a round middle value.
SRAM_OPERAND_FRACTION = 0.5

# Bytes of optimizer state per parameter for mixed-precision Adam: fp32 master weights (4) +
# fp32 momentum (4) + fp32 variance (4) (Rajbhandari et al. 2020, ZeRO, §3.1: K = 12).
ADAM_STATE_BYTES = 12.0
# fp32 training keeps no master copy: momentum + variance only.
ADAM_STATE_BYTES_FP32 = 8.0

# Workspace and allocator slack: CUDA context, cuBLAS/NCCL workspaces and fragmentation take
# ~2-5 GB of an 80 GB GPU in practice (PyTorch memory docs; Megatron-LM reports). Modelled as a
# fraction of the device's capacity plus the communication buffers counted separately.
RESERVED_MEMORY_FRACTION = 0.05

# Bytes per parameter of the gathered-parameter and gradient buckets of DDP/ZeRO (one bucket in
# flight, one being filled): PyTorch DDP's default bucket is 25 MB; FSDP keeps ~2 layers
# gathered (prefetch). Counted as a layer's parameters times this factor.
ZERO3_LIVE_LAYERS = 2.0

# --- schedule and overheads -------------------------------------------------------------------

# Optimizer step: Adam touches per parameter (on its shard) the fp32 master, m, v, and the
# gradient, reading ~16 and writing ~14 bytes; fused multi-tensor Adam runs at memory bandwidth.
ADAM_BYTES_PER_PARAM = 30.0

# Per-step framework overhead (Python, logging, loss scaling checks, gradient clipping norm,
# synchronisations) as a fraction of the step. Narayanan et al. SC'21 and the validation
# README report analytical models 5-12% too fast on end-to-end runs; we take a flat 3% plus
# the explicitly modelled optimizer and data terms.
FRAMEWORK_OVERHEAD_FRACTION = 0.03

# Compute slowdown while a collective runs beside it. NCCL runs one thread block per channel on
# its own SM, and on nodes with 8 NICs it opens 16-32 channels (NCCL_MIN/MAX_NCHANNELS, NCCL
# docs), i.e. 15-30% of an A100's 108 SMs; it also competes for HBM bandwidth (Rashidi et al.,
# ISCA 2021). Overlapped compute is taken to run 20% slower while the transfer lasts.
OVERLAP_COMPUTE_SLOWDOWN = 0.2

# Fraction of the last micro-batch's backward pass that data-parallel gradient reduction can
# hide behind (bucketed all-reduce / reduce-scatter issued as gradients become ready, as PyTorch
# DDP, FSDP and DeepSpeed do; Li et al. 2020, "PyTorch Distributed", §3.2.3). Earlier
# micro-batches only accumulate. The last bucket (the first layer's gradients) always shows.
DP_OVERLAP_FRACTION = 1.0

# ZeRO/FSDP collectives (parameter all-gathers, gradient reduce-scatters over the data-parallel
# group) are costed as one flat ring over all ranks: each rank's (n-1)/n of the data crosses its
# own port into the outermost level the group spans, instead of the 1/(ranks per node) a
# hierarchical algorithm would send. The frameworks issue them on the flat data-parallel process
# group, per layer, on a side stream; the measured DeepSpeed ZeRO-3 runs on Selene
# (Narayanan et al. SC'21, Table 2: 174.6B and 529.6B at 384-2240 A100s) are bound by ~17-19 GB/s
# per GPU (the per-GPU HDR port, 25 GB/s), not by a node's 200 GB/s; ZeRO++ (Wang et al. 2023)
# and FSDP's HYBRID_SHARD exist because of this cross-node cost. Plain data-parallel all-reduce
# (NCCL ring/tree, hierarchical) is not affected.
SHARDED_DP_FLAT_RING = True

# ============================================================================================
# COMMUNICATION (owned by the communication engineer; add your constants below)
# ============================================================================================

# All collectives are α-β models (docs/communication.md). β: a rank's share of a link or port,
# times COMM_BANDWIDTH_EFFICIENCY. α: the level's hardware latency_s per hop plus
# COMM_STEP_OVERHEAD_S per algorithm step, plus COLLECTIVE_LAUNCH_S once per collective.

# Fraction of a link's per-direction rate that collectives reach. NCCL's published bus
# bandwidths are ~80-90% of the link rate: all_reduce busbw ~360-380 of 450 GB/s on DGX H100
# NVLink, ~230-250 of 300 GB/s on DGX A100, ~23-24 of 25 GB/s per HDR port on InfiniBand
# (nccl-tests results in NVIDIA's DGX user guides and many cluster reports). Assumed, rounded
# to the middle of that range; the same value serves Dojo's mesh links and TPU ICI, for which
# nothing is published.
COMM_BANDWIDTH_EFFICIENCY = 0.85

# Software/synchronisation cost of one algorithm step (one ring step, one tree level), on top
# of the level's hardware latency. NCCL's own tuning model charges ~0.5-1 us per NVLink hop
# and a few us per network hop on top of the wire (nccl src/graph/tuning.cc); assumed 1 us.
COMM_STEP_OVERHEAD_S = 1e-6

# Fixed cost of launching one collective (kernel launch, proxy hand-off). Small-message
# all_reduce on 8 NVLink GPUs takes ~10-20 us in nccl-tests, of which the step latencies above
# explain about half; assumed 5 us.
COLLECTIVE_LAUNCH_S = 5e-6

# How much the per-level bandwidth phases of a hierarchical collective overlap. NCCL streams a
# buffer in chunks through all levels at once (a ring crosses NVLink and the NICs in the same
# pipeline), so the slowest level bounds the time: 1.0 = fully pipelined (time = slowest level),
# 0.0 = phases one after another (time = sum). Multi-node nccl-tests bus bandwidth close to
# the node's NIC rate supports 1.0. Latency terms always add.
COMM_LEVEL_OVERLAP = 1.0
