"""The torch tracer: any ``nn.Module`` to an op graph, without real memory or compute.

The module runs once through ``torch.func.functional_call`` with every parameter, buffer and
input replaced by a *meta* tensor (shapes and dtypes only), under two modes:

- a ``TorchDispatchMode`` that sees every aten op: it records the op's kind, FLOPs, elements
  read and written, the parameters it consumes, what it saves for backward and the module path
  that owns it (kept by forward hooks);
- a ``TorchFunctionMode`` that records a few composite functions as ONE fused op, as the zoo
  and the engine see them: scaled-dot-product attention (flash: the s x s scores never exist),
  layer/RMS/batch/group norm, dropout and cross-entropy. The aten ops inside them are not
  recorded again.

Views and tensor factories are free and not recorded. An aten op with no cost rule is recorded
with its bytes and zero FLOPs, and its name is listed in ``Model.warnings`` and warned about -
never silently zero. Counts are divided by the batch (dim 0 of the first input) to be per sample.
"""
from __future__ import annotations

import math
import re
import warnings as _warnings
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from .graph import Block, Model, Op
from . import ops as C
from .trace_hints import infer_hints

MATMUL = {"mm", "addmm", "bmm", "baddbmm", "mv", "addmv", "dot", "vdot"}
CONV = {"convolution", "_convolution", "conv2d", "conv3d", "conv1d"}
ACTIVATIONS = {"relu", "gelu", "silu", "sigmoid", "tanh", "exp", "log", "rsqrt", "sqrt", "pow", "erf",
               "softplus", "elu", "leaky_relu", "hardswish", "hardsigmoid", "mish", "sin", "cos",
               "hardtanh", "reciprocal", "log_sigmoid_forward", "threshold", "glu", "celu", "selu"}
ELEMENTWISE = ACTIVATIONS | {"add", "sub", "mul", "div", "neg", "abs", "clamp", "clamp_min", "clamp_max",
                             "where", "masked_fill", "addcmul", "addcdiv", "lerp", "minimum", "maximum",
                             "square", "rsub", "fill", "sign", "floor", "ceil", "round", "eq", "ne", "lt",
                             "gt", "le", "ge", "logical_and", "logical_or", "logical_not", "bitwise_and",
                             "index_add", "scatter_add", "scatter_reduce", "trunc", "frac", "remainder"}
MOVEMENT = {"clone", "copy", "cat", "stack", "_to_copy", "index", "index_select", "gather", "scatter",
            "constant_pad_nd", "repeat", "roll", "flip", "reflection_pad2d", "replication_pad2d",
            "index_put", "masked_scatter", "_unsafe_index", "embedding_dense_backward", "tril", "triu",
            "pixel_shuffle", "pixel_unshuffle", "im2col", "col2im", "repeat_interleave"}
REDUCTIONS = {"sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std", "var_mean",
              "topk", "sort", "cumsum", "norm", "linalg_vector_norm", "nll_loss_forward", "mse_loss",
              "logsumexp", "prod", "any", "all", "nll_loss2d_forward", "binary_cross_entropy",
              "binary_cross_entropy_with_logits", "smooth_l1_loss", "l1_loss", "huber_loss", "count_nonzero"}
SOFTMAX = {"_softmax", "_log_softmax", "_safe_softmax", "softmax", "log_softmax"}
NORMS = {"native_layer_norm", "native_batch_norm", "_native_batch_norm_legit",
         "_native_batch_norm_legit_functional", "_native_batch_norm_legit_no_training", "native_group_norm",
         "_fused_rms_norm", "cudnn_batch_norm"}
POOL = {"max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool2d", "avg_pool3d",
        "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool2d", "upsample_nearest2d",
        "upsample_bilinear2d", "upsample_nearest3d", "upsample_trilinear3d", "_upsample_nearest_exact2d",
        "max_pool2d", "grid_sampler_2d", "grid_sampler_3d"}
