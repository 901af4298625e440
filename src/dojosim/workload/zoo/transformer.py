"""Analytic builders of decoder-only transformers: GPT (GPT-2/3, Megatron), Llama and MoE.

The graph has three blocks, as the engine expects: ``embedding`` (layer=False), ``layers``
(ONE block, layer=True, count = number of layers) and ``head`` (final norm, output projection,
softmax cross-entropy; layer=False).

Activation memory (``Op.saved``, elements per sequence) follows Korthikanti et al. 2022,
"Reducing Activation Recomputation in Large Transformer Models", Sec. 4.1, per layer at 2 bytes
per element, with flash attention (no s x s terms):

    op                     saved (elements)    their term (bytes, b=1)
    ln1                    s*h                 layernorm input 2sh
    qkv                    s*h                 QKV matmul input 2sh
    attention (core)       4*s*h + a*s         Q,K (4sh), V (2sh), output projection input O (2sh)
                                               + softmax statistics a*s (flash; not in their count)
    proj                   0                   (its input O is counted on the attention op)
    proj_dropout           0.5*s*h             dropout mask sh
    ln2                    s*h                 layernorm input 2sh
    fc1                    s*h                 first MLP matmul input 2sh
    gelu                   4*s*h (= s*ffn)     GeLU input 8sh
    fc2                    4*s*h               second MLP matmul input 8sh
    mlp_dropout            0.5*s*h             dropout mask sh
                           ------
                           17*s*h + a*s        = 34*s*h bytes (+ stats), their flash-attention total

Without flash attention their count adds 5*a*s^2 bytes (scores, softmax output, its dropout
mask); the engine can add those back if it models an unfused attention. The attention op is
the "selective recompute" part (Korthikanti's Sec. 4.2 recomputes exactly the attention core).
"""
from __future__ import annotations

from ...errors import SpecError
from ..graph import Block, Model, Op
from .. import ops

TOKEN_ID_BYTES = 4  # int32 token ids delivered by the data loader per token


def _check(cfg: dict) -> tuple[int, int, int, int, int]:
    h, a = cfg["hidden"], cfg["heads"]
    kv = cfg.get("kv_heads") or a
    if h % a:
        raise SpecError("hidden", f"hidden {h} is not divisible by heads {a}")
    if a % kv:
        raise SpecError("kv_heads", f"heads {a} is not divisible by kv_heads {kv}")
    ffn = cfg.get("ffn") or 4 * h
    return h, a, kv, h // a, ffn


def _attention_ops(cfg: dict, s: int, h: int, a: int, kv: int, d: int, rope: bool, bias: bool) -> list[Op]:
    qkv_out = (a + 2 * kv) * d
    out = [ops.linear("attn.qkv", s, h, qkv_out, bias=bias, tp="column")]
    if rope:
        out.append(ops.elementwise("attn.rope", s * (a + kv) * d, flops_per=ops.ROPE_FLOPS, tp="split"))
    out.append(ops.attention("attn.core", s, s, a, d, kv))
    out.append(ops.linear("attn.proj", s, a * d, h, bias=bias, tp="row", saved=0.0))
    return out


def _mlp_ops(cfg: dict, s: int, h: int, ffn: int, gated: bool, bias: bool) -> list[Op]:
    if gated:  # SwiGLU: gate and up fused in one column-parallel GEMM, silu(gate) * up
        return [
            ops.linear("mlp.gate_up", s, h, 2 * ffn, bias=bias, tp="column"),
            ops.elementwise("mlp.swiglu", s * ffn, inputs=2, flops_per=2 * ops.ELEMENTWISE_FLOPS,
                            saved=2 * s * ffn, tp="split"),
            ops.linear("mlp.down", s, ffn, h, bias=bias, tp="row"),
        ]
    return [
        ops.linear("mlp.fc1", s, h, ffn, bias=bias, tp="column"),
        ops.elementwise("mlp.gelu", s * ffn, saved=s * ffn, tp="split"),
        ops.linear("mlp.fc2", s, ffn, h, bias=bias, tp="row"),
    ]


def moe_capacity_rows(cfg: dict, s: int) -> float:
    """Expert rows per sequence: every expert processes capacity = cf * tokens * top_k / experts."""
    return cfg["capacity_factor"] * cfg["top_k"] * s


