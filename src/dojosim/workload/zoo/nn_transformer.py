"""The zoo's transformers as real torch modules (imported only when torch is wanted).

Same configuration dicts as the analytic builders in `transformer.py`; the modules are written
so that the tracer sees the same ops: one fused QKV linear, fused attention
(``F.scaled_dot_product_attention``), fused gate/up linear for SwiGLU. ``forward(tokens,
targets)`` returns the mean cross-entropy loss. Build large presets under
``with torch.device("meta"):`` to trace them without allocating their weights.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .transformer import _check
from ._torch_common import Factory


def _rope_tables(s: int, d: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sign-folded sin tables so that rope(x) = x*cos + cat(x2, x1)*sin (3 FLOPs/element)."""
    half = d // 2
    inv = 1.0 / (theta ** (torch.arange(half, dtype=torch.float32) * 2 / d))
    ang = torch.arange(s, dtype=torch.float32)[:, None] * inv[None, :]
    cos = torch.cat((ang.cos(), ang.cos()), -1)
    sin = torch.cat((-ang.sin(), ang.sin()), -1)
    return cos, sin


class Attention(nn.Module):
    def __init__(self, cfg: dict, rope: bool, bias: bool):
        super().__init__()
        h, a, kv, d, _ = _check(cfg)
        self.a, self.kv, self.d = a, kv, d
        self.qkv = nn.Linear(h, (a + 2 * kv) * d, bias=bias)
        self.proj = nn.Linear(a * d, h, bias=bias)
        self.rope = rope
        if rope:
            cos, sin = _rope_tables(cfg["seq_len"], d, float(cfg.get("rope_theta", 10000.0)))
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)

    def _rotate(self, x: torch.Tensor, s: int) -> torch.Tensor:
        half = self.d // 2
        return x * self.cos[:s] + torch.cat((x[..., half:], x[..., :half]), -1) * self.sin[:s]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q, k, v = self.qkv(x).view(b, s, self.a + 2 * self.kv, self.d).split([self.a, self.kv, self.kv], dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if self.rope:
            q, k = self._rotate(q, s), self._rotate(k, s)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kv != self.a)
        return self.proj(o.transpose(1, 2).reshape(b, s, self.a * self.d))


class MLP(nn.Module):
    def __init__(self, h: int, ffn: int, gated: bool, bias: bool):
        super().__init__()
        self.gated = gated
        self.up = nn.Linear(h, 2 * ffn if gated else ffn, bias=bias)
        self.down = nn.Linear(ffn, h, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            g, u = self.up(x).chunk(2, dim=-1)
            return self.down(F.silu(g) * u)
        return self.down(F.gelu(self.up(x)))


class MoE(nn.Module):
    """Routed SwiGLU experts with a fixed capacity per expert.

    Routing is expert-choice over the capacity buffer (each expert takes its ``capacity =
    capacity_factor * tokens * top_k / experts`` best tokens): it runs on meta tensors (no
    data-dependent shapes) and costs what top-k token-choice routing with that capacity factor
    costs, since GShard/Switch-style kernels compute the whole capacity buffer.
    """

    def __init__(self, cfg: dict, h: int, ffn: int):
        super().__init__()
        e = cfg["experts"]
        self.e, self.k, self.cf = e, cfg["top_k"], cfg["capacity_factor"]
        self.router = nn.Linear(h, e, bias=False)
        self.w_gate_up = nn.Parameter(torch.empty(e, h, 2 * ffn))
        self.w_down = nn.Parameter(torch.empty(e, ffn, h))
        for w in (self.w_gate_up, self.w_down):
            nn.init.normal_(w, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        flat = x.reshape(b * s, h)
        probs = F.softmax(self.router(flat), dim=-1)
        capacity = max(1, int(self.cf * b * s * self.k / self.e))
        gate, idx = probs.t().topk(capacity, dim=-1)                 # (E, C)
        xe = flat[idx]                                                # dispatch: (E, C, h)
        g, u = torch.bmm(xe, self.w_gate_up).chunk(2, dim=-1)
        y = torch.bmm(F.silu(g) * u, self.w_down) * gate.unsqueeze(-1)
        out = torch.zeros_like(flat).index_add(0, idx.flatten(), y.flatten(0, 1))  # combine
        return out.view(b, s, h)


class Layer(nn.Module):
    def __init__(self, cfg: dict, family: str):
        super().__init__()
        h, _, _, _, ffn = _check(cfg)
        llama = family in ("llama", "moe")
        bias = bool(cfg.get("bias", not llama))
        norm = (lambda: nn.RMSNorm(h, eps=1e-5)) if llama else (lambda: nn.LayerNorm(h))
        self.ln1, self.ln2 = norm(), norm()
        self.attn = Attention(cfg, rope=llama, bias=bias)
        self.mlp = MoE(cfg, h, ffn) if family == "moe" else MLP(h, ffn, gated=llama, bias=bias)
        self.drop = nn.Dropout(float(cfg.get("dropout", 0.0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.mlp(self.ln2(x)))


class Decoder(nn.Module):
    """Embedding -> layers -> final norm -> logits -> cross-entropy."""

    def __init__(self, cfg: dict, family: str):
        super().__init__()
        h = cfg["hidden"]
        llama = family in ("llama", "moe")
        self.vocab = cfg["vocab"]
        self.embed = nn.Embedding(cfg["vocab"], h)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.pos = None if llama else nn.Parameter(torch.zeros(cfg["seq_len"], h))
        self.drop = nn.Dropout(float(cfg.get("dropout", 0.0)))
        self.layers = nn.ModuleList(Layer(cfg, family) for _ in range(cfg["layers"]))
        self.norm = nn.RMSNorm(h, eps=1e-5) if llama else nn.LayerNorm(h)
        self.tied = bool(cfg.get("tied", not llama))
        self.output = None if self.tied else nn.Linear(h, cfg["vocab"], bias=False)

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        if self.pos is not None:
            x = x + self.pos[: tokens.shape[1]]
        x = self.drop(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        logits = F.linear(x, self.embed.weight) if self.tied else self.output(x)
        return F.cross_entropy(logits.reshape(-1, self.vocab), targets.reshape(-1))


def _factory(family: str):
    def make(cfg: dict) -> Factory:
        def inputs(batch: int, device: str) -> tuple:
            shape = (batch, cfg["seq_len"])
            if device == "meta":
                return (torch.empty(shape, dtype=torch.long, device="meta"),) * 2
            g = torch.Generator().manual_seed(0)
            return tuple(torch.randint(0, cfg["vocab"], shape, generator=g) for _ in range(2))
        return Factory(lambda: Decoder(cfg, family), inputs)
    return make


gpt = _factory("gpt")
llama = _factory("llama")
moe = _factory("moe")