FREE = {"empty", "empty_like", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "arange",
        "scalar_tensor", "new_empty", "new_zeros", "new_ones", "new_full", "rand", "randn", "randint",
        "rand_like", "randn_like", "bernoulli", "lift_fresh", "lift_fresh_copy", "detach", "alias",
        "_local_scalar_dense", "empty_strided", "new_empty_strided", "linspace", "normal", "uniform",
        "resize_", "set_", "_assert_async", "sym_size", "sym_stride", "sym_numel", "is_nonzero", "item",
        "_has_compatible_shallow_copy_type", "random", "zero", "embedding_renorm"}
EMBEDDING = {"embedding"}
GATHERS = {"index", "index_select", "gather", "_unsafe_index"}  # read what they gather, not the source
# Composite functions recorded as one fused op (TorchFunctionMode, by __name__).
FUSED = {"scaled_dot_product_attention": "attention", "layer_norm": "norm", "rms_norm": "norm",
         "batch_norm": "norm", "group_norm": "norm", "instance_norm": "norm", "dropout": "dropout",
         "dropout1d": "dropout", "dropout2d": "dropout", "dropout3d": "dropout", "alpha_dropout": "dropout",
         "cross_entropy": "softmax"}


def _base(func) -> str:
    name = func.__name__ if hasattr(func, "__name__") else str(func)
    name = name.split(".")[0]
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


def _tensors(obj) -> list:
    return [t for t in tree_flatten(obj)[0] if isinstance(t, torch.Tensor)]


def _first_tensor(args, kwargs):
    return next(t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor))


def _numel(t) -> int:
    return math.prod(t.shape) if isinstance(t, torch.Tensor) else 0


@dataclass
class _Rec:
    path: str
    op: str
    kind: str
    flops: float
    reads: float
    writes: float
    params: int
    saved: float
    gemm: tuple | None = None
    groups: int = 1
    attn: tuple | None = None
    shapes: tuple = ()
    srcs: tuple = ()              # indices of the records that produced this op's activation inputs
    tp: str | None = None         # parallelism hints, inferred afterwards (trace_hints)
    seq: bool = False
    expert: bool = False
    i: int = -1                   # index in the trace


@dataclass
class _State:
    param_of: dict = field(default_factory=dict)     # id(tensor) -> parameter name (views included)
    numel_of: dict = field(default_factory=dict)     # parameter name -> numel
    claimed: set = field(default_factory=set)        # parameters already owned by an op
    stack: list = field(default_factory=lambda: [""])
    records: list = field(default_factory=list)
    uncosted: Counter = field(default_factory=Counter)
    keep: list = field(default_factory=list)         # tensors kept alive so their ids stay unique
    producer: dict = field(default_factory=dict)     # id(activation) -> index of the record that made it
    suppress: int = 0
    batch: int = 1

    def claim(self, tensors) -> int:
        n = 0
        for t in tensors:
            name = self.param_of.get(id(t))
            if name is not None and name not in self.claimed:
                self.claimed.add(name)
                n += self.numel_of[name]
        return n

    def activation_inputs(self, tensors) -> list:
        return [t for t in tensors if id(t) not in self.param_of]

    def record(self, op: str, kind: str, flops: float, ins: list, outs: list, *, saved: float = 0.0,
               gemm=None, groups: int = 1, attn=None, gather: bool = False) -> None:
        b = self.batch
        params = self.claim(ins)
        if gather:  # a lookup reads the rows it gathers and the indices, not the whole table
            reads = (sum(map(_numel, outs)) + sum(_numel(t) for t in ins if not t.is_floating_point())) / b
        else:
            reads = sum(_numel(t) for t in ins if id(t) not in self.param_of) / b + params
        shapes = tuple(tuple(t.shape) for t in (*ins, *outs[:1]))  # inputs, then the output
        srcs = tuple(self.producer[id(t)] for t in ins if id(t) in self.producer)
        for t in outs:
            self.producer[id(t)] = len(self.records)
            self.keep.append(t)
        self.records.append(_Rec(self.stack[-1], op, kind, flops / b, reads, sum(map(_numel, outs)) / b,
                                 params, saved / b, gemm, groups, attn, shapes, srcs, i=len(self.records)))