def _moe_ops(cfg: dict, s: int, h: int, ffn: int) -> list[Op]:
    """Top-k routed experts with a capacity factor (GShard/Switch style): every expert
    processes a fixed capacity buffer, so compute = capacity_factor * top_k * tokens * FFN."""
    e, k = cfg["experts"], cfg["top_k"]
    if not 1 <= k <= e:
        raise SpecError("top_k", f"top_k {k} must be between 1 and experts {e}")
    rows = moe_capacity_rows(cfg, s)
    per_expert = rows / e
    return [
        ops.linear("moe.router", s, h, e, bias=False, saved=0.0),
        ops.softmax("moe.router_softmax", s * e),
        Op(name="moe.topk", kind="reduction", flops=float(s * e), reads=s * e, writes=rows * 2),
        Op(name="moe.dispatch", kind="other", flops=0.0, reads=rows * h, writes=rows * h, expert=True),
        ops.linear("moe.expert_gate_up", per_expert, h, 2 * ffn, bias=False, tp="column", expert=True,
                   groups=e),
        ops.elementwise("moe.expert_swiglu", rows * ffn, inputs=2, flops_per=2 * ops.ELEMENTWISE_FLOPS,
                        saved=2 * rows * ffn, tp="split", expert=True),
        ops.linear("moe.expert_down", per_expert, ffn, h, bias=False, tp="row", expert=True, groups=e),
        # combine: scale by the gate weight, then add back into the token rows
        ops.elementwise("moe.combine", rows * h, inputs=2, flops_per=2 * ops.ELEMENTWISE_FLOPS, saved=rows),
    ]


def build_transformer(cfg: dict, name: str, family: str) -> Model:
    """GPT (LayerNorm, GELU, learned positions), Llama (RMSNorm, SwiGLU, RoPE, GQA) or MoE."""
    h, a, kv, d, ffn = _check(cfg)
    s, layers, vocab = cfg["seq_len"], cfg["layers"], cfg["vocab"]
    llama_style = family in ("llama", "moe")
    bias = bool(cfg.get("bias", not llama_style))
    p_drop = float(cfg.get("dropout", 0.0))
    norm_params = h if llama_style else 2 * h  # RMSNorm: scale only; LayerNorm: scale + shift

    def norm(n: str) -> Op:
        return ops.norm(n, s * h, h, affine_params=norm_params, seq=True)

    def dropout(n: str) -> list[Op]:
        if p_drop <= 0:
            return []
        return [ops.elementwise(n, s * h, saved=ops.DROPOUT_MASK_ELEMENTS * s * h, seq=True)]

    emb = [ops.embedding("embed.tokens", s, h, vocab)]
    if not llama_style:  # learned absolute positions, one per position of the sequence
        emb.append(ops.elementwise("embed.positions", s * h, inputs=2, params=s * h, seq=True))
    emb += dropout("embed.dropout")

    layer = [norm("ln1"), *_attention_ops(cfg, s, h, a, kv, d, llama_style, bias)]
    layer += dropout("attn.dropout")
    layer.append(ops.elementwise("attn.residual", s * h, inputs=2, seq=True))
    layer.append(norm("ln2"))
    if family == "moe":
        layer += _moe_ops(cfg, s, h, ffn)
    else:
        layer += _mlp_ops(cfg, s, h, ffn, gated=llama_style, bias=bias)
    layer += dropout("mlp.dropout")
    layer.append(ops.elementwise("mlp.residual", s * h, inputs=2, seq=True))

    tied = bool(cfg.get("tied", not llama_style))
    head = [
        norm("final_norm"),
        # Megatron: column-parallel output layer + vocab-parallel cross-entropy
        ops.linear("output", s, h, vocab, bias=False, tp="column", weights=not tied),
        ops.softmax("loss", s * vocab, tp="split"),
    ]
    return Model(
        name=name,
        blocks=(Block("embedding", tuple(emb)), Block("layers", tuple(layer), count=layers, layer=True),
                Block("head", tuple(head))),
        family="moe" if family == "moe" else "transformer",
        seq_len=s, hidden=h, heads=a, kv_heads=kv, layers=layers,
        experts=cfg.get("experts") if family == "moe" else None,
        top_k=cfg.get("top_k") if family == "moe" else None,
        input_bytes_per_sample=float(s * TOKEN_ID_BYTES),
        sample_unit="sequence",
        config=dict(cfg, kv_heads=kv, ffn=ffn),
    )


GPT_DEFAULTS = {  # GPT-2 small (124M)
    "layers": 12, "hidden": 768, "heads": 12, "kv_heads": None, "ffn": None, "vocab": 50257,
    "seq_len": 1024, "dropout": 0.1, "tied": True, "bias": True,
}
LLAMA_DEFAULTS = {  # Llama-3 8B
    "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 8, "ffn": 14336, "vocab": 128256,
    "seq_len": 8192, "tied": False, "bias": False, "rope_theta": 500000.0,
}
MOE_DEFAULTS = {  # Mixtral 8x7B
    "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 8, "ffn": 14336, "vocab": 32000,
    "seq_len": 4096, "tied": False, "bias": False, "rope_theta": 1000000.0,
    "experts": 8, "top_k": 2, "capacity_factor": 1.0,
}
