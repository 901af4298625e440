"""The Vision Transformer as a torch module (same configuration as `vit.py`)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._torch_common import Factory
from .nn_cnn import _images
from .nn_transformer import MLP
from .transformer import _check
from .vit import tokens


class EncoderLayer(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        h, a, _, d, ffn = _check(cfg)
        self.a, self.d = a, d
        self.ln1, self.ln2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.qkv = nn.Linear(h, 3 * h)
        self.proj = nn.Linear(h, h)
        self.mlp = MLP(h, ffn, gated=False, bias=True)

    def forward(self, x):
        b, s, h = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, s, 3, self.a, self.d).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(o.transpose(1, 2).reshape(b, s, h))
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        h, p = cfg["hidden"], cfg["patch"]
        self.patch = nn.Conv2d(3, h, p, p)
        self.cls = nn.Parameter(torch.zeros(1, 1, h))
        self.pos = nn.Parameter(torch.zeros(1, tokens(cfg), h))
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg["layers"]))
        self.norm = nn.LayerNorm(h)
        self.head = nn.Linear(h, cfg["classes"])

    def forward(self, images):
        x = self.patch(images).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls.expand(x.shape[0], 1, x.shape[2]), x), dim=1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x)[:, 0])


def vit(cfg: dict) -> Factory:
    if cfg.get("kv_heads") not in (None, cfg["heads"]):
        from ...errors import SpecError
        raise SpecError("kv_heads", "the ViT module has multi-head attention only (kv_heads = heads)")
    return Factory(lambda: ViT(cfg), _images(cfg))
