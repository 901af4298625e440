"""Analytic Vision Transformer (Dosovitskiy et al. 2021): patch embedding, class token, learned
positions, pre-LayerNorm encoder layers (bidirectional attention), classifier on the class token.

The encoder layer uses the transformer conventions of `transformer.py` (tensor-parallel hints,
Korthikanti activation terms, fused attention); one sample is one image of (image/patch)^2 + 1
tokens.
"""
from __future__ import annotations

from ...errors import SpecError
from ..graph import Block, Model, Op
from .. import ops
from .cnn import IMAGE_BYTES_PER_PIXEL
from .transformer import _attention_ops, _check, _mlp_ops


def tokens(cfg: dict) -> int:
    size, p = cfg["image_size"], cfg["patch"]
    if size % p:
        raise SpecError("image_size", f"image_size {size} is not a multiple of patch {p}")
    return (size // p) ** 2 + 1


def build_vit(cfg: dict, name: str) -> Model:
    h, a, kv, d, ffn = _check(cfg)
    s, p, size = tokens(cfg), cfg["patch"], cfg["image_size"]
    patch, _ = ops.conv("embed.patch", 3, h, p, p, (size, size), bias=True, padding=0)
    emb = (
        patch,
        Op(name="embed.cls", kind="other", flops=0.0, reads=(s - 1) * h + h, writes=s * h, params=h),
        ops.elementwise("embed.positions", s * h, inputs=2, params=s * h, seq=True),
    )

    def norm(n: str) -> Op:
        return ops.norm(n, s * h, h, seq=True)

    layer = [norm("ln1"), *_attention_ops(cfg, s, h, a, kv, d, False, True),
             ops.elementwise("attn.residual", s * h, inputs=2, seq=True), norm("ln2"),
             *_mlp_ops(cfg, s, h, ffn, gated=False, bias=True),
             ops.elementwise("mlp.residual", s * h, inputs=2, seq=True)]
    head = (norm("final_norm"), ops.linear("head", 1, h, cfg["classes"], bias=True))
    return Model(
        name=name,
        blocks=(Block("embedding", emb), Block("layers", tuple(layer), count=cfg["layers"], layer=True),
                Block("head", head)),
        family="vit", seq_len=s, hidden=h, heads=a, kv_heads=kv, layers=cfg["layers"],
        input_bytes_per_sample=float(IMAGE_BYTES_PER_PIXEL * size * size), sample_unit="image",
        config=dict(cfg, kv_heads=kv, ffn=ffn),
    )


VIT_DEFAULTS = {"layers": 12, "hidden": 768, "heads": 12, "kv_heads": None, "ffn": 3072, "image_size": 224,
                "patch": 16, "classes": 1000}


def register(family, preset) -> None:
    family("vit", "vit", "Vision Transformer: patch embedding, class token, pre-LN encoder", VIT_DEFAULTS,
           build_vit, "nn_vit:vit", {k: k for k in ("layers", "hidden", "heads", "kv_heads", "ffn", "image_size")})
    preset("vit-b16", "vit", {}, "ViT-B/16 at 224^2", "Dosovitskiy et al. 2021, Table 1 (86M); timm vit_base_patch16_224")
    preset("vit-l16", "vit", {"layers": 24, "hidden": 1024, "heads": 16, "ffn": 4096}, "ViT-L/16 at 224^2",
           "Dosovitskiy et al. 2021, Table 1 (307M)")
