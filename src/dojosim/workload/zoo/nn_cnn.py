"""ResNet v1.5 and RegNetY as torch modules (same configuration as `cnn.py`).

Layer names and shapes follow torchvision, so parameter counts match it exactly.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cnn import RESNET_DEPTHS, regnet_stages
from ._torch_common import Factory


def cbr(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, width: int, stride: int, expansion: int = 4):
        super().__init__()
        out = width * expansion
        self.body = nn.Sequential(cbr(c_in, width, 1), cbr(width, width, 3, stride), cbr(width, out, 1, relu=False))
        self.down = cbr(c_in, out, 1, stride, relu=False) if stride != 1 or c_in != out else None

    def forward(self, x):
        y = self.body(x)
        return F.relu(y + (self.down(x) if self.down is not None else x))


class SE(nn.Module):
    def __init__(self, width: int, se: int):
        super().__init__()
        self.fc1 = nn.Conv2d(width, se, 1)
        self.fc2 = nn.Conv2d(se, width, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class YBlock(nn.Module):
    """RegNetY block: 1x1, grouped 3x3, squeeze-excitation, 1x1, residual."""

    def __init__(self, c_in: int, width: int, stride: int, group_width: int, se_ratio: float):
        super().__init__()
        self.a = cbr(c_in, width, 1)
        self.b = cbr(width, width, 3, stride, groups=width // group_width)
        self.se = SE(width, int(round(se_ratio * c_in))) if se_ratio > 0 else nn.Identity()
        self.c = cbr(width, width, 1, relu=False)
        self.proj = cbr(c_in, width, 1, stride, relu=False) if stride != 1 or c_in != width else None

    def forward(self, x):
        y = self.c(self.se(self.b(self.a(x))))
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


class Classifier(nn.Module):
    def __init__(self, c: int, classes: int):
        super().__init__()
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


class ResNet(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        w = cfg["width"]
        self.stem = nn.Sequential(cbr(3, w, 7, 2), nn.MaxPool2d(3, 2, 1))
        stages, c = [], w
        for i, n in enumerate(RESNET_DEPTHS[cfg["depth"]]):
            blocks = []
            for j in range(n):
                blocks.append(Bottleneck(c, w * 2 ** i, (1 if i == 0 else 2) if j == 0 else 1))
                c = w * 2 ** i * 4
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.head = Classifier(c, cfg["classes"])

    def forward(self, x):
        x = self.stem(x)
        for s in self.stages:
            x = s(x)
        return self.head(x)


class RegNetTrunk(nn.Module):
    """Stem + RegNetY stages; returns the features after every stage."""

    def __init__(self, cfg: dict, in_channels: int = 3, widths=None):
        """``widths``: (width, depth, group width) per stage; RegNet's rule from ``cfg`` by default."""
        super().__init__()
        self.stem = cbr(in_channels, cfg["stem_width"], 3, 2)
        c, stages, self.widths = cfg["stem_width"], [], []
        if widths is None:
            widths = regnet_stages(cfg["w0"], cfg["wa"], cfg["wm"], cfg["depth"], cfg["group_width"])
        for w, d, g in widths:
            stages.append(nn.Sequential(*(YBlock(c if j == 0 else w, w, 2 if j == 0 else 1, g, cfg["se_ratio"])
                                          for j in range(d))))
            c = w
            self.widths.append(w)
        self.stages = nn.ModuleList(stages)

    def forward(self, x) -> list:
        x = self.stem(x)
        feats = []
        for s in self.stages:
            x = s(x)
            feats.append(x)
        return feats


class RegNet(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.trunk = RegNetTrunk(cfg)
        self.head = Classifier(self.trunk.widths[-1], cfg["classes"])

    def forward(self, x):
        return self.head(self.trunk(x)[-1])


def _images(cfg: dict):
    def inputs(batch: int, device: str) -> tuple:
        shape = (batch, 3, cfg["image_size"], cfg["image_size"])
        if device == "meta":
            return (torch.empty(shape, device="meta"),)
        return (torch.randn(shape, generator=torch.Generator().manual_seed(0)),)
    return inputs


def resnet(cfg: dict) -> Factory:
    return Factory(lambda: ResNet(cfg), _images(cfg))


def regnet(cfg: dict) -> Factory:
    return Factory(lambda: RegNet(cfg), _images(cfg))