def _gemm_cost(name: str, args, out):
    """(flops, gemm view (m per batch, n, k), groups) of a matmul/conv aten op."""
    if name in ("mv", "addmv", "dot", "vdot"):
        a = args[1] if name == "addmv" else args[0]
        m, k = (a.shape if a.dim() == 2 else (1, a.shape[0]))
        return 2.0 * m * k, (m, 1, k), 1
    if name in ("mm", "addmm"):
        a, w = (args[0], args[1]) if name == "mm" else (args[1], args[2])
        m, k = a.shape
        n = w.shape[1]
        return 2.0 * m * n * k, (m, n, k), 1
    if name in ("bmm", "baddbmm"):
        a, w = (args[0], args[1]) if name == "bmm" else (args[1], args[2])
        bt, m, k = a.shape
        n = w.shape[2]
        return 2.0 * bt * m * n * k, (bt * m, n, k), bt
    # convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    x, w = args[0], args[1]
    transposed = bool(args[6]) if len(args) > 6 else False
    groups = int(args[8]) if len(args) > 8 else 1
    vol = math.prod(w.shape[2:])
    if transposed:
        m = x.shape[0] * math.prod(x.shape[2:])
        n, k = w.shape[1] * groups * vol, w.shape[0]
        return 2.0 * m * n * k / groups, (m, n, k // groups), groups
    m = out.shape[0] * math.prod(out.shape[2:])
    n, k = out.shape[1], w.shape[1] * vol
    return 2.0 * m * n * k, (m, n, k), groups


class _Dispatch(TorchDispatchMode):
    def __init__(self, state: _State):
        super().__init__()
        self.s = state

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        s = self.s
        ins = _tensors((args, kwargs))
        outs = _tensors(out)
        # a view of a parameter is still that parameter (e.g. the transposed weight of addmm)
        if getattr(func, "is_view", False) or _base(func) in ("t", "view", "_unsafe_view", "detach", "alias"):
            src = next((s.param_of[id(t)] for t in ins if id(t) in s.param_of), None)
            if src is not None:
                for t in outs:
                    s.param_of[id(t)] = src
                    s.keep.append(t)
            made = next((s.producer[id(t)] for t in ins if id(t) in s.producer), None)
            if made is not None:  # a view of an activation comes from the op that made it
                for t in outs:
                    s.producer[id(t)] = made
                    s.keep.append(t)
            return out
        if s.suppress:
            return out
        self._cost(func, args, ins, outs, out)
        return out

    def _cost(self, func, args, ins, outs, out) -> None:
        s, name = self.s, _base(func)
        n_out = sum(map(_numel, outs))
        acts = s.activation_inputs(ins)
        if name in FREE:
            return
        if name in MATMUL or name in CONV:
            flops, gemm, groups = _gemm_cost(name, args, outs[0])
            kind = "matmul" if name in MATMUL else "conv"
            s.record(name, kind, flops, ins, outs, saved=sum(map(_numel, acts)),
                     gemm=(gemm[0] / s.batch, gemm[1], gemm[2]), groups=groups)
        elif name in ELEMENTWISE:
            n = _numel(args[3]) if name in ("index_add", "scatter_add") else n_out
            saved = sum(map(_numel, acts)) if name in ACTIVATIONS or name in ("mul", "div") else 0.0
            s.record(name, "elementwise", C.ELEMENTWISE_FLOPS * n, ins, outs, saved=saved)
        elif name in SOFTMAX:
            s.record(name, "softmax", C.SOFTMAX_FLOPS * n_out, ins, outs, saved=n_out)
        elif name in NORMS:
            x = _numel(ins[0])
            s.record(name, "norm", C.NORM_FLOPS * x, ins, outs[:1], saved=x)
        elif name in REDUCTIONS:
            s.record(name, "reduction", float(_numel(ins[0])), ins, outs)
        elif name in POOL:
            if name.startswith(("max_pool", "avg_pool")):
                k = args[1] if len(args) > 1 else 1
                k = k if isinstance(k, (list, tuple)) else [k] * (outs[0].dim() - 2)
                s.record(name, "pool", float(_numel(outs[0]) * math.prod(k)), ins, outs[:1], saved=_numel(outs[0]))
            elif name.startswith("_adaptive"):
                s.record(name, "pool", float(_numel(ins[0])), ins, outs)
            else:
                s.record(name, "pool", C.ELEMENTWISE_FLOPS * n_out, ins, outs)
        elif name in EMBEDDING:
            s.record(name, "embedding", 0.0, ins, outs, gather=True)
        elif name in MOVEMENT:
            s.record(name, "other", 0.0, ins, outs, gather=name in GATHERS)
        else:
            s.uncosted[f"aten.{name}"] += 1
            s.record(name, "other", 0.0, ins, outs)


# TorchDispatchMode wraps a subclass's __torch_dispatch__ in torch._disable_dynamo at class
# creation, which imports dynamo (~1-2 s) on the first trace of a process. The tracer never
# runs under torch.compile, so it sets the plain method afterwards.
_Dispatch.__torch_dispatch__ = getattr(_Dispatch.__torch_dispatch__, "__wrapped__", _Dispatch.__torch_dispatch__)


class _Functions(TorchFunctionMode):
    def __init__(self, state: _State):
        super().__init__()
        self.s = state

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        what = FUSED.get(getattr(func, "__name__", ""))
        s = self.s
        if what is None or s.suppress:
            return func(*args, **kwargs)
        if what == "attention":
            q, k, v = (*args[:3], *(kwargs[n] for n in ("query", "key", "value")[len(args[:3]):]))
            out = q.new_empty((*q.shape[:-1], v.shape[-1]))
        elif what == "norm":
            # a norm keeps its input's shape; not running its meta kernel (a Python decomposition
            # for batch norm) saves seconds on the first trace of a process
            out = _first_tensor(args, kwargs).new_empty(_first_tensor(args, kwargs).shape)
        else:
            s.suppress += 1
            try:
                out = func(*args, **kwargs)
            finally:
                s.suppress -= 1
        ins = _tensors((args, kwargs))
        x = ins[0]
        name = func.__name__
        if what == "attention":
            heads = q.shape[-3] if q.dim() >= 3 else 1
            L, S = q.shape[-2], k.shape[-2]
            rows = math.prod(q.shape[:-1])  # batch * heads * L
            flops = 2.0 * rows * S * (q.shape[-1] + v.shape[-1])
            saved = _numel(q) + _numel(k) + _numel(v) + _numel(out) + rows
            s.record(name, "attention", flops, ins, [out], saved=saved, attn=(L, heads, q.shape[-1]))
        elif what == "norm":
            s.record(name, "norm", C.NORM_FLOPS * _numel(x), ins, [out], saved=_numel(x))
        elif what == "dropout":
            if out is x:  # eval mode or p == 0: nothing happened
                return out
            s.record(name, "elementwise", C.ELEMENTWISE_FLOPS * _numel(x), ins, [out],
                     saved=C.DROPOUT_MASK_ELEMENTS * _numel(x))
        else:  # cross-entropy: softmax over the logits (+ a negligible gather)
            s.record(name, "softmax", C.SOFTMAX_FLOPS * _numel(x), ins, [out], saved=_numel(x))
        return out


def _to_meta(t):
    if isinstance(t, torch.Tensor):
        return torch.empty(t.shape, dtype=t.dtype, device="meta")
    return t


def trace_records(module, example_inputs) -> tuple[list[_Rec], _State]:
    """Run ``module(*example_inputs)`` on meta tensors and return the recorded ops (per sample)."""
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    state = _State()
    params = {n: _to_meta(p) for n, p in module.named_parameters(remove_duplicate=False)}
    # tied parameters: the same tensor under two names is one parameter
    seen: dict[int, str] = {}
    for n, p in module.named_parameters(remove_duplicate=False):
        first = seen.setdefault(id(p), n)
        params[n] = params[first]
        state.param_of[id(params[n])] = first
        state.numel_of[first] = p.numel()
    buffers = {n: _to_meta(b) for n, b in module.named_buffers()}
    inputs = tree_map(_to_meta, example_inputs)
    first = next((t for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)), None)
    state.batch = int(first.shape[0]) if first is not None and first.dim() > 0 else 1

    names = {m: n for n, m in module.named_modules()}

    def pre(mod, _args):
        if mod in names:
            state.stack.append(names[mod])

    def post(mod, _args, _out):
        if mod in names and len(state.stack) > 1:
            state.stack.pop()

    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    h1, h2 = register_module_forward_pre_hook(pre), register_module_forward_hook(post)
    try:
        with _Functions(state), _Dispatch(state):
            torch.func.functional_call(module, {**params, **buffers}, inputs, strict=False)
    finally:
        h1.remove()
        h2.remove()
    unused = sum(n for name, n in state.numel_of.items() if name not in state.claimed)
    if unused:
        state.records.append(_Rec("", "unused_parameters", "other", 0.0, 0.0, 0.0, unused, 0.0))
    return state.records, state


