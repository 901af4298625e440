"""The FSD and occupancy networks as torch modules (same configuration as `fsd.py`).

Input: one tensor ``clips`` of shape (batch, frames, cameras, in_channels, height, width).
Output: a dict of task name -> tensor (fsd: one BEV map per HydraNet head; occupancy:
``occupancy`` (1 channel) and ``flow`` (3 channels) per voxel). `FSDNet.loss` turns the outputs
into a scalar for quick training experiments (mean squared output; no labels needed).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._torch_common import Factory
from .fsd import backbone_stages, task_names
from .nn_cnn import RegNetTrunk, cbr
from .nn_transformer import MLP


def Backbone(cfg: dict) -> nn.Module:
    """The per-camera RegNetY trunk, with the FSD config's stage widths."""
    return RegNetTrunk(cfg, cfg["in_channels"], backbone_stages(cfg))


class SepConv(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 + BN + ReLU."""

    def __init__(self, c: int):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(self.bn(self.pw(self.dw(x))))


class BiFPNLayer(nn.Module):
    """Top-down then bottom-up fusion; the bottom-up path stops at level ``top``."""

    def __init__(self, c: int, levels: int, top: int):
        super().__init__()
        self.top = top
        self.td = nn.ModuleList(SepConv(c) for _ in range(levels - 1))
        self.bu = nn.ModuleList(SepConv(c) for _ in range(top))

    def forward(self, feats: list) -> list:
        n = len(feats)
        td = list(feats)
        for i in range(n - 2, -1, -1):
            td[i] = self.td[i](feats[i] + F.interpolate(td[i + 1], size=feats[i].shape[-2:], mode="nearest"))
        out = [td[0]]
        for i in range(1, self.top + 1):
            down = F.max_pool2d(out[i - 1], 3, 2, 1)
            x = feats[i] + down if i == n - 1 else feats[i] + td[i] + down
            out.append(self.bu[i - 1](x))
        return out


class BiFPN(nn.Module):
    def __init__(self, cfg: dict, widths: list):
        super().__init__()
        c, levels = cfg["bifpn_channels"], cfg["fpn_levels"]
        self.levels = levels
        self.lateral = nn.ModuleList(cbr(w, c, 1, relu=False) for w in widths[-levels:])
        n = cfg["bifpn_repeats"]
        # every pass but the last computes all levels; the last stops at the one the lifting reads
        self.layers = nn.ModuleList(BiFPNLayer(c, levels, levels - 1 if i < n - 1 else cfg["bev_level"])
                                    for i in range(n))

    def forward(self, feats: list) -> list:
        x = [lat(f) for lat, f in zip(self.lateral, feats[-self.levels:])]
        for layer in self.layers:
            x = layer(x)
        return x


class CrossAttention(nn.Module):
    """Grid queries attend to all cameras' features (pre-LN, then an MLP)."""

    def __init__(self, d: int, c_keys: int, heads: int, ffn: int):
        super().__init__()
        self.h, self.d = heads, d
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(c_keys, 2 * d)
        self.proj = nn.Linear(d, d)
        self.mlp = MLP(d, ffn, gated=False, bias=True)

    def forward(self, x, keys):
        b, nq, d = x.shape
        q = self.q(self.ln1(x)).view(b, nq, self.h, d // self.h).transpose(1, 2)
        k, v = self.kv(keys).view(b, keys.shape[1], 2, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(o.transpose(1, 2).reshape(b, nq, d))
        return x + self.mlp(self.ln2(x))


class ConvGRU(nn.Module):
    def __init__(self, c: int, dims: int):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.gates = conv(2 * c, 2 * c, 3, padding=1)
        self.candidate = conv(2 * c, c, 3, padding=1)

    def forward(self, x, h):
        z, r = torch.sigmoid(self.gates(torch.cat((x, h), 1))).chunk(2, 1)
        c = torch.tanh(self.candidate(torch.cat((x, r * h), 1)))
        return h + z * (c - h)


class Head(nn.Module):
    def __init__(self, c: int, hidden: int, out: int):
        super().__init__()
        self.conv = nn.Conv2d(c, hidden, 3, padding=1)
        self.out = nn.Conv2d(hidden, out, 1)

    def forward(self, x):
        return self.out(F.relu(self.conv(x)))


class FSDNet(nn.Module):
    """Backbone + BiFPN per image, cross-attention lifting per frame, conv-GRU over frames, heads."""

    def __init__(self, cfg: dict, occupancy: bool):
        super().__init__()
        self.cfg, self.occupancy = cfg, occupancy
        self.backbone = Backbone(cfg)
        self.bifpn = BiFPN(cfg, self.backbone.widths)
        sizes = level_sizes(cfg)
        self.keys = cfg["cameras"] * math.prod(sizes[cfg["bev_level"]])
        d, fc = cfg["d_model"], cfg["bifpn_channels"]
        self.grid = (cfg["occ_z"], cfg["occ_y"], cfg["occ_x"]) if occupancy else (cfg["bev_h"], cfg["bev_w"])
        self.camera_pos = nn.Parameter(torch.zeros(self.keys, fc))
        self.queries = nn.Parameter(torch.zeros(math.prod(self.grid), d))
        nn.init.normal_(self.queries, std=0.02)
        self.lift = nn.ModuleList(CrossAttention(d, fc, cfg["heads"], cfg["ffn"]) for _ in range(cfg["lift_layers"]))
        self.video = ConvGRU(d, len(self.grid))
        if occupancy:
            ups, c = [], d
            for _ in range(cfg["occ_upsample"]):
                ups += [nn.ConvTranspose3d(c, c // 2, 2, 2), nn.ReLU()]
                c //= 2
            self.decoder = nn.Sequential(*ups, nn.Conv3d(c, 4, 1))
        else:
            self.names = task_names(len(cfg["head_outputs"]))
            self.heads = nn.ModuleList(Head(d, cfg["head_channels"], o) for o in cfg["head_outputs"])

    def forward(self, clips):
        b, t, cams = clips.shape[:3]
        feats = self.bifpn(self.backbone(clips.reshape(b * t * cams, *clips.shape[3:])))
        f = feats[self.cfg["bev_level"]]
        keys = f.view(b * t, cams, f.shape[1], -1).permute(0, 1, 3, 2).reshape(b * t, self.keys, f.shape[1])
        keys = keys + self.camera_pos
        x = self.queries.expand(b * t, *self.queries.shape).contiguous()
        for layer in self.lift:
            x = layer(x, keys)
        d = x.shape[-1]
        dims = len(self.grid)
        x = x.view(b, t, *self.grid, d).permute(0, 1, dims + 2, *range(2, dims + 2))  # (b, t, d, *grid)
        h = x[:, 0]
        for i in range(1, t):
            h = self.video(x[:, i], h)
        if self.occupancy:
            y = self.decoder(h)
            return {"occupancy": y[:, :1], "flow": y[:, 1:]}
        return {name: head(h) for name, head in zip(self.names, self.heads)}

    @staticmethod
    def loss(outputs: dict) -> torch.Tensor:
        """A label-free scalar for quick experiments: the mean squared output of every head."""
        return sum(o.float().pow(2).mean() for o in outputs.values())


def level_sizes(cfg: dict) -> list[tuple[int, int]]:
    """Spatial size of every BiFPN level (each backbone stage halves with a 3x3/s2 conv)."""
    h, w = cfg["image_height"], cfg["image_width"]
    sizes = []
    for _ in range(len(cfg["widths"]) + 1):
        h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        sizes.append((h, w))
    return sizes[1:][-cfg["fpn_levels"]:]


def _clips(cfg: dict):
    def inputs(batch: int, device: str) -> tuple:
        shape = (batch, cfg["frames"], cfg["cameras"], cfg["in_channels"], cfg["image_height"], cfg["image_width"])
        if device == "meta":
            return (torch.empty(shape, device="meta"),)
        return (torch.randn(shape, generator=torch.Generator().manual_seed(0)),)
    return inputs


def fsd(cfg: dict) -> Factory:
    return Factory(lambda: FSDNet(cfg, occupancy=False), _clips(cfg))


def occupancy(cfg: dict) -> Factory:
    return Factory(lambda: FSDNet(cfg, occupancy=True), _clips(cfg))
