"""Small trainable networks for the precision experiment (CPU-sized, seconds per hundred steps).

* `FsdMini`: the shape of Tesla's FSD vision network in miniature -- a shared RegNet-style
  convolutional backbone per camera, image features turned into tokens with a learned
  per-camera/per-position embedding, learned BEV queries that cross-attend to all cameras' tokens
  (the camera-to-BEV "lifting" transformer), an MLP, and a small convolutional BEV head giving one
  occupancy logit per cell. It is written with nn.Linear / nn.Conv2d and
  F.scaled_dot_product_attention so that every matmul is visible to `emulate`.
* `ResNetMini`: a three-stage ResNet of basic blocks (He et al. 2016) for the shapes task.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .tasks import SHAPES, SceneSpec


def _conv_bn(cin, cout, k=3, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout))


class XBlock(nn.Module):
    """RegNet's X block: 1x1, grouped 3x3 (carrying the stride), 1x1, with a residual."""

    def __init__(self, cin, cout, stride=1, group_width=8):
        super().__init__()
        self.a = _conv_bn(cin, cout, 1)
        self.b = _conv_bn(cout, cout, 3, stride, groups=cout // group_width)
        self.c = _conv_bn(cout, cout, 1)
        self.skip = _conv_bn(cin, cout, 1, stride) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        y = self.c(F.relu(self.b(F.relu(self.a(x)))))
        return F.relu(y + self.skip(x))


HARMONICS = 4  # angle features cos(k a), sin(k a), k = 1..4: a dot product of two is a sharp kernel in the angle difference


def _angle_features(angle: torch.Tensor) -> list[torch.Tensor]:
    k = torch.arange(1, HARMONICS + 1, dtype=torch.float32)
    return [torch.cos(angle[:, None] * k), torch.sin(angle[:, None] * k)]


def _token_geometry(spec: SceneSpec, rows: int, cols: int) -> torch.Tensor:
    """Per image token (camera, row, column): its ray's azimuth harmonics and elevation. Real BEV
    networks embed the cameras' ray geometry the same way (e.g. PETR's 3D position embedding)."""
    cam, row, col = torch.meshgrid(torch.arange(spec.cameras), torch.arange(rows), torch.arange(cols),
                                   indexing="ij")
    az = cam * (2 * math.pi / spec.cameras) + ((col + 0.5) / cols - 0.5) * spec.hfov
    el = (rows / 2 - (row + 0.5)) * (spec.vfov / rows)
    return torch.cat(_angle_features(az.flatten().float()) + [el.flatten().float()[:, None]], dim=1)


def _cell_geometry(spec: SceneSpec) -> torch.Tensor:
    """Per BEV cell: its azimuth harmonics and its range (normalised), seen from the ego vehicle."""
    cell = (torch.arange(spec.grid) + 0.5) / spec.grid * 2 - 1
    y, x = torch.meshgrid(cell, cell, indexing="ij")
    r = torch.sqrt(x ** 2 + y ** 2).flatten()
    return torch.cat(_angle_features(torch.atan2(y, x).flatten()) + [r[:, None], r[:, None] ** 2], dim=1)


class FsdMini(nn.Module):
    """Multi-camera images [B, cams, 3, H, W] -> BEV occupancy logits [B, grid, grid]."""

    def __init__(self, spec: SceneSpec = SceneSpec(), dim: int = 32, heads: int = 4):
        super().__init__()
        self.spec, self.dim, self.heads = spec, dim, heads
        self.backbone = nn.Sequential(_conv_bn(3, 8, 3, 2), nn.ReLU(), XBlock(8, 16, 2), XBlock(16, dim, 2))
        self.register_buffer("token_geometry", _token_geometry(spec, spec.height // 8, spec.width // 8))
        self.register_buffer("cell_geometry", _cell_geometry(spec))
        self.token_pos = nn.Linear(self.token_geometry.shape[1], dim)
        self.cell_pos = nn.Linear(self.cell_geometry.shape[1], dim)
        self.query = nn.Parameter(torch.randn(spec.grid * spec.grid, dim) * 0.02)
        self.norm_kv = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU(), nn.Conv2d(dim, 1, 1))

    def forward(self, images):
        b, c = images.shape[:2]
        f = self.backbone(images.flatten(0, 1))  # [B*C, D, h, w]
        f = f.view(b, c, self.dim, -1).permute(0, 1, 3, 2).reshape(b, -1, self.dim)
        k, v = self.to_kv(self.norm_kv(f) + self.token_pos(self.token_geometry)).chunk(2, dim=-1)
        query = self.query + self.cell_pos(self.cell_geometry)
        q = self.to_q(query).expand(b, -1, -1)
        split = lambda t: t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2)  # noqa: E731
        att = F.scaled_dot_product_attention(split(q), split(k), split(v))
        x = query + self.proj(att.transpose(1, 2).reshape(b, -1, self.dim))
        x = x + self.mlp(x)
        g = self.spec.grid
        return self.head(x.transpose(1, 2).reshape(b, self.dim, g, g))[:, 0]


# The zoo's fsd-mini, resized to the BEV task: 4 cameras, 1 frame, images of SceneSpec's size,
# a two-stage RegNetY backbone whose stride-8 BiFPN level (4x8 tokens per camera) feeds the lifting
# cross-attention into a 16x16 BEV grid, and one HydraNet head with one channel: the occupancy logit.
ZOO_FSD_OVERRIDES = dict(cameras=4, frames=1, image_height=32, image_width=64, stem_width=8, widths=(8, 16),
                         depths=(1, 1), fpn_levels=2, bev_level=1, bifpn_channels=16, bifpn_repeats=1,
                         d_model=32, heads=4, ffn=64, lift_layers=1, bev_h=16, bev_w=16, head_outputs=(1,),
                         head_channels=16)
GEOMETRY_INIT_SCALE = 0.5  # std of the random projection of ray geometry into the learned embeddings


class ZooFsd(nn.Module):
    """``dojosim.workload.torch_module("fsd-mini", **ZOO_FSD_OVERRIDES)`` on the BEV task.

    The zoo network's per-camera positional embedding and BEV queries are learned parameters that
    start at zero / noise. Here they start as a random linear projection of the same ray and cell
    geometry that `FsdMini` feeds in (training then changes them freely): without it the network
    has to discover which image column looks at which BEV cell from scratch, and in a few hundred
    CPU steps it barely starts to (held-out IoU 0.28 vs 0.49 after 300 FP32 steps, in a trial with
    an earlier, wider configuration).
    """

    def __init__(self, spec: SceneSpec = SceneSpec()):
        super().__init__()
        from ..workload import torch_module

        if (spec.cameras, spec.height, spec.width, spec.grid) != (4, 32, 64, 16):
            raise ValueError("ZooFsd is sized for the default SceneSpec")
        self.net = torch_module("fsd-mini", **ZOO_FSD_OVERRIDES)
        tokens = _token_geometry(spec, spec.height // 8, spec.width // 8)
        cells = _cell_geometry(spec)
        with torch.no_grad():
            self.net.camera_pos.copy_(tokens @ torch.randn(tokens.shape[1], self.net.camera_pos.shape[1])
                                      * GEOMETRY_INIT_SCALE)
            self.net.queries.copy_(cells @ torch.randn(cells.shape[1], self.net.queries.shape[1])
                                   * GEOMETRY_INIT_SCALE)

    def forward(self, images):
        return self.net(images[:, None])["objects"][:, 0]  # add the frames axis; one head, one channel


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.a = _conv_bn(cin, cout, 3, stride)
        self.b = _conv_bn(cout, cout, 3)
        self.skip = _conv_bn(cin, cout, 1, stride) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        return F.relu(self.b(F.relu(self.a(x))) + self.skip(x))


class ResNetMini(nn.Module):
    """Images [B, 3, S, S] -> class logits [B, 4]."""

    def __init__(self, widths=(8, 16, 32), classes: int = len(SHAPES)):
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(3, widths[0]), nn.ReLU())
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(BasicBlock(cin, w, 1 if i == 0 else 2))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))