def repeat_containers(module) -> set[str]:
    """Layer stacks: every ModuleList, and Sequentials of two or more children all of one class."""
    out = set()
    for name, mod in module.named_modules():
        kinds = Counter(type(c).__name__ for c in mod.children())
        if isinstance(mod, torch.nn.ModuleList) and kinds:
            out.add(name)
        elif isinstance(mod, torch.nn.Sequential) and len(kinds) == 1 and sum(kinds.values()) > 1:
            out.add(name)
    return out


def _group_key(path: str, repeats: set[str]) -> str:
    """The layer a module path belongs to: a child of the outermost layer stack on the path
    (descending through directly nested stacks, e.g. 'stages.1.2'), else its top module."""
    comps = path.split(".") if path else []
    for i in range(len(comps) - 1):
        prefix = ".".join(comps[: i + 1])
        if prefix in repeats:
            j = i + 1
            key = f"{prefix}.{comps[j]}"
            while key in repeats and j + 1 < len(comps):
                j += 1
                key = f"{key}.{comps[j]}"
            return key
    return comps[0] if comps else "(root)"


def _norm(path: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", ".*", path)


def _halo(r: _Rec) -> float:
    """Input elements per sample a row-split convolution receives from each neighbour: the
    kernel's half height of the input rows (as `ops.conv` counts it); 0 for 1x1 and for
    transposed (upsampling) convolutions, whose output is larger than their input."""
    if r.kind != "conv" or len(r.shapes) < 3 or len(r.shapes[0]) < 4:
        return 0.0
    x, w, out = r.shapes[0], r.shapes[1], r.shapes[-1]
    if out[2] > x[2]:
        return 0.0
    return max(r.reads - r.params, 0.0) * (w[2] // 2) / x[2]


def _to_op(r: _Rec, name: str) -> Op:
    return Op(name=name, kind=r.kind, flops=r.flops, reads=r.reads, writes=r.writes, params=r.params,
              saved=r.saved, gemm=r.gemm, groups=r.groups, attn=r.attn, shapes=r.shapes,
              tp="heads" if r.kind == "attention" else r.tp, seq=r.seq, expert=r.expert,
              halo=_halo(r))


def _container(key: str) -> str:
    return key.rsplit(".", 1)[0]


def _absorb_glue(segments: list) -> list:
    """Ops of an enclosing module that run between two layers of one stack (e.g. a residual add
    written in the parent's forward) belong to the layer before them."""
    out: list = []
    i = 0
    while i < len(segments):
        key, recs = segments[i]
        if (out and i + 1 < len(segments) and _norm(out[-1][0]) != out[-1][0]
                and _norm(segments[i + 1][0]) == _norm(out[-1][0])
                and _container(out[-1][0]).startswith(key if key != "(root)" else "")
                and all(not r.path or _container(out[-1][0]).startswith(r.path) for r in recs)):
            out[-1] = (out[-1][0], out[-1][1] + recs)
        elif len(out) >= 2 and _norm(out[-1][0]) != out[-1][0] and _norm(out[-2][0]) == _norm(out[-1][0]) \
                and len(out[-2][1]) == len(out[-1][1]) + len(recs) \
                and [(r.path, r.op) for r in out[-2][1][-len(recs):]] == [(r.path, r.op) for r in recs]:
            # the same glue after the last layer of the stack as after the ones before it
            out[-1] = (out[-1][0], out[-1][1] + recs)
        else:
            out.append((key, recs))
        i += 1
    return out


def build_blocks(records: list[_Rec], repeats: set[str] = frozenset()) -> list[Block]:
    """Group ops by layer and store runs of identical layers once, with a count."""
    segments: list[tuple[str, list[_Rec]]] = []
    for r in records:
        key = _group_key(r.path, repeats)
        if segments and segments[-1][0] == key:
            segments[-1][1].append(r)
        else:
            segments.append((key, [r]))
    segments = _absorb_glue(segments)
    for key, recs in segments:
        if key != _norm(key):
            infer_hints(recs)
    blocks: list[Block] = []
    prev_sig = None
    for key, recs in segments:
        layer = key != _norm(key)
        ops = tuple(_to_op(r, f"{_norm(r.path) or '(root)'}:{r.op}") for r in recs)
        sig = (_norm(key), tuple((o.name, o.kind, o.flops, o.params, o.saved, o.tp, o.seq, o.expert) for o in ops))
        if layer and blocks and sig == prev_sig:
            last = blocks[-1]
            blocks[-1] = Block(last.name, last.ops, last.count + 1, True)
            continue
        blocks.append(Block(_norm(key) if layer else key, ops, 1, layer))
        prev_sig = sig
    return blocks


def from_torch(module, example_inputs, *, name: str | None = None) -> Model:
    """Trace ``module(*example_inputs)`` into an op graph (per sample = per row of dim 0)."""
    records, state = trace_records(module, example_inputs)
    blocks = build_blocks(records, repeat_containers(module))
    warn = tuple(f"uncosted op {op} x{n}: recorded with its bytes but zero FLOPs"
                 for op, n in sorted(state.uncosted.items()))
    for w in warn:
        _warnings.warn(f"dojosim tracer: {w}", stacklevel=2)
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    first = next((t for t in tree_flatten(tuple(example_inputs))[0] if isinstance(t, torch.Tensor)), None)
    tokens = first is not None and first.dim() == 2 and not first.is_floating_point()
    attn = next((r.attn for r in records if r.attn), None)
    in_bytes = sum(_numel(t) * t.element_size() for t in _tensors(tuple(example_inputs))) / state.batch
    layers = sum(b.count for b in blocks if b.layer)
    return Model(
        name=name or type(module).__name__, blocks=tuple(blocks), family="traced",
        seq_len=int(first.shape[1]) if tokens else None,
        heads=attn[1] if attn else None, hidden=attn[1] * attn[2] if attn else None,
        layers=layers or None, input_bytes_per_sample=float(in_bytes),
        sample_unit="sequence" if tokens else ("image" if first is not None and first.dim() == 4 else "sample"),
        config={"batch": state.batch}, warnings=warn,
    )
